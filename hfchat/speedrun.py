"""The main job: tokenizer, pretraining, SFT, DPO and GRPO, one stage after another into one folder.

    hfchat speedrun --preset tiny --output-dir runs/tiny

writes ``runs/tiny/tokenizer/``, ``base/``, ``sft/``, ``dpo/`` and ``grpo/`` (Hugging Face folders), the builtin
tasks' scores after each stage in ``eval/<stage>.json``, and a report card comparing them in ``report.md``. A stage
whose folder is complete is skipped, and an interrupted stage resumes from its last checkpoint, so rerunning the
same command continues a crashed run. Each stage runs the same recipe a user would launch by hand
(`recipes/<stage>.py` with `recipes/<preset>/<stage>.yaml`) under `accelerate launch`, so what the speedrun does is
what the README shows.
"""

import contextlib
import os
import subprocess
import time
from pathlib import Path

from .files import shipped
from .processes import recipe_command
from .run_folder import POST_TRAINING_STAGES, TIMINGS, TOKENIZER, eval_details, eval_summary, read_timings

# held-out items per task after each stage: all 500 math problems (greedy, fast), 200 preference pairs, and bits
# per byte on the builtin stories validation split (all of it: fewer than 1,000 documents)
SPEEDRUN_TASKS = {"builtin_math": 500, "builtin_preference": 200, "bpb": 1000}


RECIPES = shipped("recipes")


def preset_config(preset: str, stage: str) -> Path:
    path = RECIPES / preset / f"{stage}.yaml"
    if not RECIPES.is_dir():
        raise FileNotFoundError(f"speedrun: no recipes/ folder at {RECIPES}: reinstall hfchat")
    if not path.is_file():
        presets = sorted(p.name for p in RECIPES.iterdir() if (p / f"{stage}.yaml").is_file())
        raise ValueError(f"speedrun: unknown --preset {preset!r}; presets with a {stage} stage: {presets}")
    return path


def train_tokenizer_stage(preset: str, output: Path) -> None:
    """Train the preset's tokenizer on the start of the preset's pretraining data and save it to ``output``."""
    from trl import TrlParser

    from .data.sources import load_text_mixture, texts_between
    from .tokenizer import bytes_per_token, train_and_save_tokenizer
    from .training import PretrainConfig

    args = ["--config", str(preset_config(preset, "pretrain")), "--output_dir", str(output.parent / "base")]
    (config,) = TrlParser(PretrainConfig).parse_args_and_config(args=args)
    documents = load_text_mixture(config.datasets, streaming=config.streaming, seed=config.seed)
    started = time.perf_counter()
    count = config.tokenizer_train_documents
    tokenizer = train_and_save_tokenizer(texts_between(documents, 0, count), config.vocab_size, output)
    held_out = list(texts_between(documents, count, count + 1000))
    compression = f", {bytes_per_token(tokenizer, held_out):.2f} bytes/token on held-out text" if held_out else ""
    print(
        f"[speedrun] tokenizer: {len(tokenizer)} tokens from the first {count} documents in "
        f"{time.perf_counter() - started:.1f}s{compression} -> {output}",
        flush=True,
    )


def launch(stage: str, preset: str, args: list[str], processes: int) -> None:
    """Run ``recipes/<stage>.py`` with the preset's YAML under `accelerate launch`."""
    command = recipe_command(stage, ["--config", str(preset_config(preset, stage)), *args], processes,
                             gpu=_cuda_devices() > 0)
    print(f"[speedrun] {' '.join(command)}", flush=True)
    subprocess.run(command, check=True)


def _cuda_devices() -> int:
    import torch

    return torch.cuda.device_count()


def speedrun(
    preset: str,
    output_dir: str | os.PathLike,
    processes: int | None = None,
    max_steps: int | None = None,
    eval_limit: int | None = None,
) -> Path:
    """Run every stage of ``preset`` into ``output_dir``; ``max_steps`` shortens each training stage and
    ``eval_limit`` each evaluation (a smoke run; default: `SPEEDRUN_TASKS`' limits)."""
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    processes = processes or max(_cuda_devices(), 2 if (os.cpu_count() or 1) >= 2 else 1)
    started = time.perf_counter()

    tokenizer_dir = output / TOKENIZER
    if (tokenizer_dir / "tokenizer.json").is_file():
        print(f"[speedrun] tokenizer: {tokenizer_dir} exists, skipped", flush=True)
    else:
        with timed(output, "tokenizer"):
            train_tokenizer_stage(preset, tokenizer_dir)

    base_dir = output / "base"
    if (base_dir / "model.safetensors").is_file():
        print(f"[speedrun] pretraining: {base_dir} exists, skipped", flush=True)
    else:
        args = ["--output_dir", str(base_dir), "--tokenizer_name_or_path", str(tokenizer_dir)]
        if max_steps is not None:
            args += ["--max_steps", str(max_steps)]
        with timed(output, "base"):
            launch("pretrain", preset, args + ["--resume_from_checkpoint", "latest"], processes)
    evaluate_stage(output, "base", eval_limit)

    previous = base_dir
    for stage in POST_TRAINING_STAGES:
        if not (RECIPES / preset / f"{stage}.yaml").is_file():
            print(f"[speedrun] {stage}: the {preset} preset has no {stage}.yaml, skipped", flush=True)
            continue
        stage_dir = output / stage
        if (stage_dir / "model.safetensors").is_file():
            print(f"[speedrun] {stage}: {stage_dir} exists, skipped", flush=True)
        else:
            args = ["--model_name_or_path", str(previous), "--output_dir", str(stage_dir)]
            with timed(output, stage):
                launch(stage, preset, args + (["--max_steps", str(max_steps)] if max_steps is not None else []),
                       processes)
        evaluate_stage(output, stage, eval_limit)
        previous = stage_dir

    minutes = (time.perf_counter() - started) / 60
    from .report import write_report

    report = write_report(output)
    print(f"[speedrun] done in {minutes:.1f} min; report card: {report}\n{report.read_text()}", flush=True)
    print(f"[speedrun] chat model: AutoModelForCausalLM.from_pretrained({str(previous)!r})", flush=True)
    return output


def evaluate_stage(output: Path, stage: str, limit: int | None) -> None:
    """Write ``output/eval/<stage>.json``: the builtin tasks on ``output/<stage>`` (skipped if already there)."""
    from .evaluation.runner import evaluate
    from .files import write_json_atomic

    path = eval_summary(output, stage)
    if path.is_file():
        print(f"[speedrun] eval {stage}: {path} exists, skipped", flush=True)
        return
    started = time.perf_counter()
    limits = {task: min(n, limit or n) for task, n in SPEEDRUN_TASKS.items()}
    with timed(output, f"eval/{stage}"):
        summary = evaluate(str(output / stage), list(limits), limit=limits, output_dir=eval_details(output, stage))
    write_json_atomic(path, summary)
    from .evaluation.registry import scores

    found = ", ".join(f"{task}.{metric} {value:.3f}" for task, metrics in summary["results"].items()
                      for metric, value in scores(metrics).items())
    print(f"[speedrun] eval {stage} ({time.perf_counter() - started:.0f}s): {found}", flush=True)


@contextlib.contextmanager
def timed(output: Path, name: str):
    """Record the wall time of a step that completes in ``output/stages.json`` (``{name: {"seconds": ...}}``), where
    the report card reads it; a step that fails records nothing."""
    from .files import write_json_atomic

    started = time.perf_counter()
    yield
    timings = read_timings(output)
    timings[name] = {"seconds": round(time.perf_counter() - started, 1)}
    write_json_atomic(output / TIMINGS, timings)
