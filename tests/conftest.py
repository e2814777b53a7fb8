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
