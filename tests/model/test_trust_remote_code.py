"""A model repository's own Python code runs only with `--trust-remote-code`: hfchat's models need no flag (the
architecture is registered on import), a folder with foreign code is refused with one line naming the flag, and
nothing of its code runs."""

import json
import os
import subprocess

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from hfchat.inference.loading import load_model
from hfchat.tokenizer import save_tokenizer
from tests.helpers import HFCHAT

# Code that leaves a mark when it runs, in front of a plain Llama.
CONFIGURATION = '''import os
from transformers import LlamaConfig

open(os.environ["FOREIGN_CODE_RAN"], "a").write("configuration\\n")


class ForeignConfig(LlamaConfig):
    model_type = "foreign"
'''
MODELING = '''import os
from transformers import LlamaForCausalLM

from .configuration_foreign import ForeignConfig

open(os.environ["FOREIGN_CODE_RAN"], "a").write("modeling\\n")


class ForeignForCausalLM(LlamaForCausalLM):
    config_class = ForeignConfig
'''


@pytest.fixture(scope="module")
def foreign_dir(tmp_path_factory, tiny_tokenizer):
    folder = tmp_path_factory.mktemp("foreign")
    config = LlamaConfig(vocab_size=len(tiny_tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    save_tokenizer(tiny_tokenizer, folder)
    saved = json.loads((folder / "config.json").read_text())
    saved.update(model_type="foreign", architectures=["ForeignForCausalLM"],
                 auto_map={"AutoConfig": "configuration_foreign.ForeignConfig",
                           "AutoModelForCausalLM": "modeling_foreign.ForeignForCausalLM"})
    (folder / "config.json").write_text(json.dumps(saved))
    (folder / "configuration_foreign.py").write_text(CONFIGURATION)
    (folder / "modeling_foreign.py").write_text(MODELING)
    return folder


@pytest.fixture
def marker(tmp_path, monkeypatch):
    path = tmp_path / "ran.txt"
    monkeypatch.setenv("FOREIGN_CODE_RAN", str(path))
    return path


def test_foreign_code_is_refused_without_the_flag_and_does_not_run(foreign_dir, marker):
    with pytest.raises(ValueError, match="contains its own Python code.*--trust-remote-code"):
        load_model(str(foreign_dir), device="cpu")
    assert not marker.exists()
    for command in (["eval", "--model", str(foreign_dir), "--tasks", "bpb", "--limit", "2"],
                    ["chat", "--model", str(foreign_dir), "-p", "Hello"]):
        result = subprocess.run([HFCHAT, *command], capture_output=True, text=True, timeout=300, env=os.environ)
        assert result.returncode == 2, result.stderr[-2000:]
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith(f"hfchat {command[0]}: --model") and "--trust-remote-code" in last, result.stderr
    assert not marker.exists()


def test_foreign_code_runs_with_the_flag(foreign_dir, marker):
    model, _ = load_model(str(foreign_dir), device="cpu", trust_remote_code=True)
    assert type(model).__name__ == "ForeignForCausalLM" and type(model).__module__.startswith("transformers_modules.")
    assert set(marker.read_text().split()) == {"configuration", "modeling"}
    result = subprocess.run([HFCHAT, "eval", "--model", str(foreign_dir), "--tasks", "bpb", "--limit", "2",
                             "--trust-remote-code"], capture_output=True, text=True, timeout=300, env=os.environ)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| bpb | bits_per_byte |" in result.stdout


def test_hfchat_models_need_no_flag(tiny_model_dir):
    """The saved folder has remote code too (for users without hfchat); hfchat loads it with its own class."""
    model, _ = load_model(str(tiny_model_dir), device="cpu")
    assert type(model).__module__ == "hfchat.modeling.modeling_hfchat"
