"""Tiny models and data for the tests: hidden 64, 2 layers, vocab <= 1024. No network."""

import os
import sys
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
# transformers 4.57 installed beside the main environment by `make setup` (see Makefile).
TRANSFORMERS4_PATH = Path(os.environ.get("HFCHAT_TRANSFORMERS4", Path(sys.prefix) / "transformers4"))
TOKENIZER_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Once upon a time there was a little robot who loved to count: 1, 2, 3, 42, 1234567.",
    "def add(a, b):\n    return a + b\n",
    "안녕하세요, 세계! 한국어 문장도 토큰화합니다.",
    "Emoji work too 🙂🚀 and so do   runs of    whitespace.\n\n\tTabs and newlines.",
    "Ünïcödé àccents, naïve café, Straße.",
]


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
