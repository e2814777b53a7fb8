"""Export to transformers' own Llama and Qwen3 classes: the same logits and greedy tokens without remote code, in
transformers 5 and in transformers 4.57; models those classes cannot run are refused with the reason."""

import json
import os
import subprocess
import sys

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaForCausalLM, Qwen3ForCausalLM

from hfchat.export import ExportError, compare_logits, export_transformers
from hfchat.tokenizer import save_tokenizer
from tests.helpers import HFCHAT, TRANSFORMERS4_PATH, tiny_model

LAYOUTS = {  # target -> (model overrides, transformers class)
    "qwen3": ({"num_key_value_heads": 2}, Qwen3ForCausalLM),
    "llama": ({"qk_norm": False}, LlamaForCausalLM),
    "qwen3-tied": ({"tie_word_embeddings": True, "rope_theta": 5000.0}, Qwen3ForCausalLM),
}


def _save(folder, tokenizer, **overrides):
    model = tiny_model(vocab_size=len(tokenizer), **overrides)
    model.save_pretrained(folder)
    save_tokenizer(tokenizer, folder)
    return folder


@pytest.mark.parametrize("layout", LAYOUTS)
def test_export_gives_transformers_class_with_equal_logits_and_greedy_tokens(layout, tiny_tokenizer, tmp_path):
    overrides, expected_class = LAYOUTS[layout]
    source = _save(tmp_path / "hfchat", tiny_tokenizer, **overrides)
    output = export_transformers(source, layout.split("-")[0], tmp_path / "exported")
    assert not {"modeling_hfchat.py", "configuration_hfchat.py"} & set(os.listdir(output))
    config = json.loads((output / "config.json").read_text())
    assert "auto_map" not in config and config["rope_theta"] == overrides.get("rope_theta", 10000.0)
    assert type(AutoModelForCausalLM.from_pretrained(output)) is expected_class  # no trust_remote_code
    check = compare_logits(source, output, prompt="Once upon a time there was a robot", new_tokens=12)
    assert check["class"] == expected_class.__name__
    assert check["max_abs_logit_diff"] < 1e-4 and check["greedy_tokens_equal"]
    exported_tokenizer_files = set(os.listdir(output))
    assert {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"} \
        <= exported_tokenizer_files


TRANSFORMERS4_CHILD = """
import json, sys, torch
from transformers import AutoModelForCausalLM
import transformers
folder, prompt = sys.argv[1], json.loads(sys.argv[2])
model = AutoModelForCausalLM.from_pretrained(folder).eval()
with torch.no_grad():
    logits = model(torch.tensor([prompt])).logits[0, -1].tolist()
print(json.dumps({"version": transformers.__version__, "class": type(model).__name__, "logits": logits}))
"""


@pytest.mark.parametrize("target", ["qwen3", "llama"])
def test_export_loads_in_transformers_4(target, tiny_tokenizer, tmp_path):
    if not (TRANSFORMERS4_PATH / "transformers").is_dir():
        pytest.skip(f"transformers 4.57 not installed at {TRANSFORMERS4_PATH} (run `make setup`)")
    overrides = {"rope_theta": 5000.0, **({"qk_norm": False} if target == "llama" else {})}
    source = _save(tmp_path / "hfchat", tiny_tokenizer, **overrides)
    output = export_transformers(source, target, tmp_path / "exported")
    prompt = [3, 14, 15, 92, 65]
    with torch.no_grad():
        ours = AutoModelForCausalLM.from_pretrained(source, trust_remote_code=True)(torch.tensor([prompt])).logits[0, -1]
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(TRANSFORMERS4_PATH),
           "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", TRANSFORMERS4_CHILD, str(output), json.dumps(prompt)],
                            capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    child = json.loads(result.stdout.strip().splitlines()[-1])
    assert child["version"].startswith("4.57") and child["class"] == f"{'Qwen3' if target == 'qwen3' else 'Llama'}ForCausalLM"
    assert (torch.tensor(child["logits"]) - ours).abs().max().item() < 1e-4


@pytest.mark.parametrize(("overrides", "target", "reason"), [
    ({"hidden_act": "relu2"}, "qwen3", "hidden_act='relu2'.*gated SiLU MLP"),
    ({"final_logit_softcapping": 15.0}, "qwen3", "final_logit_softcapping=15.0.*soft-capping"),
    ({}, "llama", "qk_norm=True: Llama has no QK-norm; export --to qwen3"),
    ({"qk_norm": False}, "qwen3", "qk_norm=False: Qwen3 always normalises"),
])
def test_export_refuses_what_the_target_cannot_run(overrides, target, reason, tiny_tokenizer, tmp_path):
    source = _save(tmp_path / "hfchat", tiny_tokenizer, **overrides)
    with pytest.raises(ExportError, match=reason):
        export_transformers(source, target, tmp_path / "exported")
    assert not (tmp_path / "exported").exists() and sorted(os.listdir(tmp_path)) == ["hfchat"]


def test_hfchat_export_command(tiny_model_dir, tmp_path):
    result = subprocess.run([HFCHAT, "export", "--model", str(tiny_model_dir), "--to", "qwen3", "--output",
                             str(tmp_path / "qwen3")], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Qwen3ForCausalLM" in result.stdout and "greedy tokens equal" in result.stdout
    refused = subprocess.run([HFCHAT, "export", "--model", str(tiny_model_dir), "--to", "llama", "--output",
                              str(tmp_path / "llama")], capture_output=True, text=True, timeout=300, check=False)
    assert refused.returncode == 2 and "qk_norm=True: Llama has no QK-norm" in refused.stderr
    assert not (tmp_path / "llama").exists()
