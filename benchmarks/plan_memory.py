"""`hfchat plan`'s activation estimate against the memory a real CPU training step takes.

For each shape a fresh process builds the model pretraining builds (`new_model_config`), takes one
forward+backward under bf16 autocast (the gradients now exist, as they do from the second accumulation step on),
then resets the kernel's peak-RSS counter (``/proc/self/clear_refs``), takes a second forward+backward and reads
``VmHWM``: the peak minus the RSS before that pass is what the activations and the loss's transients took.
``MALLOC_MMAP_THRESHOLD_=65536`` makes glibc give every freed tensor back to the kernel, so RSS follows the live
tensors. The ratio measured / estimated is printed for each shape, with and without gradient checkpointing.
Linux only.

    python benchmarks/plan_memory.py              # writes benchmarks/results/plan_memory.json
"""

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results" / "plan_memory.json"
SHAPES = [  # (depth, vocab_size, rows, seq_len)
    (4, 8192, 4, 256),
    (6, 16384, 8, 512),
]


def _config(depth: int, vocab_size: int, seq_len: int, checkpointing: bool):
    from hfchat.training import PretrainConfig

    return PretrainConfig(output_dir="unused", depth=depth, vocab_size=vocab_size, seq_len=seq_len, total_batch_size=seq_len,
                          per_device_train_batch_size=1, bf16=True, gradient_checkpointing=checkpointing)


def _status() -> dict[str, int]:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {key: int(fields[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM")}


def worker(depth: int, vocab_size: int, rows: int, seq_len: int, checkpointing: bool) -> dict:
    """One shape in this process: the RSS a second forward+backward adds at its peak."""
    from hfchat.modeling import HFChatForCausalLM
    from hfchat.training.loop import new_model_config

    torch.manual_seed(0)
    model = HFChatForCausalLM(new_model_config(_config(depth, vocab_size, seq_len, checkpointing), vocab_size))
    if checkpointing:
        model.activation_checkpointing_enable()
    model.train()
    ids = torch.randint(0, vocab_size, (rows, seq_len + 1))
    targets = ids[:, 1:].contiguous()

    def forward_backward():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids[:, :-1], labels=targets, shift_labels=targets, use_cache=False).loss
        loss.backward()

    forward_backward()
    before = _status()["VmRSS"]
    Path("/proc/self/clear_refs").write_text("5")
    forward_backward()
    return {"measured_bytes": _status()["VmHWM"] - before}


def estimate(depth: int, vocab_size: int, rows: int, seq_len: int, checkpointing: bool) -> float:
    from hfchat.training.plan import measure_activations, model_config_for

    config = _config(depth, vocab_size, seq_len, checkpointing)
    return measure_activations(model_config_for(config)).total(depth, rows * seq_len, checkpointing)


def measure(shape: tuple, checkpointing: bool) -> dict:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "2"}
    args = [*map(str, shape), str(int(checkpointing))]
    out = subprocess.run([sys.executable, __file__, "--worker", *args], env=env, check=True,
                         capture_output=True, text=True).stdout
    measured = json.loads(out.strip().splitlines()[-1])["measured_bytes"]
    estimated = estimate(*shape, checkpointing)
    depth, vocab_size, rows, seq_len = shape
    return {"depth": depth, "vocab_size": vocab_size, "rows": rows, "seq_len": seq_len,
            "gradient_checkpointing": checkpointing, "estimated_mb": round(estimated / 2**20, 1),
            "measured_mb": round(measured / 2**20, 1), "measured_over_estimated": round(measured / estimated, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=5, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        *shape, checkpointing = args.worker
        print(json.dumps(worker(*shape, checkpointing=bool(checkpointing))))
        return
    rows = [measure(shape, checkpointing) for shape in SHAPES for checkpointing in (False, True)]
    for row in rows:
        print(f"d{row['depth']} V={row['vocab_size']} {row['rows']}x{row['seq_len']} "
              f"checkpointing={row['gradient_checkpointing']}: estimated {row['estimated_mb']} MB, "
              f"measured {row['measured_mb']} MB, ratio {row['measured_over_estimated']}")
    RESULTS.write_text(json.dumps({
        "machine": f"{platform.machine()} {os.cpu_count()} cores", "torch": torch.__version__,
        "method": "VmHWM after clear_refs over a second forward+backward, bf16 autocast, CPU",
        "shapes": rows,
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
