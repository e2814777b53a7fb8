"""Held-out tasks on the builtin data, scored the way the post-training stages train.

- ``builtin_math``: the held-out `builtin:math` problems as a user turn (no tools listed), the model's greedy reply
  (up to 48 tokens, stopping at the end of its turn). ``accuracy``: the reply's final answer equals the gold answer
  (`hfchat.rewards.is_correct`, the GRPO reward); ``ends_turn``: the reply ended with ``<|im_end|>``; ``format``:
  it ended its turn with "The answer is N." (the `format` reward).
- ``builtin_tools``: the held-out `builtin:chat` conversations up to the first user turn that the assistant answers
  with a calculator call, the calculator listed as a tool (those that fit the context with 64 tokens to spare); the
  model's greedy reply (up to 64 tokens).
  ``calls_tool``: the reply holds a well-formed ``<tool_call>`` (`hfchat.tokenizer.parse_tool_calls`);
  ``call_accuracy``: it calls ``calculator`` with the reference expression (spaces ignored).
- ``builtin_preference``: the held-out `builtin:preference` pairs. ``win_rate``: the fraction of pairs where the
  model gives the chosen reply a higher total log-probability than the rejected one (reply tokens and the
  closing ``<|im_end|>``, after the chat prompt), the quantity DPO trains.

Each task returns its details, one dict per item (prompt, target, prediction, score, ...); its ``*_metrics``
function turns them into the metric values.
"""

import torch

from ..chat_encoding import encode_chat
from ..data.builtin import CALCULATOR_TOOL, builtin_dataset
from ..rewards import completion_text, is_correct
from ..rewards import format as format_reward
from ..tokenizer import end_of_turn, end_of_turn_ids, parse_tool_calls
from .language_modeling import scored_logprobs
from .scoring import means, shard_of

MATH_MAX_NEW_TOKENS = 48
TOOLS_MAX_NEW_TOKENS = 64


def chat_prompts(tokenizer, conversations: list[list[dict]], tools: list[dict] | None = None) -> list[list[int]]:
    """The token ids of each conversation ending with the assistant's generation prompt, the conversation's own
    text never turned into control tokens (`hfchat.chat_encoding`)."""
    return [encode_chat(tokenizer, c, tools=tools, add_generation_prompt=True) for c in conversations]


def generate_greedy(model, tokenizer, prompts: list[list[int]], max_new_tokens: int, batch_size: int,
                    skip_special_tokens: bool = True) -> list[tuple[str, bool]]:
    """(reply, ended its turn) for each prompt's token ids, greedy (see `generate_replies`)."""
    return [replies[0] for replies in generate_replies(model, tokenizer, prompts, max_new_tokens, batch_size,
                                                       skip_special_tokens=skip_special_tokens)]


@torch.inference_mode()
def generate_replies(model, tokenizer, prompts: list[list[int]], max_new_tokens: int, batch_size: int,
                     skip_special_tokens: bool = True, samples: int = 1, temperature: float = 0.0,
                     seed: int = 0) -> list[list[tuple[str, bool]]]:
    """``samples`` (reply, ended its turn) pairs for each prompt's token ids (`chat_prompts`): greedy when
    ``temperature`` is 0, else sampled at that temperature (seeded: the same prompts, batch size and seed give the
    same replies). Batched with
    left padding, prompts of similar length together, ``batch_size`` rows (prompts x samples) per batch. Replies
    are cut to fit the model's context; a prompt that fills it alone gets empty replies."""
    if samples < 1 or (samples > 1 and temperature <= 0):
        raise ValueError(f"samples={samples} with temperature={temperature}: several samples need a temperature > 0")
    turn_end, stops = tokenizer.convert_tokens_to_ids(end_of_turn(tokenizer)), end_of_turn_ids(tokenizer, model)
    context = int(getattr(model.config, "max_position_embeddings", 0) or 1 << 30)
    encoded = prompts
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    replies: list[list[tuple[str, bool]]] = [[("", False)] * samples for _ in prompts]
    fitting = [i for i in order if len(encoded[i]) < context]
    pad, prompts_per_batch = tokenizer.pad_token_id, max(1, batch_size // samples)
    sampling = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0} if temperature > 0 \
        else {"do_sample": False}
    for start in range(0, len(fitting), prompts_per_batch):
        rows = fitting[start:start + prompts_per_batch]
        width = max(len(encoded[i]) for i in rows)
        input_ids = torch.tensor([[pad] * (width - len(encoded[i])) + encoded[i] for i in rows], device=model.device)
        mask = torch.tensor([[0] * (width - len(encoded[i])) + [1] * len(encoded[i]) for i in rows],
                            device=model.device)
        if temperature > 0:
            torch.manual_seed(seed + start)
        output = model.generate(input_ids=input_ids, attention_mask=mask, num_return_sequences=samples,
                                max_new_tokens=min(max_new_tokens, context - width), eos_token_id=stops,
                                pad_token_id=pad, **sampling)
        generated = output[:, width:].tolist()
        for number, index in enumerate(rows):
            replies[index] = [_reply(tokenizer, row, turn_end, stops, skip_special_tokens)
                              for row in generated[number * samples:(number + 1) * samples]]
    return replies


