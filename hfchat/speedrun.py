"""The main job: train a tokenizer, pretrain, and show samples, one stage after another into one folder.

    hfchat speedrun --preset tiny --output-dir runs/tiny

writes ``runs/tiny/tokenizer/`` and ``runs/tiny/base/`` (Hugging Face folders). A stage whose folder is complete is
skipped, and an interrupted pretraining resumes from its last checkpoint, so rerunning the same command continues a
crashed run. Each stage runs the same recipe a user would launch by hand (`recipes/<stage>.py` with
`recipes/<preset>/<stage>.yaml`) under `accelerate launch`, so what the speedrun does is what the README shows.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RECIPES = REPO_ROOT / "recipes"
ACCELERATE_CONFIGS = REPO_ROOT / "accelerate_configs"


def preset_config(preset: str, stage: str) -> Path:
    path = RECIPES / preset / f"{stage}.yaml"
    if not RECIPES.is_dir():
        raise FileNotFoundError(f"speedrun: no recipes/ folder at {RECIPES}; run hfchat from a clone of the repository")
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
    on_gpu = _cuda_devices() > 0
    accelerate_config = ACCELERATE_CONFIGS / ("ddp.yaml" if on_gpu else "cpu.yaml")
    command = [
        str(Path(sys.executable).parent / "accelerate"), "launch", "--config_file", str(accelerate_config),
        "--num_processes", str(processes), str(RECIPES / f"{stage}.py"),
        "--config", str(preset_config(preset, stage)), *args,
    ]  # fmt: skip
    if processes == 1:  # accelerate refuses a multi-process config with one process; plain python does the same job
        command = [sys.executable, str(RECIPES / f"{stage}.py"), "--config", str(preset_config(preset, stage)), *args]
    print(f"[speedrun] {' '.join(command)}", flush=True)
    subprocess.run(command, check=True, cwd=REPO_ROOT)


def _cuda_devices() -> int:
    import torch

    return torch.cuda.device_count()


def speedrun(
    preset: str, output_dir: str | os.PathLike, processes: int | None = None, max_steps: int | None = None
) -> Path:
    """Run every stage of ``preset`` into ``output_dir``; ``max_steps`` shortens each training stage (a smoke run)."""
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    processes = processes or max(_cuda_devices(), 2 if (os.cpu_count() or 1) >= 2 else 1)
    started = time.perf_counter()

    tokenizer_dir = output / "tokenizer"
    if (tokenizer_dir / "tokenizer.json").is_file():
        print(f"[speedrun] tokenizer: {tokenizer_dir} exists, skipped", flush=True)
    else:
        train_tokenizer_stage(preset, tokenizer_dir)

    base_dir = output / "base"
    if (base_dir / "model.safetensors").is_file():
        print(f"[speedrun] pretraining: {base_dir} exists, skipped", flush=True)
    else:
        args = ["--output_dir", str(base_dir), "--tokenizer_name_or_path", str(tokenizer_dir)]
        if max_steps is not None:
            args += ["--max_steps", str(max_steps)]
        launch("pretrain", preset, args + ["--resume_from_checkpoint", "latest"], processes)

    minutes = (time.perf_counter() - started) / 60
    print(f"[speedrun] done in {minutes:.1f} min: base model in {base_dir}", flush=True)
    print(f"[speedrun] load it with AutoModelForCausalLM.from_pretrained({str(base_dir)!r})", flush=True)
    return output
