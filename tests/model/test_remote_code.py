"""A saved model loads with `trust_remote_code=True` where hfchat cannot be imported, and generates the same tokens
with and without the KV cache, with `StaticCache` and batched with left padding, on every transformers release a
user may have: the locked one, 4.57 (the oldest supported), 5.23 (the last before the cache was renamed) and the
newest release on the registry today."""

import json
import os
import subprocess
import sys

import pytest
import torch

from tests.helpers import REFUSE_HFCHAT, side_transformers, tiny_model

# Run in a fresh interpreter that refuses to import hfchat, then load through the Auto classes only. Deprecation
# warnings raised from the saved code are errors, as they are for hfchat's modules under pytest.
CHILD = REFUSE_HFCHAT + r"""
import json, warnings
for category in (FutureWarning, DeprecationWarning):
    warnings.filterwarnings("error", category=category, module="transformers_modules")
try:
    import hfchat  # noqa: F401
    raise SystemExit("hfchat was importable")
except ImportError:
    pass

import torch, transformers
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

folder, prompts = sys.argv[1], json.loads(sys.argv[2])
model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True).eval()
base = AutoModel.from_pretrained(folder, trust_remote_code=True)
kwargs = dict(max_new_tokens=6, do_sample=False, pad_token_id=0)


def greedy(prompt, **extra):
    return model.generate(torch.tensor([prompt]), **kwargs, **extra)[0, len(prompt):].tolist()


width = max(len(p) for p in prompts)
ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
batched = model.generate(input_ids=ids, attention_mask=mask, **kwargs)[:, width:].tolist()
with torch.no_grad():
    logits = model(torch.tensor([prompts[0]])).logits[0, -1].tolist()
print(json.dumps({
    "transformers": transformers.__version__,
    "config_class": type(AutoConfig.from_pretrained(folder, trust_remote_code=True)).__name__,
    "model_module": type(model).__module__,
    "base_class": type(base).__name__,
    "logits": logits,
    "greedy": [greedy(p) for p in prompts],
    "uncached": [greedy(p, use_cache=False) for p in prompts],
    "static": [greedy(p, cache_implementation="static") for p in prompts],
    "batched": batched,
}))
"""
PROMPTS = [[3, 14, 15, 92, 65], [35, 89, 79], [32, 38, 46, 26, 43, 38, 32, 79]]


def run_child(folder, prompts, extra_path=None):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_HUB_OFFLINE"] = "1"
    if extra_path is not None:
        env["PYTHONPATH"] = str(extra_path)
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), json.dumps(prompts)],
        capture_output=True, text=True, env=env, cwd=folder, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    assert "deprecated" not in result.stderr, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("remote")
    model = tiny_model(num_key_value_heads=2)
    model.save_pretrained(folder)
    with torch.no_grad():
        logits = model(torch.tensor([PROMPTS[0]])).logits[0, -1].tolist()
    greedy = [model.generate(torch.tensor([p]), max_new_tokens=6, do_sample=False, pad_token_id=0)[0, len(p):].tolist()
              for p in PROMPTS]
    return folder, logits, greedy


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


@pytest.mark.parametrize("release", ["locked", "4.57", "5.23", "newest"])
def test_remote_code_generates_the_same_tokens_without_hfchat(saved_model, release, request):
    """Logits equal ours; greedy with the cache = without it = with `StaticCache` = each row of a left-padded batch.
    A release that breaks the saved code fails here with its version in the message."""
    folder, logits, greedy = saved_model
    extra_path = None if release == "locked" else side_transformers(release, request)
    child = run_child(folder, PROMPTS, extra_path=extra_path)
    version = child["transformers"]
    if release == "locked":
        import transformers

        assert version == transformers.__version__
    elif release != "newest":
        assert version.startswith(release)
    assert child["config_class"] == "HFChatConfig"
    assert child["model_module"].startswith("transformers_modules.")
    assert child["base_class"] == "HFChatModel"
    torch.testing.assert_close(torch.tensor(child["logits"]), torch.tensor(logits), atol=1e-5, rtol=1e-5,
                               msg=lambda m: f"transformers {version}: logits differ from hfchat's: {m}")
    for kind in ("greedy", "uncached", "static", "batched"):
        assert child[kind] == greedy, f"transformers {version}: {kind} generation differs from hfchat's"
