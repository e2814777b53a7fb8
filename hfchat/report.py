"""The report card of a run folder (what ``hfchat speedrun`` writes): ``hfchat report --run runs/tiny``.

Writes ``RUN/report.md`` with the environment (hardware, library versions, git commit), the model, each stage's wall
time, tokens, throughput, MFU and final loss, and the evaluation table across stages, plus two plots beside it:
``RUN/report_loss.png`` (training loss of every stage, GRPO's mean reward) and ``RUN/report_eval.png`` (each task's main score by
stage). It reads only what the stages leave behind: ``base/metrics.jsonl`` (pretraining), ``<stage>/trainer_state.json``
(or the newest checkpoint's, for SFT, DPO and GRPO), ``stages.json`` (the speedrun's wall times) and
``eval/<stage>.json``; a missing piece shows as "-".
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import subprocess
from pathlib import Path

from .evaluation.registry import MAIN_METRICS, scores
from .files import REPO_ROOT, write_text_atomic
from .run_folder import REPORT, STAGES, eval_summary, read_timings

PACKAGES = ("torch", "transformers", "trl", "accelerate", "datasets", "peft", "huggingface_hub", "tokenizers")


def environment() -> dict:
    """Hardware, versions and the git commit of the code that wrote the report."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        memory = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        memory = "-"
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    versions = {name: version or "-" for name, version in package_versions(("hfchat", *PACKAGES)).items()}
    return {"platform": platform.platform(), "python": platform.python_version(), "cpu": cpu,
            "cpu_cores": os.cpu_count(), "memory": memory,
            "gpus": f"{len(gpus)} x {gpus[0]}" if gpus else "none", "versions": versions, "git": git_commit()}


def package_versions(names) -> dict[str, str | None]:
    """``{name: installed version, or None}`` for each distribution name."""
    import importlib.metadata

    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> str:
    """The repository's commit (with "+ changes" when the tree differs from it), or "-" outside a clone."""
    if not (REPO_ROOT / ".git").exists():  # an installed wheel
        return "-"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "-"
    return f"{commit} + changes" if dirty else commit


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def trainer_log(stage_dir: Path) -> list[dict]:
    """The stage's `Trainer` log history (see `trainer_state`)."""
    return trainer_state(stage_dir).get("log_history", [])


def trainer_state(stage_dir: Path) -> dict:
    """The stage's `Trainer` state: the final folder's ``trainer_state.json``, else the newest checkpoint's."""
    candidates = [stage_dir / "trainer_state.json"]
    checkpoints = sorted(stage_dir.glob("checkpoint-*/trainer_state.json"),
                         key=lambda p: int(p.parent.name.split("-")[-1]) if p.parent.name.split("-")[-1].isdigit()
                         else -1)
    candidates += checkpoints[::-1]
    for path in candidates:
        state = _read_json(path)
        if state and state.get("log_history"):
            return state
    return {}


