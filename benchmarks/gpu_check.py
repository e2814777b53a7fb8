"""The GPU check: what a lent H100/H200 says about the d12 and d20 presets, in one run of a few minutes.

For each preset: pretraining steps in bf16 autocast (the preset's model, Muon and AdamW groups, gradient clipping,
random tokens already on the device, so that the GPU alone is timed) eagerly and under ``torch.compile``, with SDPA
and, where the ``flash_attn`` package imports, flash-attention-2; tokens/s and MFU against the chip's dense bf16
peak; the peak memory of the eager steps against `hfchat plan`'s estimate at the same batch (the plan's batch for
this GPU). Then bf16 logits against float32 on the last model, and a short greedy generation with the KV cache.
Each timed step is one forward and backward of the batch and one optimizer step (no accumulation).

    bash benchmarks/gpu_check.sh            # on the GPU machine: writes benchmarks/results/gpu_check.json
    bash benchmarks/gpu_check.sh --dry-run  # every step on a tiny shape on CPU, as the tests run it
"""

import argparse
import importlib.util
import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import transformers

from hfchat import HFChatForCausalLM
from hfchat.files import write_json_atomic
from hfchat.training import PretrainConfig
from hfchat.training.config import read_pretrain_config
from hfchat.training.loop import PEAK_BF16_FLOPS
from hfchat.training.optim import build_optimizers
from hfchat.training.plan import (
    CUDA_CONTEXT_BYTES,
    GIB,
    device_memory_gb,
    measure_activations,
    model_config_for,
    plan_pretraining,
)

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "gpu_check.json"
PRESETS = ("d12", "d20")
# --dry-run: each preset at a sixth of its depth and this shape, in float32 (CPU autocast would time bf16 emulation).
DRY_SHAPE = dict(seq_len=64, vocab_size=512, total_batch_size=64 * 4, per_device_train_batch_size=2, bf16=False)
WARMUP_STEPS, TIMED_STEPS = 3, 10
GENERATED_TOKENS = 64


