"""A saved model loads with `trust_remote_code=True` where hfchat cannot be imported, on transformers 5 and 4.57."""

import json
import os
import subprocess
import sys

import pytest
import torch

from tests.helpers import REFUSE_HFCHAT, TRANSFORMERS4_PATH, tiny_model

# Run in a fresh interpreter that refuses to import hfchat, then load through the Auto classes only.
CHILD = REFUSE_HFCHAT + r"""
import json
try:
    import hfchat  # noqa: F401
    raise SystemExit("hfchat was importable")
except ImportError:
    pass

import torch, transformers
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

folder, prompt = sys.argv[1], json.loads(sys.argv[2])
model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True).eval()
base = AutoModel.from_pretrained(folder, trust_remote_code=True)
input_ids = torch.tensor([prompt])
with torch.no_grad():
    logits = model(input_ids).logits[0, -1].tolist()
kwargs = dict(max_new_tokens=6, do_sample=False, pad_token_id=0)
print(json.dumps({
    "transformers": transformers.__version__,
    "config_class": type(AutoConfig.from_pretrained(folder, trust_remote_code=True)).__name__,
    "model_module": type(model).__module__,
    "base_class": type(base).__name__,
    "logits": logits,
    "greedy": model.generate(input_ids, **kwargs)[0].tolist(),
    "greedy_static": model.generate(input_ids, cache_implementation="static", **kwargs)[0].tolist(),
}))
"""


def run_child(folder, prompt, extra_path=None):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_HUB_OFFLINE"] = "1"
    if extra_path is not None:
        env["PYTHONPATH"] = str(extra_path)
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), json.dumps(prompt)],
        capture_output=True, text=True, env=env, cwd=folder, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("remote")
    model = tiny_model(num_key_value_heads=2)
    model.save_pretrained(folder)
    prompt = [3, 14, 15, 92, 65]
    with torch.no_grad():
        logits = model(torch.tensor([prompt])).logits[0, -1].tolist()
    greedy = model.generate(torch.tensor([prompt]), max_new_tokens=6, do_sample=False, pad_token_id=0)[0].tolist()
    return folder, prompt, logits, greedy


def test_save_pretrained_writes_code_and_a_full_auto_map(saved_model):
    folder = saved_model[0]
    assert {"modeling_hfchat.py", "configuration_hfchat.py", "model.safetensors"} <= set(os.listdir(folder))
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in os.listdir(folder))
    auto_map = json.loads((folder / "config.json").read_text())["auto_map"]
    assert auto_map == {
        "AutoConfig": "configuration_hfchat.HFChatConfig",
        "AutoModel": "modeling_hfchat.HFChatModel",
        "AutoModelForCausalLM": "modeling_hfchat.HFChatForCausalLM",
    }


def check(child, saved_model):
    _, _, logits, greedy = saved_model
    assert child["config_class"] == "HFChatConfig"
    assert child["model_module"].startswith("transformers_modules.")
    assert child["base_class"] == "HFChatModel"
    torch.testing.assert_close(torch.tensor(child["logits"]), torch.tensor(logits), atol=1e-5, rtol=1e-5)
    assert child["greedy"] == greedy
    assert child["greedy_static"] == greedy


def test_remote_code_loads_without_hfchat_on_transformers_5(saved_model):
    child = run_child(saved_model[0], saved_model[1])
    assert child["transformers"].startswith("5.")
    check(child, saved_model)


def test_remote_code_loads_without_hfchat_on_transformers_4_57(saved_model):
    if not (TRANSFORMERS4_PATH / "transformers").is_dir():
        message = f"transformers 4.57 not installed at {TRANSFORMERS4_PATH} (run `make setup`)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    child = run_child(saved_model[0], saved_model[1], extra_path=TRANSFORMERS4_PATH)
    assert child["transformers"].startswith("4.57")
    check(child, saved_model)