def _reply(tokenizer, tokens: list[int], end_of_turn: int, stops: list[int],
           skip_special_tokens: bool) -> tuple[str, bool]:
    cut = next((i for i, token in enumerate(tokens) if token in stops), len(tokens))
    return tokenizer.decode(tokens[:cut], skip_special_tokens=skip_special_tokens), end_of_turn in tokens


def builtin_math(model, tokenizer, limit: int | None = None, batch_size: int = 64,
                 shard: tuple[int, int] | None = None) -> list[dict]:
    rows = builtin_dataset("math", "test")
    rows = shard_of(rows.select(range(min(limit, len(rows)))) if limit else rows, shard)
    prompts = chat_prompts(tokenizer, [row["prompt"] for row in rows])
    replies = generate_greedy(model, tokenizer, prompts, MATH_MAX_NEW_TOKENS, batch_size)
    details = []
    for row, (reply, ended) in zip(rows, replies):
        details.append({"prompt": row["prompt"][-1]["content"], "target": row["answer"], "prediction": reply,
                        "score": float(bool(is_correct(reply, row["answer"]))), "ends_turn": float(ended),
                        "format": float(ended and format_reward([reply])[0] == 1.0)})
    return details


def builtin_math_metrics(details: list[dict]) -> dict[str, float]:
    return means(details, {"accuracy": "score", "ends_turn": "ends_turn", "format": "format"})


def builtin_tools(model, tokenizer, limit: int | None = None, batch_size: int = 64,
                  shard: tuple[int, int] | None = None) -> list[dict]:
    items = []  # (conversation so far, reference expression)
    for row in builtin_dataset("chat", "test"):
        messages = row["messages"]
        turn = next((i for i, m in enumerate(messages) if m["role"] == "assistant" and m["tool_calls"]), None)
        if turn is not None:
            expression = messages[turn]["tool_calls"][0]["function"]["arguments"]["expression"]
            items.append(([{"role": m["role"], "content": m["content"]} for m in messages[:turn]], expression))
    prompts = chat_prompts(tokenizer, [prompt for prompt, _ in items], tools=[CALCULATOR_TOOL])
    room = model.config.max_position_embeddings - TOOLS_MAX_NEW_TOKENS  # conversations too long for it are left out
    kept = [i for i, ids in enumerate(prompts) if len(ids) <= room]
    kept = kept[:limit] if limit else kept
    kept = shard_of(kept, shard)
    items, prompts = [items[i] for i in kept], [prompts[i] for i in kept]
    replies = generate_greedy(model, tokenizer, prompts, TOOLS_MAX_NEW_TOKENS, batch_size, skip_special_tokens=False)
    details = []
    for (prompt, expression), (reply, _) in zip(items, replies):
        calls = parse_tool_calls(reply)
        called = calls[0]["arguments"].get("expression") if calls and calls[0]["name"] == "calculator" else None
        correct = isinstance(called, str) and called.replace(" ", "") == expression.replace(" ", "")
        details.append({"prompt": prompt[-1]["content"], "target": expression, "prediction": reply,
                        "score": float(correct), "calls_tool": float(bool(calls))})
    return details


def builtin_tools_metrics(details: list[dict]) -> dict[str, float]:
    return means(details, {"call_accuracy": "score", "calls_tool": "calls_tool"})


def reply_logprobs(model, tokenizer, prompts: list[list[dict]], replies: list[list[dict]],
                   batch_size: int) -> list[float]:
    """Total log-probability of each reply's tokens (with its closing end of turn) after its chat prompt."""
    rows = []
    turn_end = tokenizer.convert_tokens_to_ids(end_of_turn(tokenizer))
    for prompt, reply in zip(prompts, replies):
        head = encode_chat(tokenizer, prompt, add_generation_prompt=True)
        whole = encode_chat(tokenizer, prompt + reply)
        if whole[:len(head)] != head:
            raise ValueError("the chat template renders the prompt differently inside the conversation: "
                             f"{tokenizer.decode(head)!r}")
        last_end = len(whole) - whole[::-1].index(turn_end) if turn_end in whole[len(head):] else len(whole)
        rows.append((whole[:last_end], len(head)))  # up to the reply's closing end of turn, not the newline after
    return scored_logprobs(model, rows, tokenizer.pad_token_id, batch_size)


def builtin_preference(model, tokenizer, limit: int | None = None, batch_size: int = 32,
                       shard: tuple[int, int] | None = None) -> list[dict]:
    rows = builtin_dataset("preference", "test")
    rows = shard_of(rows.select(range(min(limit, len(rows)))) if limit else rows, shard)
    prompts = [row["prompt"] for row in rows]
    chosen = reply_logprobs(model, tokenizer, prompts, [row["chosen"] for row in rows], batch_size)
    rejected = reply_logprobs(model, tokenizer, prompts, [row["rejected"] for row in rows], batch_size)
    return [{"prompt": row["prompt"][-1]["content"], "target": completion_text(row["chosen"]),
             "prediction": "chosen" if c > r else "rejected", "score": float(c > r),
             "chosen_logprob": c, "rejected_logprob": r} for row, c, r in zip(rows, chosen, rejected)]


def builtin_preference_metrics(details: list[dict]) -> dict[str, float]:
    return means(details, {"win_rate": "score"})
