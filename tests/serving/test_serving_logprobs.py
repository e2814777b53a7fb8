"""Log-probabilities through `hfchat serve` in OpenAI's and TGI's shapes, equal to `log_softmax` of the model's own
logits at those positions; then lm-eval scores a log-likelihood task through the server (its `local-completions`
model) and picks the same choices as `hfchat eval`. Hints are accepted, unsupported meaning-changing fields 422."""

import json
import os
import subprocess
import sys

import httpx
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from hfchat.chat_encoding import encode_chat
from hfchat.evaluation.lm_eval_tasks import ARC_TASK, write_arc_task
from hfchat.inference.params import MAX_TOP_LOGPROBS
from hfchat.serving.launch import running_server
from tests.helpers import HFCHAT

pytestmark = pytest.mark.slow
ATOL = 1e-4


@pytest.fixture(scope="module")
def served(tiny_model_dir):
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    with running_server(tiny_model_dir, "--max-new-tokens", "8", env=env) as url:
        yield url, AutoTokenizer.from_pretrained(tiny_model_dir), AutoModelForCausalLM.from_pretrained(tiny_model_dir)


def direct(model, ids) -> torch.Tensor:
    """log_softmax of the model's logits: row i scores token i + 1."""
    with torch.no_grad():
        return torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)


def close(a, b):
    return abs(a - b) < ATOL


def tgi_greedy(url, prompt, max_new_tokens=4):
    """(prompt ids, generated ids, the details) of a greedy `/generate` with every detail."""
    body = httpx.post(f"{url}/generate", json={"inputs": prompt, "parameters": {
        "max_new_tokens": max_new_tokens, "details": True, "decoder_input_details": True, "top_n_tokens": 2}},
        timeout=60).json()
    details = body["details"]
    return [t["id"] for t in details["prefill"]], [t["id"] for t in details["tokens"]], details


def test_completions_logprobs_with_echo(served):
    url, tokenizer, model = served
    prompt = "The quick brown fox"
    prompt_ids, generated, _ = tgi_greedy(url, prompt)  # greedy: the same tokens on every route
    reference = direct(model, prompt_ids + generated)
    body = httpx.post(f"{url}/v1/completions", json={"prompt": prompt, "max_tokens": 4, "temperature": 0,
                                                    "logprobs": 3, "echo": True}, timeout=60).json()
    logprobs = body["choices"][0]["logprobs"]
    assert body["choices"][0]["text"].startswith(prompt) and logprobs["text_offset"][len(prompt_ids)] == len(prompt)
    assert len(logprobs["tokens"]) == len(prompt_ids) + len(generated) and body["usage"]["completion_tokens"] == 4
    assert logprobs["token_logprobs"][0] is None and logprobs["top_logprobs"][0] is None
    for position, token in enumerate(prompt_ids + generated):
        if position:
            assert close(logprobs["token_logprobs"][position], float(reference[position - 1, token]))
            top = sorted(logprobs["top_logprobs"][position].values(), reverse=True)
            best = torch.topk(reference[position - 1], 3).values.tolist()
            assert close(top[0], best[0]) and all(any(close(a, b) for b in best) for a in top)  # equal texts merge
    only_prompt = httpx.post(f"{url}/v1/completions", json={"prompt": prompt_ids, "max_tokens": 0, "echo": True,
                                                            "logprobs": 0}, timeout=60).json()
    assert only_prompt["choices"][0]["text"] == prompt
    assert only_prompt["usage"]["completion_tokens"] == 0
    assert all(a is b is None or close(a, b) for a, b in zip(only_prompt["choices"][0]["logprobs"]["token_logprobs"],
                                                             logprobs["token_logprobs"][:len(prompt_ids)]))


@pytest.fixture(scope="module")
def chat_served(chat_model_dir):
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    with running_server(chat_model_dir, "--max-new-tokens", "16", env=env) as url:
        yield url, AutoTokenizer.from_pretrained(chat_model_dir), AutoModelForCausalLM.from_pretrained(chat_model_dir)


