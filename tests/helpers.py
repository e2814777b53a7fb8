"""Tiny models and data for the tests: hidden 64, 2 layers, vocab <= 1024. No network."""

import os
import subprocess
import sys
from pathlib import Path

import torch

from hfchat.processes import recipe_command

REPO_ROOT = Path(__file__).resolve().parent.parent
HFCHAT = str(Path(sys.executable).parent / "hfchat")  # the installed command, as users run it


def refuse_import(package: str) -> str:
    """The start of a child process's script in which ``package`` cannot be imported, as where it is not
    installed."""
    return rf"""
import importlib.abc, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == {package!r} or name.startswith({package!r} + "."):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, Refuse())
"""


# What a user without hfchat installed has.
REFUSE_HFCHAT = refuse_import("hfchat")
# transformers releases beside the main environment, each in a folder of its own that a child process puts on
# PYTHONPATH: 4.57 (the oldest supported) and 5.23 (the last before the cache rename) from `make setup` (see
# Makefile); the newest release comes from the `newest_transformers` fixture.
SIDE_TRANSFORMERS = {"4.57": Path(sys.prefix) / "transformers4", "5.23": Path(sys.prefix) / "transformers5.23"}
TRANSFORMERS4_PATH = SIDE_TRANSFORMERS["4.57"]
TOKENIZER_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Once upon a time there was a little robot who loved to count: 1, 2, 3, 42, 1234567.",
    "def add(a, b):\n    return a + b\n",
    "안녕하세요, 세계! 한국어 문장도 토큰화합니다.",
    "Emoji work too 🙂🚀 and so do   runs of    whitespace.\n\n\tTabs and newlines.",
    "Ünïcödé àccents, naïve café, Straße.",
]


def side_transformers(release: str, request=None) -> Path:
    """The folder holding transformers ``release`` ("4.57", "5.23", or "newest" through ``request``'s fixture)."""
    import pytest

    if release == "newest":
        return request.getfixturevalue("newest_transformers")
    path = SIDE_TRANSFORMERS[release]
    if not (path / "transformers").is_dir():
        message = f"transformers {release} not installed at {path} (run `make setup`)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    return path


def tiny_config(**overrides):
    from hfchat import HFChatConfig

    fields = dict(vocab_size=512, hidden_size=64, head_dim=16, intermediate_size=128)
    fields.update(overrides)
    return HFChatConfig.from_depth(2, **fields)


def randomize(model, seed=0, std=0.2):
    """Give every weight a non-trivial value: the training init zeroes the residual projections, which would make
    attention invisible in equivalence tests."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * std + (1.0 if param.ndim == 1 else 0.0))
    return model


def tiny_model(seed=0, **overrides):
    from hfchat import HFChatForCausalLM

    torch.manual_seed(seed)
    return randomize(HFChatForCausalLM(tiny_config(**overrides)), seed=seed).eval()


# Conversations the `chat_model_dir` fixture memorises, so that tests can rely on what the model says: a greeting,
# a calculator call answered through the real sandbox, and a song that never ends (its end-of-turn token is not
# trained, so the model keeps singing until max_new_tokens: for stop, cancel and throughput tests).
CHAT_CONVERSATIONS = [
    [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi! How can I help you today?"}],
    [{"role": "user", "content": "What is 17 * 23?"},
     {"role": "assistant", "content": "", "tool_calls": [
         {"type": "function", "function": {"name": "calculator", "arguments": {"expression": "17*23"}}}]},
     {"role": "tool", "name": "calculator", "content": "391"},
     {"role": "assistant", "content": "The answer is 391."}],
    [{"role": "user", "content": "Sing"}, {"role": "assistant", "content": "la " * 40}],
    # with the calculator listed as a tool (`CHAT_TOOLS`), as an OpenAI client that runs its own tools sends it
    [{"role": "user", "content": "Compute 6 * 7"},
     {"role": "assistant", "content": "", "tool_calls": [
         {"type": "function", "function": {"name": "calculator", "arguments": {"expression": "6*7"}}}]}],
]
CHAT_TOOLS = [{"type": "function", "function": {"name": "calculator", "description": "Evaluate arithmetic.",
                                                "parameters": {"type": "object", "properties": {
                                                    "expression": {"type": "string"}}}}}]


def judge_conversation():
    """The judge's view of the greeting above: serving as a judge, the fixture model answers 85."""
    from hfchat.evaluation.judge import judge_prompt

    greeting, reply = CHAT_CONVERSATIONS[0][0]["content"], CHAT_CONVERSATIONS[0][1]["content"]
    return [{"role": "user", "content": judge_prompt(greeting, reply, reply)}, {"role": "assistant", "content": "85"}]


def train_chat_model(folder, tokenizer, steps=300, seed=0):
    """A tiny hfchat model trained until it repeats `CHAT_CONVERSATIONS` greedily, saved with its tokenizer and a
    generation config that stops at the end of a turn (as the SFT recipe saves one)."""
    from hfchat import HFChatForCausalLM
    from hfchat.tokenizer import IM_END, save_tokenizer

    torch.manual_seed(seed)
    model = HFChatForCausalLM(tiny_config(vocab_size=len(tokenizer), max_position_embeddings=2048))
    texts = [tokenizer.apply_chat_template(c, tools=CHAT_TOOLS if "Compute" in c[0]["content"] else None,
                                           tokenize=False) for c in CHAT_CONVERSATIONS + [judge_conversation()]]
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(map(len, rows))
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    labels = torch.tensor([r + [-100] * (width - len(r)) for r in rows])
    song = texts[2].rindex("la ")
    labels[2, len(tokenizer(texts[2][:song + 3], add_special_tokens=False)["input_ids"]):] = -100
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=input_ids, attention_mask=(input_ids != pad).long(), labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    im_end = tokenizer.convert_tokens_to_ids(IM_END)
    model.generation_config.eos_token_id = [im_end, tokenizer.eos_token_id]
    model.generation_config.pad_token_id = pad
    model.save_pretrained(folder)
    save_tokenizer(tokenizer, folder)
    return loss.item()


def run_recipe(stage, config, *args, processes=1, check=True, timeout=420):
    """Run ``recipes/<stage>.py --config CONFIG ARGS``: with plain python for one process, else under
    `accelerate launch` with accelerate_configs/cpu.yaml; offline."""
    command = recipe_command(stage, ["--config", str(config), *args], processes)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO_ROOT)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result