def preset_config(preset: str, dry_run: bool) -> PretrainConfig:
    config = read_pretrain_config(REPO / "recipes" / preset / "pretrain.yaml")
    return replace(config, depth=config.depth // 6, **DRY_SHAPE) if dry_run else config


def planned_batch(config: PretrainConfig, device: torch.device) -> tuple[int, float | None]:
    """The plan's eager batch on one GPU of this device's memory, and its estimated peak (GB, no CUDA context)."""
    if device.type != "cuda":
        return int(config.per_device_train_batch_size), None
    plan = plan_pretraining(config, 1, device_memory_gb(device, 1), gradient_checkpointing=False,
                            activations=measure_activations(model_config_for(config), bf16=config.bf16))
    return plan.per_device_train_batch_size, plan.peak_gb - CUDA_CONTEXT_BYTES / GIB


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_steps(config: PretrainConfig, batch: int, attention: str, compiled: bool, device: torch.device,
                peak_flops: float | None) -> tuple[dict, HFChatForCausalLM]:
    torch.manual_seed(0)
    model = HFChatForCausalLM._from_config(model_config_for(config), attn_implementation=attention).to(device)
    optimizers = build_optimizers(model, config)
    forward = torch.compile(model) if compiled else model
    rows = torch.randint(0, model.config.vocab_size, (batch, config.seq_len + 1), device=device)
    inputs, targets = rows[:, :-1], rows[:, 1:].contiguous()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16)

    def step() -> float:
        with autocast:
            loss = forward(input_ids=inputs, labels=targets, shift_labels=targets, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        for optimizer in optimizers:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return loss.item()

    model.train()
    started = time.perf_counter()
    for _ in range(WARMUP_STEPS):
        step()
    synchronize(device)
    warmup_s = time.perf_counter() - started
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    losses = [step() for _ in range(TIMED_STEPS)]
    synchronize(device)
    seconds = time.perf_counter() - started
    tokens_per_s = TIMED_STEPS * batch * config.seq_len / seconds
    row = {
        "attention": attention, "compiled": compiled, "batch": batch, "seq_len": config.seq_len,
        "warmup_s": round(warmup_s, 2), "step_s": seconds / TIMED_STEPS, "tokens_per_s": tokens_per_s,
        "mfu": model.flops_per_token(config.seq_len) * tokens_per_s / peak_flops if peak_flops else None,
        "first_loss": losses[0], "last_loss": losses[-1],
        "peak_memory_gb": torch.cuda.max_memory_allocated(device) / GIB if device.type == "cuda" else None,
    }  # fmt: skip
    return row, model


@torch.no_grad()
def bf16_against_float32(model: HFChatForCausalLM, seq_len: int, device: torch.device) -> dict:
    model.eval()
    input_ids = torch.randint(0, model.config.vocab_size, (2, seq_len), device=device)
    full = model(input_ids=input_ids, use_cache=False).logits.float()
    with torch.autocast(device.type, dtype=torch.bfloat16):
        half = model(input_ids=input_ids, use_cache=False).logits.float()
    return {
        "max_abs_difference": (half - full).abs().max().item(),
        "relative_difference": ((half - full).norm() / full.norm()).item(),
        "top1_agreement": (half.argmax(-1) == full.argmax(-1)).float().mean().item(),
    }


@torch.no_grad()
def short_generation(model: HFChatForCausalLM, device: torch.device, bf16: bool) -> dict:
    model.eval()
    prompt = torch.randint(0, model.config.vocab_size, (1, 16), device=device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        model.generate(prompt, max_new_tokens=4, do_sample=False)  # warm-up
        synchronize(device)
        started = time.perf_counter()
        output = model.generate(prompt, max_new_tokens=GENERATED_TOKENS, min_new_tokens=GENERATED_TOKENS,
                                do_sample=False, pad_token_id=0)
        synchronize(device)
    seconds = time.perf_counter() - started
    return {"new_tokens": output.shape[1] - prompt.shape[1], "tokens_per_s": GENERATED_TOKENS / seconds}


def check(dry_run: bool, output: Path) -> dict:
    if not dry_run and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device here; --dry-run runs every step on tiny shapes on CPU")
    device = torch.device("cpu" if dry_run else "cuda")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    peak_flops = next((peak for key, peak in PEAK_BF16_FLOPS.items() if key in name), None)
    attentions = ["sdpa"]
    if device.type == "cuda" and importlib.util.find_spec("flash_attn") is not None:
        attentions.append("flash_attention_2")
    report = {
        "benchmark": "gpu_check", "dry_run": dry_run, "device": name, "peak_bf16_flops": peak_flops,
        "device_memory_gb": device_memory_gb(device, 1), "torch": torch.__version__,
        "transformers": transformers.__version__, "cuda": torch.version.cuda, "presets": {},
    }  # fmt: skip
    for preset in PRESETS:
        config = preset_config(preset, dry_run)
        batch, estimated_gb = planned_batch(config, device)
        rows, model = [], None
        for attention in attentions:
            for compiled in (False, True):
                del model  # the previous run's, before the next one takes its memory
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                try:
                    row, model = train_steps(config, batch, attention, compiled, device, peak_flops)
                except Exception as error:  # one failing variant (a kernel, a compile) must not lose the others
                    row = {"attention": attention, "compiled": compiled, "batch": batch, "error": repr(error)}
                    model = None
                if estimated_gb is not None and "error" not in row and not compiled:
                    row["estimated_peak_memory_gb"] = estimated_gb
                    row["measured_over_estimated"] = row["peak_memory_gb"] / estimated_gb
                rows.append(row)
                print(json.dumps({"preset": preset, **row}), file=sys.stderr, flush=True)
        if model is None:  # every variant failed: the checks below run on a fresh model
            model = HFChatForCausalLM._from_config(model_config_for(config), attn_implementation="sdpa").to(device)
        report["presets"][preset] = {
            "parameters": model.num_parameters(), "steps": rows,
            "bf16_logits": attempt(bf16_against_float32, model, config.seq_len, device),
            "generation": attempt(short_generation, model, device, bf16=config.bf16),
        }  # fmt: skip
        write_json_atomic(output, report)  # after each preset, so a run cut off at its time limit keeps what it measured
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return report


def attempt(check_function, *args, **kwargs) -> dict:
    try:
        return check_function(*args, **kwargs)
    except Exception as error:
        return {"error": repr(error)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny shapes on CPU: every step, no GPU needed")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON report (default: {RESULTS})")
    args = parser.parse_args(argv)
    check(args.dry_run, args.output)
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