def test_chat_logprobs_streamed_and_not(chat_served):
    """The fixture's memorised greeting, scored token by token."""
    url, tokenizer, model = chat_served
    messages = [{"role": "user", "content": "Hello"}]
    request = {"messages": messages, "max_tokens": 6, "temperature": 0, "logprobs": True, "top_logprobs": 2}
    body = httpx.post(f"{url}/v1/chat/completions", json=request, timeout=60).json()
    content = body["choices"][0]["logprobs"]["content"]
    assert "".join(entry["token"] for entry in content) == body["choices"][0]["message"]["content"]
    prompt = encode_chat(tokenizer, messages, add_generation_prompt=True)
    reply = tokenizer(body["choices"][0]["message"]["content"], add_special_tokens=False)["input_ids"]
    assert len(reply) == len(content)  # the model writes its reply in the tokenizer's own segmentation
    reference = direct(model, prompt + reply)
    for offset, (entry, token) in enumerate(zip(content, reply)):
        row = reference[len(prompt) - 1 + offset]
        assert close(entry["logprob"], float(row[token]))
        assert len(entry["top_logprobs"]) == 2 and close(entry["top_logprobs"][0]["logprob"], float(row.max()))
        assert bytes(entry["bytes"]).decode("utf-8", "replace") == entry["token"]
    with httpx.stream("POST", f"{url}/v1/chat/completions", json={**request, "stream": True}, timeout=60) as stream:
        chunks = [json.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: {")]
    streamed = [entry for c in chunks if c["choices"] and c["choices"][0]["logprobs"]
                for entry in c["choices"][0]["logprobs"]["content"]]
    assert [(e["token"], round(e["logprob"], 4)) for e in streamed] == \
        [(e["token"], round(e["logprob"], 4)) for e in content]


def test_tgi_details_prefill_and_top_tokens(served):
    url, tokenizer, model = served
    inputs = "Once upon a time"
    prompt_ids, generated, details = tgi_greedy(url, inputs)
    assert prompt_ids == tokenizer(inputs, add_special_tokens=False)["input_ids"]
    reference = direct(model, prompt_ids + generated)
    assert details["prefill"][0]["logprob"] is None
    for position, token in enumerate(details["prefill"][1:] + details["tokens"], start=1):
        assert close(token["logprob"], float(reference[position - 1, token["id"]]))
    for step, top in enumerate(details["top_tokens"]):
        row = reference[len(prompt_ids) - 1 + step]
        assert [t["id"] for t in top] == torch.topk(row, 2).indices.tolist()
        assert all(close(t["logprob"], float(row[t["id"]])) for t in top)


@pytest.mark.parametrize("route, request_body, field", [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "logprobs": True,
                              "top_logprobs": MAX_TOP_LOGPROBS + 1}, "top_logprobs"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "top_logprobs": 2}, "logprobs"),
    ("/v1/completions", {"prompt": "Hi", "logprobs": MAX_TOP_LOGPROBS + 1}, "logprobs"),
    ("/v1/completions", {"prompt": "Hi", "max_tokens": 0}, "echo"),
    ("/v1/completions", {"prompt": [10**9]}, "prompt"),
    ("/generate", {"inputs": "Hi", "parameters": {"top_n_tokens": MAX_TOP_LOGPROBS + 1}}, "top_n_tokens"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "logit_bias": {"5": 10}},
     "logit_bias"),
    ("/v1/completions", {"prompt": "Hi", "response_format": {"type": "json_object"}}, "response_format"),
    ("/generate", {"inputs": "Hi", "parameters": {"grammar": {"type": "json", "value": {}}}}, "grammar"),
])
def test_unsupported_or_over_the_cap_requests_are_422(served, route, request_body, field):
    """Logprob counts above the cap, and fields that would change the request's meaning but are not implemented."""
    response = httpx.post(f"{served[0]}{route}", json=request_body, timeout=60)
    assert response.status_code == 422 and field in response.text, response.text


ARC = [{"id": f"q{i}", "question": question, "answerKey": "ABCD"[i % 4],
        "choices": {"text": choices, "label": ["A", "B", "C", "D"]}}
       for i, (question, choices) in enumerate([
           ("Which gas do plants take in?", ["oxygen", "carbon dioxide", "helium", "neon"]),
           ("What melts ice fastest?", ["shade", "wind", "sunlight", "snow"]),
           ("Which animal barks?", ["cat", "dog", "fish", "bird"]),
           ("What color is the sky on a clear day?", ["green", "red", "blue", "black"]),
           ("How many legs does a spider have?", ["six", "eight", "ten", "four"]),
           ("Which is a fruit?", ["carrot", "potato", "apple", "onion"])])]


def test_lm_eval_through_the_server_picks_the_same_choices_as_hfchat_eval(served, tiny_model_dir, tmp_path):
    url = served[0]
    data = tmp_path / "arc.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in ARC))
    write_arc_task(tmp_path / "tasks", data)
    model_args = (f"model=tiny,base_url={url}/v1/completions,tokenizer={tiny_model_dir},tokenizer_backend=huggingface,"
                  "add_bos_token=True,num_concurrent=1,max_retries=1")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    lm_eval = subprocess.run([sys.executable, "-m", "lm_eval", "run", "--model", "local-completions", "--model_args",
                              model_args, "--tasks", ARC_TASK, "--include_path", str(tmp_path / "tasks"),
                              "--log_samples", "--output_path", str(tmp_path / "lm-eval")],
                             capture_output=True, text=True, env=env, timeout=600)
    assert lm_eval.returncode == 0, lm_eval.stderr[-4000:]
    (samples_file,) = (tmp_path / "lm-eval").rglob(f"samples_{ARC_TASK}_*.jsonl")
    samples = sorted((json.loads(line) for line in samples_file.read_text().splitlines()), key=lambda s: s["doc_id"])
    # each choice's response is [[log-likelihood, is_greedy]], logged as strings
    theirs = [[float(response[0][0]) for response in s["resps"]] for s in samples]
    ours = subprocess.run([HFCHAT, "eval", "--model", str(tiny_model_dir), "--tasks", "arc_easy", "--task-data",
                           f"arc_easy={data}", "--output-dir", str(tmp_path / "ours")], capture_output=True,
                          text=True, env=env, timeout=600)
    assert ours.returncode == 0, ours.stderr[-3000:]
    details = [json.loads(line) for line in (tmp_path / "ours" / "details" / "arc_easy.jsonl").read_text().splitlines()]
    assert len(details) == len(theirs) == len(ARC)
    for mine, their in zip(details, theirs):
        assert max(range(4), key=mine["choice_logprobs"].__getitem__) == max(range(4), key=their.__getitem__)
        assert all(abs(a - b) < 1e-3 for a, b in zip(mine["choice_logprobs"], their))


def test_hints_are_accepted(served):
    url = served[0]
    chat = httpx.post(f"{url}/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2, "model": "any", "user": "u1",
        "frequency_penalty": 0, "response_format": {"type": "text"}, "parallel_tool_calls": False}, timeout=60)
    assert chat.status_code == 200, chat.text
    tgi = httpx.post(f"{url}/generate", json={"inputs": "Hi", "parameters": {
        "max_new_tokens": 2, "watermark": False, "truncate": None, "grammar": None, "typical_p": None}}, timeout=60)
    assert tgi.status_code == 200, tgi.text
