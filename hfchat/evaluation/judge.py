"""LLM-as-judge: the model answers instruction-following items, a judge model behind any OpenAI-compatible endpoint
(TGI, vLLM, Ollama, `hfchat serve`) scores each answer 0-100 against the item's reference.

Items have an ``instruction``, an optional ``input`` and a reference answer (``output``, ``reference`` or
``response``); by default the first user turn and the assistant's reply of the held-out `builtin:chat`
conversations. The model replies greedily (up to 256 tokens). The judge is asked through
`huggingface_hub.InferenceClient.chat_completion` (temperature 0, then up to two retries that sample) with
`JUDGE_PROMPT`; the first integer in 0-100 in its reply is the score. ``score``: the mean over the items the judge
scored; ``unscored``: how many it did not; details hold each item's judge reply.
"""

from __future__ import annotations

import os
import re

from ..data.sources import load_source
from .builtin_tasks import chat_prompts, generate_greedy
from .scoring import shard_of

JUDGE_PROMPT = """You are grading an AI assistant's answer to an instruction.

Instruction: {instruction}
{input}Reference answer: {reference}
Assistant's answer: {prediction}

How good is the assistant's answer, compared with the reference? Reply with only an integer from 0 (wrong or \
unhelpful) to 100 (as good as the reference)."""
MAX_NEW_TOKENS = 256
ATTEMPTS = 3
_INTEGER = re.compile(r"(?<![\d.])(\d{1,3})(?![\d.])")


def judge_prompt(instruction: str, reference: str, prediction: str, input_text: str = "") -> str:
    return JUDGE_PROMPT.format(instruction=instruction, reference=reference, prediction=prediction,
                               input=f"Input: {input_text}\n" if input_text else "")


def parse_score(reply: str) -> int | None:
    """The first integer from 0 to 100 in ``reply`` ("Score: 85/100" -> 85), or None."""
    for match in _INTEGER.finditer(reply or ""):
        value = int(match.group(1))
        if 0 <= value <= 100:
            return value
    return None


def judge_items(source=None, limit: int | None = None) -> list[dict]:
    """(instruction, input, reference) dicts from a file or hub id, or the held-out builtin chat conversations."""
    if source is None:
        from ..data.builtin import builtin_dataset

        items = []
        for row in builtin_dataset("chat", "test"):
            messages = [m for m in row["messages"] if m["role"] != "system"]
            if len(messages) >= 2 and messages[0]["role"] == "user" and messages[1]["role"] == "assistant" \
                    and messages[1]["content"] and not messages[1].get("tool_calls"):
                items.append({"instruction": messages[0]["content"], "input": "", "reference": messages[1]["content"]})
        return items[:limit]
    dataset = load_source(source)
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    items = []
    for number, row in enumerate(dataset):
        reference = next((row[c] for c in ("output", "reference", "response") if row.get(c)), None)
        if not row.get("instruction") or reference is None:
            raise ValueError(f"{source}: row {number} needs an instruction and a reference answer "
                             f"(output, reference or response); it has {sorted(row)}")
        items.append({"instruction": row["instruction"], "input": row.get("input") or "", "reference": reference})
    return items


def ask_judge(client, model: str | None, prompt: str) -> tuple[int | None, str]:
    """(score, the judge's last reply), retrying when the reply holds no score."""
    reply = ""
    for attempt in range(ATTEMPTS):
        output = client.chat_completion([{"role": "user", "content": prompt}], model=model, max_tokens=16,
                                        temperature=0.0 if attempt == 0 else 0.7, seed=attempt)
        reply = output.choices[0].message.content or ""
        score = parse_score(reply)
        if score is not None:
            return score, reply
    return None, reply


def judge(model, tokenizer, limit: int | None = None, batch_size: int = 32, source=None,
          shard: tuple[int, int] | None = None, *, endpoint: str | None = None,
          judge_model: str | None = None) -> list[dict]:
    if not endpoint:
        raise ValueError("the judge task needs --judge-endpoint (an OpenAI-compatible server, e.g. hfchat serve)")
    from huggingface_hub import InferenceClient

    items = shard_of(judge_items(source, limit), shard)
    prompts = chat_prompts(tokenizer, [[{"role": "user", "content": item["instruction"] + (
        f"\n\n{item['input']}" if item["input"] else "")}] for item in items])
    replies = [reply for reply, _ in generate_greedy(model, tokenizer, prompts, MAX_NEW_TOKENS, batch_size)]
    client = InferenceClient(base_url=endpoint, api_key=os.environ.get("HFCHAT_JUDGE_API_KEY"))
    details = []
    for item, reply in zip(items, replies):
        prompt = judge_prompt(item["instruction"], item["reference"], reply, item["input"])
        score, judge_reply = ask_judge(client, judge_model, prompt)
        details.append({"prompt": item["instruction"], "target": item["reference"], "prediction": reply,
                        "judge_reply": judge_reply, "score": score})
    return details


def judge_metrics(details: list[dict]) -> dict[str, float]:
    scored = [d["score"] for d in details if d["score"] is not None]
    return {"score": sum(scored) / len(scored) if scored else float("nan"), "unscored": len(details) - len(scored)}