def pretrain_log(stage_dir: Path) -> list[dict]:
    try:
        lines = (stage_dir / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def stage_summary(run: Path, stage: str, timings: dict) -> dict:
    """Wall time (s), tokens, tokens/s, MFU, final training loss and (pretraining) validation bpb of one stage."""
    stage_dir = run / stage
    seconds = (timings.get(stage) or {}).get("seconds")
    if stage == "base":
        log = pretrain_log(stage_dir)
        last = log[-1] if log else {}
        rates = [r["tokens_per_s"] for r in log if "tokens_per_s" in r]
        bpb = next((r["val_bpb"] for r in reversed(log) if "val_bpb" in r), None)
        mfu = next((r["mfu"] for r in reversed(log) if "mfu" in r), None)
        return {"seconds": seconds, "tokens": last.get("tokens"), "tokens_per_s": sum(rates) / len(rates) if rates
                else None, "mfu": mfu, "loss": last.get("loss"), "val_bpb": bpb, "steps": last.get("step")}
    state = trainer_state(stage_dir)
    log = state.get("log_history", [])
    losses = [r for r in log if "loss" in r]
    summary = next((r for r in reversed(log) if "train_runtime" in r), {})
    tokens = next((r["num_tokens"] for r in reversed(log) if "num_tokens" in r), None) \
        or state.get("num_input_tokens_seen") or None
    seconds = seconds or summary.get("train_runtime")
    return {"seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds if tokens and seconds else None,
            "mfu": None, "loss": losses[-1]["loss"] if losses else summary.get("train_loss"), "val_bpb": None,
            "steps": state.get("global_step") or (losses[-1].get("step") if losses else None)}


def eval_results(run: Path) -> dict[str, dict]:
    """``{stage: results}`` from ``eval/<stage>.json``."""
    found = {}
    for stage in STAGES:
        summary = _read_json(eval_summary(run, stage))
        if summary:
            found[stage] = summary["results"]
    return found


def eval_table(results: dict[str, dict]) -> str:
    """A markdown table: one row per (task, metric), one column per stage."""
    rows = list(dict.fromkeys((task, metric) for stage_results in results.values()
                              for task, metrics in stage_results.items() for metric in scores(metrics)))
    lines = ["| task | metric | " + " | ".join(results) + " |", "|---|---|" + "---:|" * len(results)]
    for task, metric in rows:
        cells = []
        for stage_results in results.values():
            value = stage_results.get(task, {}).get(metric)
            stderr = stage_results.get(task, {}).get("stderr") if metric == MAIN_METRICS.get(task) else None
            cells.append("" if value is None else f"{value:.3f}" + (f" ± {stderr:.3f}" if stderr else ""))
        lines.append(f"| {task} | {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_value(value, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "seconds":
        return f"{value / 60:.1f} min" if value >= 60 else f"{value:.0f} s"
    if kind == "count":
        return f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value:,.0f}"
    if kind == "percent":
        return f"{value:.1%}"
    return f"{value:,.1f}" if kind == "rate" else f"{value:.4f}"


def plot_losses(run: Path, path: Path) -> bool:
    """Training loss against step for every stage with a log (GRPO: mean reward), one panel per stage."""
    curves = {"base": [(r["step"], r["loss"]) for r in pretrain_log(run / "base") if "loss" in r]}
    for stage in STAGES[1:]:
        key = "reward" if stage == "grpo" else "loss"  # GRPO's loss hovers near 0; its reward is what moves
        curves[stage] = [(r["step"], r[key]) for r in trainer_log(run / stage) if key in r and "step" in r]
    curves = {stage: points for stage, points in curves.items() if points}
    if not curves:
        return False
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(curves), figsize=(3.6 * len(curves), 3.2), squeeze=False)
    for axis, (stage, points) in zip(axes[0], curves.items()):
        axis.plot(*zip(*points), marker="." if len(points) < 30 else None)
        axis.set_title(f"{stage} (mean reward)" if stage == "grpo" else stage)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("training loss")
    figure.tight_layout()
    _save_figure(figure, path)
    return True


def plot_scores(results: dict[str, dict], path: Path) -> bool:
    """Each task's main metric by stage (bits per byte on its own axis: lower is better)."""
    series = {}
    for task, metric in MAIN_METRICS.items():
        points = [(stage, results[stage][task][metric]) for stage in results if metric in results[stage].get(task, {})]
        if points:
            series[f"{task} {metric}"] = points
    if not series:
        return False
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.4, 3.6))
    lower_better = {name: points for name, points in series.items() if name.startswith("bpb")}
    for name, points in series.items():
        if name not in lower_better:
            axis.plot([s for s, _ in points], [v for _, v in points], marker="o", label=name)
    axis.set_ylabel("score (higher is better)")
    axis.set_xlabel("stage")
    axis.grid(alpha=0.3)
    if lower_better:
        twin = axis.twinx()
        for name, points in lower_better.items():
            twin.plot([s for s, _ in points], [v for _, v in points], marker="s", linestyle="--", color="grey",
                      label=name)
        twin.set_ylabel("bits per byte (lower is better)")
        twin.legend(loc="upper right", fontsize=8)
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    _save_figure(figure, path)
    return True


