"""Evaluation items/s with batching against batch size 1, on a generative chat task (`builtin_math`: greedy
replies of up to 48 tokens) and a log-likelihood one (`builtin_preference`: two replies scored per pair).

The model has the tiny preset's shape (4.5M parameters) with random weights whose end-of-turn rows are pushed
down, so every reply is the full 48 tokens and each batch size does the same work; 2 threads; the batch sizes run
in alternating rounds and each figure is the median over rounds.

    python benchmarks/eval_batching.py           # writes benchmarks/results/eval_batching.json
    python benchmarks/eval_batching.py --quick   # fewer items and rounds
"""

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import transformers
from serving import build_model

from hfchat.evaluation.runner import TASKS, load_model

RESULTS = Path(__file__).parent / "results" / "eval_batching.json"
BATCH_SIZES = (1, 8, 32)


def items_per_second(model, tokenizer, task: str, items: int, batch_size: int) -> float:
    start = time.perf_counter()
    details = TASKS[task].run(model, tokenizer, limit=items, batch_size=batch_size)
    return len(details) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    items, rounds = (32, 1) if args.quick else (96, 3)
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        parameters = build_model(folder)
        model, tokenizer = load_model(str(folder))
    report = {"benchmark": "eval_batching", "model": "tiny preset shape, random weights", "parameters": parameters,
              "items": items, "rounds": rounds, "tasks": {}}
    for task in ("builtin_math", "builtin_preference"):
        rates = {size: [] for size in BATCH_SIZES}
        items_per_second(model, tokenizer, task, 8, 8)  # warm-up
        for _ in range(rounds):
            for size in BATCH_SIZES:
                rates[size].append(items_per_second(model, tokenizer, task, items, size))
        medians = {size: statistics.median(r) for size, r in rates.items()}
        report["tasks"][task] = {f"batch_{size}": {"items_per_s": round(medians[size], 2),
                                                   "vs_batch_1": round(medians[size] / medians[1], 2)}
                                 for size in BATCH_SIZES}
    report["environment"] = {"torch": torch.__version__, "transformers": transformers.__version__, "cpu_threads": 2,
                             "python": platform.python_version()}
    print(json.dumps(report, indent=2))
    if not args.quick:
        RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
