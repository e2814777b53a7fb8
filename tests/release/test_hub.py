"""`hfchat push` without network: the folder that would be uploaded, its commit operations and model card, and that
folder loading where hfchat is not importable, from a local path and from a Hub cache with HF_HUB_OFFLINE=1."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results

from hfchat.export.serve_commands import serve_command
from hfchat.hub import upload_plan
from hfchat.tokenizer import save_tokenizer
from tests.helpers import HFCHAT, REFUSE_HFCHAT, tiny_model

CHILD = REFUSE_HFCHAT + r"""
import json
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

name, remote = sys.argv[1], sys.argv[2] == "remote"
kwargs = {"trust_remote_code": True} if remote else {}
tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
model = AutoModelForCausalLM.from_pretrained(name, **kwargs).eval()
inputs = tokenizer.apply_chat_template([{"role": "user", "content": "Hello"}], add_generation_prompt=True,
                                       return_tensors="pt", return_dict=True)
output = model.generate(**inputs, max_new_tokens=8, do_sample=False, eos_token_id=None)
print(json.dumps({"class": type(model).__name__, "module": type(model).__module__, "tokens": output[0].tolist()}))
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_tokenizer):
    """A run folder as the speedrun leaves it: base and sft stages, eval results, a report card."""
    run = tmp_path_factory.mktemp("run")
    for stage in ("base", "sft"):
        model = tiny_model(vocab_size=len(tiny_tokenizer), seed=1 if stage == "sft" else 0)
        model.save_pretrained(run / stage)
        save_tokenizer(tiny_tokenizer, run / stage)
    (run / "sft" / "checkpoint-2").mkdir()
    (run / "sft" / "checkpoint-2" / "optimizer.pt").write_bytes(b"not for the hub")
    (run / "sft" / "training_args.bin").write_bytes(b"not for the hub")
    (run / "sft" / "README.md").write_text("---\ndatasets: builtin:chat, HuggingFaceTB/smol-smoltalk\n---\n# sft\n")
    (run / "base" / "metrics.jsonl").write_text(json.dumps({"step": 10, "loss": 3.0, "tokens": 4096,
                                                            "tokens_per_s": 100.0}) + "\n")
    (run / "sft" / "trainer_state.json").write_text(json.dumps({"log_history": [
        {"step": 1, "loss": 2.0, "num_tokens": 512.0}, {"step": 2, "train_runtime": 4.0}]}))
    (run / "eval").mkdir()
    for stage, accuracy in (("base", 0.0), ("sft", 0.25)):
        results = {"builtin_math": {"accuracy": accuracy, "ends_turn": 1.0, "n": 8, "stderr": 0.1, "seconds": 1.0},
                   "arc_easy": {"accuracy": 0.5, "acc": 0.25, "acc_norm": 0.5, "random_baseline": 0.25, "n": 4,
                                "stderr": 0.2, "seconds": 1.0}}
        (run / "eval" / f"{stage}.json").write_text(json.dumps({"model": str(run / stage), "results": results}))
    result = subprocess.run([HFCHAT, "report", "--run", str(run)], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    return run


def _load_in_child(name, remote: bool, env_extra=None, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({"HF_HUB_OFFLINE": "1", **(env_extra or {})})
    result = subprocess.run([sys.executable, "-c", CHILD, str(name), "remote" if remote else "native"],
                            capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _our_greedy(folder):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "Hello"}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    with torch.no_grad():
        return model.generate(**inputs, max_new_tokens=8, do_sample=False, eos_token_id=None)[0].tolist()


def test_upload_plan_lays_out_the_repository_with_a_card_that_parses_back(run_dir, tmp_path):
    plan = upload_plan(run_dir / "sft", "me/tiny-chat", tmp_path / "upload", base_model="me/tiny-base")
    paths = sorted(op.path_in_repo for op in plan.operations)
    assert paths == sorted(["README.md", "config.json", "model.safetensors", "configuration_hfchat.py",
                            "modeling_hfchat.py", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                            "chat_template.jinja", "trainer_state.json", "report.md", "report_loss.png",
                            "report_eval.png"])
    assert all(os.path.isfile(op.path_or_fileobj) for op in plan.operations)
    card = ModelCard.load(tmp_path / "upload" / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "transformers" and data["pipeline_tag"] == "text-generation"
    assert data["license"] == "apache-2.0" and data["base_model"] == "me/tiny-base"
    assert {"hfchat", "base", "sft", "custom_code"} <= set(data["tags"])
    assert set(data["datasets"]) == {"HuggingFaceTB/smol-smoltalk", "allenai/ai2_arc"}
    name, results = model_index_to_eval_results(data["model-index"])
    assert name == "tiny-chat"
    scores = {(r.dataset_type, r.metric_type): r.metric_value for r in results}
    assert scores[("builtin:math", "accuracy")] == 0.25 and scores[("allenai/ai2_arc", "acc_norm")] == 0.5
    assert ("builtin:math", "n") not in scores and ("allenai/ai2_arc", "random_baseline") not in scores
    text = card.text
    assert 'from_pretrained(model_id, trust_remote_code=True)' in text
    assert "| builtin_math | accuracy | 0.250 ± 0.100 |" in text
    assert "| sft | builtin:chat, HuggingFaceTB/smol-smoltalk | 1 | 512 | 4 s |" in text
    assert serve_command("me/tiny-chat", "vllm") in text and "report.md" in text


def test_planned_folder_loads_without_hfchat_from_a_path_and_from_an_offline_hub_cache(run_dir, tmp_path):
    folder = upload_plan(run_dir / "sft", "me/tiny-chat", tmp_path / "upload").folder
    expected = _our_greedy(run_dir / "sft")
    from_path = _load_in_child(folder, remote=True, cwd=tmp_path)
    assert from_path["tokens"] == expected and from_path["class"] == "HFChatForCausalLM"
    assert from_path["module"].startswith("transformers_modules")  # the uploaded remote code, not hfchat
    # a Hub cache as `snapshot_download` leaves it: blobs, a snapshot of links, refs/main
    cache = tmp_path / "hub"
    repo = cache / "models--me--tiny-chat"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for number, op in enumerate(upload_plan(run_dir / "sft", "me/tiny-chat", tmp_path / "upload2").operations):
        blob = repo / "blobs" / f"blob{number:04d}"
        shutil.copy2(op.path_or_fileobj, blob)
        (snapshot / op.path_in_repo).symlink_to(os.path.relpath(blob, snapshot))
    from_cache = _load_in_child("me/tiny-chat", remote=True, cwd=tmp_path,
                                env_extra={"HF_HUB_CACHE": str(cache), "HF_HOME": str(tmp_path / "home")})
    assert from_cache["tokens"] == expected


def test_exported_plan_pushes_transformers_own_class(run_dir, tmp_path):
    plan = upload_plan(run_dir / "sft", "me/tiny-chat-qwen3", tmp_path / "upload", exported=True)
    paths = {op.path_in_repo for op in plan.operations}
    assert "modeling_hfchat.py" not in paths and {"model.safetensors", "README.md", "report.md"} <= paths
    card = ModelCard.load(plan.folder / "README.md")
    assert "qwen3" in card.data.tags and "custom_code" not in card.data.tags
    assert "from_pretrained(model_id)" in card.text and "trust_remote_code=True" not in card.text
    assert "Qwen3ForCausalLM" in card.text and "--model-impl transformers" not in card.text
    child = _load_in_child(plan.folder, remote=False, cwd=tmp_path)
    assert child["class"] == "Qwen3ForCausalLM" and child["tokens"] == _our_greedy(run_dir / "sft")


def test_push_refuses_bad_input_before_any_network(run_dir, tmp_path):
    with pytest.raises(ValueError, match="--repo-id 'tiny-chat': expected USER/NAME"):
        upload_plan(run_dir / "sft", "tiny-chat", tmp_path / "a")
    with pytest.raises(ValueError, match="not a model folder"):
        upload_plan(run_dir / "eval", "me/x", tmp_path / "b")
    dry = subprocess.run([HFCHAT, "push", "--model", str(run_dir / "sft"), "--repo-id", "me/tiny-chat", "--dry-run",
                          str(tmp_path / "dry")], capture_output=True, text=True, timeout=120, check=False)
    assert dry.returncode == 0 and "model.safetensors" in dry.stdout and "13 files" in dry.stdout


def test_serve_commands(run_dir, tmp_path):
    sft = str(run_dir / "sft")
    tgi = serve_command(sft, "tgi")
    assert tgi.startswith("docker run --gpus all") and f"-v {run_dir / 'sft'}:/model" in tgi
    assert "--model-id /model" in tgi and tgi.endswith("--trust-remote-code")
    assert serve_command("me/tiny-chat-qwen3", "tgi", exported=True, quantize="bnb-4bit").endswith(
        "--model-id me/tiny-chat-qwen3 --quantize bitsandbytes-nf4")
    vllm = serve_command(sft, "vllm")
    assert vllm.startswith(f"vllm serve {sft} --port 8080 --max-model-len") and "--trust-remote-code" in vllm
    llama = serve_command(sft, "llamacpp", quantize="q8_0").splitlines()
    assert llama[0].startswith(f"hfchat export --model {sft} --to gguf --outtype q8_0")
    assert llama[1].startswith("llama-server -m sft-q8_0.gguf --port 8080 --jinja")
    assert serve_command("model.gguf", "llamacpp") == "llama-server -m model.gguf --port 8080 --jinja"
    with pytest.raises(ValueError, match="--quantize 'eetq' is not available for vllm"):
        serve_command(sft, "vllm", quantize="eetq")
    result = subprocess.run([HFCHAT, "serve-command", "--model", "me/tiny-chat", "--engine", "vllm"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout.strip() == "vllm serve me/tiny-chat --port 8080 --model-impl transformers --trust-remote-code"