def _pyplot():
    """matplotlib.pyplot drawing to files (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(figure, path: Path) -> None:
    plt = _pyplot()
    tmp = path.with_name(path.name + ".tmp.png")
    figure.savefig(tmp, dpi=110)
    plt.close(figure)
    os.replace(tmp, path)


def model_summary(run: Path) -> str:
    """One line about the model's shape, from the newest stage's config."""
    for stage in reversed(STAGES):
        config = _read_json(run / stage / "config.json")
        if config:
            break
    else:
        return "-"
    layers, hidden = config.get("num_hidden_layers"), config.get("hidden_size")
    heads, vocab = config.get("num_attention_heads"), config.get("vocab_size")
    intermediate, context = config.get("intermediate_size"), config.get("max_position_embeddings")
    parameters = format_value(parameter_count(run / stage), "count")
    return (f"{parameters} parameters: {layers} layers, hidden {hidden}, {heads} heads, MLP {intermediate}, "
            f"vocabulary {vocab}, context {context}, {config.get('hidden_act')} MLP, "
            f"QK-norm {'on' if config.get('qk_norm') else 'off'}")


def parameter_count(folder: Path) -> int | None:
    """The number of parameters in a model folder's safetensors files (every shard), or None without any."""
    from safetensors import safe_open

    files = sorted(Path(folder).glob("*.safetensors"))
    total = 0
    for file in files:
        with safe_open(str(file), "pt") as handle:
            total += sum(math.prod(handle.get_slice(name).get_shape()) for name in handle.keys())  # noqa: SIM118
    return total if files else None


def write_report(run: str | os.PathLike) -> Path:
    """Write ``RUN/report.md`` and its plots; returns the report's path."""
    run = Path(run)
    if not run.is_dir():
        raise ValueError(f"--run {run}: no such folder")
    timings = read_timings(run)
    stages = [stage for stage in STAGES if (run / stage).is_dir()]
    if not stages:
        raise ValueError(f"--run {run}: no stage folders ({', '.join(STAGES)}) in it")
    env = environment()
    results = eval_results(run)
    written = f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
    lines = [f"# Report card: {run}", "", f"Written {written} by hfchat {env['versions']['hfchat']} (git {env['git']}).",
             "", "## Environment", "",
             f"- hardware: {env['cpu']}, {env['cpu_cores']} cores, {env['memory']} memory; GPUs: {env['gpus']}",
             f"- platform: {env['platform']}, Python {env['python']}",
             "- " + ", ".join(f"{name} {version}" for name, version in env["versions"].items() if name != "hfchat"),
             "", "## Model", "", model_summary(run), "", "## Stages", "",
             "| stage | wall time | steps | tokens | tokens/s | MFU | final loss |", "|---|---:|---:|---:|---:|---:|---:|"]
    for stage in stages:
        s = stage_summary(run, stage, timings)
        lines.append(f"| {stage} | {format_value(s['seconds'], 'seconds')} | {format_value(s['steps'], 'count')} | "
                     f"{format_value(s['tokens'], 'count')} | {format_value(s['tokens_per_s'], 'rate')} | "
                     f"{format_value(s['mfu'], 'percent')} | {format_value(s['loss'], 'loss')} |")
    if timings:
        total = sum(entry.get("seconds", 0) for entry in timings.values())
        steps = ", ".join(f"{name} {format_value(entry.get('seconds'), 'seconds')}" for name, entry in timings.items())
        lines += ["", f"Wall time of the recorded steps: {format_value(total, 'seconds')} ({steps})."]
    lines += ["", "## Evaluation", ""]
    lines.append(eval_table(results) if results else "No `eval/<stage>.json` yet (run `hfchat eval`).")
    plots = []
    if plot_losses(run, run / "report_loss.png"):
        plots.append("![training loss by stage](report_loss.png)")
    if results and plot_scores(results, run / "report_eval.png"):
        plots.append("![scores by stage](report_eval.png)")
    if plots:
        lines += ["", "## Plots", "", *plots]
    path = run / REPORT
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
