"""The pretraining recipe through real `accelerate launch` subprocesses (2 CPU processes over gloo)."""

import json
import os
import random
import shutil
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from hfchat import save_tokenizer, train_tokenizer
from hfchat.processes import recipe_command
from tests.helpers import REPO_ROOT

WORDS = "the little cat saw a big red ball and ran to the park with her friend who was happy today".split()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A local JSON-lines corpus and a tokenizer trained on it."""
    folder = tmp_path_factory.mktemp("corpus")
    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40))).capitalize() + "." for _ in range(600)]
    data = folder / "corpus.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    save_tokenizer(train_tokenizer(texts, vocab_size=320), folder / "tokenizer")
    return data, folder / "tokenizer"


def run_args(corpus, output_dir, **overrides):
    data, tokenizer = corpus
    fields = {
        "output_dir": output_dir, "datasets": str(data), "tokenizer_name_or_path": str(tokenizer),
        "depth": 2, "head_dim": 32, "seq_len": 64, "per_device_train_batch_size": 4, "total_batch_size": 512,
        "max_steps": 30, "validation_documents": 40, "eval_steps": 0, "logging_steps": 2, "save_steps": 0,
        "sample_max_new_tokens": 4, "warmup_steps": 2, "learning_rate": 0.02, "embedding_learning_rate": 0.1,
        "unembedding_learning_rate": 0.01,
    }  # fmt: skip
    fields.update(overrides)
    args = []
    for key, value in fields.items():
        args += [f"--{key}", str(value)]
    return args


def launch_command(args, processes=2):
    return recipe_command("pretrain", args, processes)


def run(args, processes=2, timeout=300):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(
        launch_command(args, processes), capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO_ROOT
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def kill_process_tree(process):
    """SIGKILL a launch and every process under it, as a crashed node would lose them.

    torchrun starts each worker in a session of its own, so killing the launcher's process group leaves the workers
    training on; they are found through the process tree instead.
    """
    tree = psutil.Process(process.pid)
    members = [tree, *tree.children(recursive=True)]
    for member in members:
        member.kill()
    psutil.wait_procs(members, timeout=30)
    process.wait()


def metrics(output_dir):
    return [json.loads(line) for line in (Path(output_dir) / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_cpu_processes_train_and_the_loss_goes_down(corpus, tmp_path):
    out = tmp_path / "run"
    run(run_args(corpus, out, eval_steps=10, eval_tokens=2048))
    records = metrics(out)
    assert {r["world_size"] for r in records} == {2}
    assert [r["step"] for r in records] == list(range(2, 31, 2))
    assert records[-1]["loss"] < 0.6 * records[0]["loss"]
    assert "val_bpb" in records[-1] and records[-1]["val_bpb"] > 0
    assert {"step", "loss", "lr", "tokens", "tokens_per_s"} <= set(records[0])
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.generation_config.eos_token_id is not None
    assert (out / "tokenizer.json").is_file() and (out / "modeling_hfchat.py").is_file()
    assert [p.name for p in sorted(out.glob("checkpoint-*"))] == ["checkpoint-30"]
    assert not list(out.glob("tmp-*"))


@pytest.mark.slow
def test_a_run_killed_after_a_checkpoint_resumes_to_the_same_weights(corpus, tmp_path):
    steps = dict(max_steps=20, save_steps=4, save_total_limit=2)
    uninterrupted = tmp_path / "uninterrupted"
    run(run_args(corpus, uninterrupted, **steps))

    interrupted = tmp_path / "interrupted"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen(
        launch_command(run_args(corpus, interrupted, **steps)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO_ROOT,
    )  # fmt: skip
    deadline = time.time() + 240
    while not (interrupted / "checkpoint-4").is_dir():
        assert process.poll() is None, "the run ended before its first checkpoint"
        assert time.time() < deadline, "no checkpoint within the time limit"
        time.sleep(0.02)
    kill_process_tree(process)
    assert not (interrupted / "model.safetensors").exists(), "the run finished before it was killed"

    run(run_args(corpus, interrupted, resume_from_checkpoint="latest", **steps))
    assert metrics(interrupted)[-1]["world_size"] == 2
    resumed_from = sorted(int(p.name.split("-")[1]) for p in interrupted.glob("checkpoint-*"))
    assert resumed_from[-1] == 20
    expected = load_file(uninterrupted / "model.safetensors")
    got = load_file(interrupted / "model.safetensors")
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    # The metrics of the resumed run continue those of the killed one without duplicates.
    assert [r["step"] for r in metrics(interrupted)] == list(range(2, 21, 2))


@pytest.mark.slow
def test_latest_without_checkpoints_starts_fresh_with_bf16_and_gradient_checkpointing(corpus, tmp_path):
    out = tmp_path / "fresh"
    overrides = dict(max_steps=4, resume_from_checkpoint="latest", bf16=True, gradient_checkpointing=True)
    run(run_args(corpus, out, **overrides), processes=1)
    assert (out / "model.safetensors").is_file()
    assert all(r["loss"] > 0 for r in metrics(out))


@pytest.mark.slow
def test_streaming_sources_train_without_a_tokenizer_given(corpus, tmp_path):
    out = tmp_path / "streamed"
    overrides = dict(max_steps=4, streaming=True, block_size=64, eval_steps=2, eval_tokens=512, vocab_size=300)
    args = run_args(corpus, out, **overrides)
    args = [a for a in args if a not in ("--tokenizer_name_or_path", str(corpus[1]))]
    run(args, processes=2)
    assert (out / "tokenizer" / "tokenizer.json").is_file()  # trained first, from the stream
    records = metrics(out)
    assert records[-1]["step"] == 4 and "val_bpb" in records[-1]
    AutoModelForCausalLM.from_pretrained(out)


@pytest.mark.slow
def test_torch_compile_trains_like_eager_and_its_checkpoints_resume_without_it(corpus, tmp_path):
    """Two processes over gloo with inductor: the losses of eager training, and a checkpoint an eager run resumes."""
    steps = dict(max_steps=6, save_steps=3, logging_steps=1)
    eager, compiled = tmp_path / "eager", tmp_path / "compiled"
    run(run_args(corpus, eager, **steps))
    run(run_args(corpus, compiled, torch_compile=True, **steps), timeout=600)
    for want, got in zip(metrics(eager), metrics(compiled), strict=True):
        assert got["step"] == want["step"]
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-3), got["step"]
    assert load_file(compiled / "checkpoint-3" / "model.safetensors").keys() == load_file(eager / "model.safetensors").keys()

    # The compiled run's step-3 checkpoint, resumed eagerly, goes on with the eager run's losses (a fresh start
    # would begin near 5.8). Weights are not compared: Muon and Adam turn float rounding into lr-sized steps.
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copytree(compiled / "checkpoint-3", resumed / "checkpoint-3")
    run(run_args(corpus, resumed, resume_from_checkpoint="latest", **steps))
    for want, got in zip(metrics(eager)[3:], metrics(resumed), strict=True):
        assert got["step"] == want["step"]
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-3), got["step"]


@pytest.mark.slow
def test_fetch_shards_to_fetches_only_what_the_run_needs_each_process_its_share(corpus, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    repository = tmp_path / "repository"  # laid out like a Hub dataset: data/*.parquet, one train split
    (repository / "data").mkdir(parents=True)
    rng = random.Random(1)
    for shard in range(6):
        texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40))) for _ in range(100)]
        pq.write_table(pa.table({"text": texts}), repository / "data" / f"train-{shard:05d}-of-00006.parquet")
    out, shards = tmp_path / "run", tmp_path / "shards"
    run(run_args(corpus, out, datasets=repository, fetch_shards_to=shards, max_steps=6, eval_steps=3,
                 eval_tokens=512))
    # 6 x 512 training tokens + 512 for validation + 10% need two of the six shards: one for each process.
    fetched = sorted(p.name for p in shards.rglob("*.parquet"))
    assert fetched == ["train-00000-of-00006.parquet", "train-00001-of-00006.parquet"]
    records = metrics(out)
    assert [r["step"] for r in records][-1] == 6 and {r["world_size"] for r in records} == {2}
    assert "val_bpb" in records[-1]
