"""FSDP2 (torch's `fully_shard`) on two CPU processes over gloo, beside DDP: the same losses, and exact resume.

accelerate sets FSDP up only for GPU-type backends (on CPU it runs `accelerate_configs/fsdp2.yaml` as DDP, which the
recipe warns about), so these runs shard the recipe's model and optimizers with torch directly
(tests/pretraining/fsdp2_worker.py).
"""

import json
import os
import subprocess
import sys

import pytest
import torch

from hfchat.processes import free_port
from tests.helpers import REPO_ROOT

WORKER = REPO_ROOT / "tests" / "pretraining" / "fsdp2_worker.py"


def train(out, *args):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(free_port()), str(WORKER), "--out", str(out), *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads((out / "losses.json").read_text()), torch.load(out / "model.pt")


@pytest.mark.slow
def test_fsdp2_trains_like_ddp_and_resumes_exactly(tmp_path):
    ddp, _ = train(tmp_path / "ddp", "--wrap", "ddp", "--steps", "8")
    sharded, weights = train(tmp_path / "fsdp2", "--wrap", "fsdp2", "--steps", "8", "--save-at", "4")
    assert [r["step"] for r in sharded] == [r["step"] for r in ddp] == list(range(1, 9))
    for want, got in zip(ddp, sharded):
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-4), got["step"]
    assert sharded[-1]["loss"] < 0.5 * sharded[0]["loss"]
    # One shard file per rank: each process wrote only its own part.
    checkpoint = tmp_path / "fsdp2" / "checkpoint-4"
    assert sorted(p.name for p in checkpoint.glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]

    resumed, resumed_weights = train(tmp_path / "resumed", "--wrap", "fsdp2", "--steps", "8", "--resume",
                                     str(checkpoint))
    assert resumed == sharded[4:]
    assert resumed_weights.keys() == weights.keys()
    for name in weights:
        assert torch.equal(resumed_weights[name], weights[name]), name


@pytest.mark.slow
def test_the_fsdp2_config_on_cpu_runs_as_ddp_and_says_so(tmp_path):
    from tests.pretraining.test_pretrain import WORDS

    data = tmp_path / "corpus.jsonl"
    data.write_text("".join(json.dumps({"text": " ".join(WORDS[i:] + WORDS[:i])}) + "\n" for i in range(len(WORDS))))
    out = tmp_path / "run"
    args = {"output_dir": out, "datasets": data, "depth": 1, "head_dim": 32, "seq_len": 32, "vocab_size": 300,
            "tokenizer_train_documents": 20, "per_device_train_batch_size": 2, "total_batch_size": 128,
            "max_steps": 2, "validation_documents": 2, "eval_steps": 0, "save_steps": 0, "logging_steps": 1,
            "sample_max_new_tokens": 2}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
               str(REPO_ROOT / "accelerate_configs" / "fsdp2.yaml"), "--num_processes", "2", "--mixed_precision",
               "no", "--main_process_port", str(free_port()), str(REPO_ROOT / "recipes" / "pretrain.py")]
    command += [part for key, value in args.items() for part in (f"--{key}", str(value))]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "asks for FSDP, which accelerate sets up on GPUs only: this run is MULTI_CPU" in result.stderr
    assert [json.loads(line)["world_size"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [2, 2]
