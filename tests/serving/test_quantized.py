"""`--load-in-4bit` / `--load-in-8bit`: bitsandbytes quantized loading on the CPU, for `hfchat chat` and `hfchat serve`."""

import os
import subprocess
import sys

import huggingface_hub
import pytest
import torch
from huggingface_hub import InferenceClient

from hfchat.inference.loading import load_model
from hfchat.serving.launch import running_server
from tests.helpers import HFCHAT, refuse_import

# `hfchat chat` in a process where bitsandbytes cannot be imported (an install without the quant extra).
WITHOUT_BITSANDBYTES = refuse_import("bitsandbytes") + """
from hfchat.cli import main
sys.exit(main(sys.argv[1:]))
"""

GREETING = "Hi! How can I help you today?"


@pytest.mark.parametrize(("quantization", "layer"), [("4bit", "Linear4bit"), ("8bit", "Linear8bitLt")])
def test_quantized_model_keeps_the_memorised_reply(chat_model_dir, quantization, layer):
    full, tokenizer = load_model(str(chat_model_dir), device="cpu")
    quantized, _ = load_model(str(chat_model_dir), device="cpu", quantization=quantization)
    assert type(quantized.model.layers[0].mlp.up_proj).__name__ == layer
    assert quantized.get_memory_footprint() < full.get_memory_footprint()
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "Hello"}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    with torch.no_grad():
        output = quantized.generate(**inputs, max_new_tokens=40, do_sample=False)
    assert tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True) == GREETING
    with pytest.raises(ValueError, match="quantization '2bit'"):
        load_model(str(chat_model_dir), quantization="2bit")


def test_chat_and_serve_load_quantized(chat_model_dir, monkeypatch):
    result = subprocess.run([HFCHAT, "chat", "--model", str(chat_model_dir), "--load-in-4bit", "--temperature", "0",
                             "-p", "Hello"], capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0 and result.stdout.strip() == GREETING, result.stderr[-2000:]
    assert "kernels" not in result.stderr  # no notice about a Hub kernel download
    both = subprocess.run([HFCHAT, "chat", "--model", str(chat_model_dir), "--load-in-4bit", "--load-in-8bit", "-p",
                           "Hello"], capture_output=True, text=True, timeout=60, check=False)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # InferenceClient refuses even localhost when offline
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    env = dict(os.environ)
    with running_server(chat_model_dir, "--load-in-8bit", env=env) as url:
        reply = InferenceClient(base_url=url).chat_completion([{"role": "user", "content": "Hello"}], max_tokens=40,
                                                              temperature=0.0)
    assert reply.choices[0].message.content == GREETING


def test_without_bitsandbytes_quantized_loading_is_one_line_naming_the_package(chat_model_dir):
    result = subprocess.run([sys.executable, "-c", WITHOUT_BITSANDBYTES, "chat", "--model", str(chat_model_dir),
                             "--load-in-4bit", "-p", "Hello"], capture_output=True, text=True, timeout=180)
    assert result.returncode == 2
    assert result.stderr.strip() == ("hfchat chat: --load-in-4bit/--load-in-8bit need the bitsandbytes package: "
                                     "pip install 'hfchat[quant]'")
