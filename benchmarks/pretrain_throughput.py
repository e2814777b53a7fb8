"""Tokens/s of the pretraining recipe's training step against a plain PyTorch loop, on CPU.

The recipe (`hfchat.training.pretrain`: data stream, accelerate, grad clipping, LR schedule, metrics) runs the tiny
preset's model on the builtin stories with AdamW, with Muon, and with Muon under ``torch_compile`` (inductor; the
first window, which holds the compilation, is dropped like every run's); the reference is a bare loop over
`Qwen3ForCausalLM` of the same shape and weights with AdamW on pre-built batches (no data pipeline at all). Each is
timed over the same number of steps, the runs alternate, and the recipe's figure is the median of its logged windows
(from metrics.jsonl) after the first one. One process, 2 threads.

    python benchmarks/pretrain_throughput.py            # writes benchmarks/results/pretrain_throughput.json
"""

import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import transformers
from accelerate.state import AcceleratorState
from transformers import Qwen3Config, Qwen3ForCausalLM

from hfchat import HFChatConfig, save_tokenizer, train_tokenizer
from hfchat.data.builtin import builtin_dataset
from hfchat.files import write_json_atomic
from hfchat.training import PretrainConfig, pretrain

RESULTS = Path(__file__).parent / "results" / "pretrain_throughput.json"
SHAPE = dict(depth=4, head_dim=64, seq_len=256, per_device_train_batch_size=16)
STEPS, LOGGING_STEPS, ROUNDS = 20, 5, 2


def recipe_tokens_per_s(tokenizer_dir: Path, optimizer: str, torch_compile: bool = False) -> float:
    with tempfile.TemporaryDirectory() as out:
        config = PretrainConfig(
            output_dir=out, tokenizer_name_or_path=str(tokenizer_dir), datasets=["builtin:stories"],
            validation_split="validation", total_batch_size=SHAPE["seq_len"] * SHAPE["per_device_train_batch_size"],
            max_steps=STEPS, logging_steps=LOGGING_STEPS, eval_steps=0, save_steps=0, optimizer=optimizer,
            sample_prompts=[], torch_compile=torch_compile, max_position_embeddings=SHAPE["seq_len"], **SHAPE,
        )  # fmt: skip
        pretrain(config)
        AcceleratorState._reset_state(reset_partial_state=True)
        windows = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(w["tokens_per_s"] for w in windows[1:])


def reference_model(vocab_size: int) -> Qwen3ForCausalLM:
    ours = HFChatConfig.from_depth(SHAPE["depth"], vocab_size=vocab_size, head_dim=SHAPE["head_dim"])
    return Qwen3ForCausalLM(
        Qwen3Config(
            vocab_size=vocab_size, hidden_size=ours.hidden_size, intermediate_size=ours.intermediate_size,
            num_hidden_layers=ours.num_hidden_layers, num_attention_heads=ours.num_attention_heads,
            num_key_value_heads=ours.num_key_value_heads, head_dim=ours.head_dim, tie_word_embeddings=False,
            max_position_embeddings=SHAPE["seq_len"],
        )
    )  # fmt: skip


def reference_tokens_per_s(vocab_size: int) -> float:
    """A bare training loop: Qwen3ForCausalLM of the same shape, AdamW, random batches already in memory."""
    model = reference_model(vocab_size).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batch = torch.randint(0, vocab_size, (SHAPE["per_device_train_batch_size"], SHAPE["seq_len"] + 1))
    times = []
    for step in range(STEPS):
        started = time.perf_counter()
        inputs, targets = batch[:, :-1], batch[:, 1:].contiguous()
        loss = model(input_ids=inputs, labels=targets, shift_labels=targets, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - started)
    tokens = SHAPE["per_device_train_batch_size"] * SHAPE["seq_len"]
    # Same windows as the recipe's metrics: LOGGING_STEPS steps each, the first one dropped.
    windows = [sum(times[i : i + LOGGING_STEPS]) for i in range(0, STEPS, LOGGING_STEPS)]
    return statistics.median(LOGGING_STEPS * tokens / w for w in windows[1:])


def main() -> None:
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as folder:
        tokenizer_dir = Path(folder) / "tokenizer"
        texts = builtin_dataset("stories", "train").select(range(20000))["text"]
        tokenizer = train_tokenizer(texts, vocab_size=4096)
        save_tokenizer(tokenizer, tokenizer_dir)
        samples = {"recipe adamw": [], "recipe muon": [], "recipe muon compiled": [], "plain loop adamw": []}
        params = reference_model(len(tokenizer)).num_parameters()
        for _ in range(ROUNDS):
            samples["recipe adamw"].append(recipe_tokens_per_s(tokenizer_dir, "adamw"))
            samples["plain loop adamw"].append(reference_tokens_per_s(len(tokenizer)))
            samples["recipe muon"].append(recipe_tokens_per_s(tokenizer_dir, "muon"))
            samples["recipe muon compiled"].append(recipe_tokens_per_s(tokenizer_dir, "muon", torch_compile=True))
    reference = statistics.median(samples["plain loop adamw"])
    rows = [
        {"run": name, "tokens_per_s": statistics.median(values), "ratio": statistics.median(values) / reference,
         "samples": values}
        for name, values in samples.items()
    ]  # fmt: skip
    report = {
        "benchmark": "pretrain_throughput",
        "shape": SHAPE,
        "parameters": params,
        "steps_per_run": STEPS,
        "rounds": ROUNDS,
        "threads": torch.get_num_threads(),
        "reference": "Qwen3ForCausalLM, bare loop, AdamW, batches in memory",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "machine": platform.processor() or platform.machine(),
        "rows": rows,
    }
    print(f"{'run':<21} {'tokens/s':>9} {'ratio':>6}")
    for row in rows:
        print(f"{row['run']:<21} {row['tokens_per_s']:>9.1f} {row['ratio']:>6.3f}")
    write_json_atomic(RESULTS, report)
    print(f"wrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
