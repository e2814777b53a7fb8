"""Shared fixtures, built once per session. No network."""

import os

import pytest
import torch

from tests.helpers import TOKENIZER_CORPUS

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from hfchat import train_tokenizer

    return train_tokenizer(TOKENIZER_CORPUS * 20, vocab_size=512)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer):
    """A tiny random hfchat model with the test tokenizer, saved like a pretraining run saves one."""
    from hfchat.tokenizer import save_tokenizer
    from tests.helpers import tiny_model

    folder = tmp_path_factory.mktemp("tiny-model")
    tiny_model(vocab_size=len(tiny_tokenizer)).save_pretrained(folder)
    save_tokenizer(tiny_tokenizer, folder)
    return folder


@pytest.fixture(scope="session")
def chat_model_dir(tmp_path_factory, tiny_tokenizer):
    """A tiny chat model that has memorised `tests.helpers.CHAT_CONVERSATIONS` (greeting, calculator call, song)."""
    from tests.helpers import train_chat_model

    folder = tmp_path_factory.mktemp("chat-model")
    loss = train_chat_model(folder, tiny_tokenizer)
    assert loss < 0.05, f"the chat fixture did not memorise its conversations (loss {loss:.3f})"
    return folder
