"""SFT tokens/s of our model against `Qwen3ForCausalLM` of the same shape, through the same `SFTTrainer` config.

Both models have the tiny preset's shape (depth 4, width 256, 4,096-token vocabulary) and the same weights (our
state dict loads strictly into Qwen3); both train on the tiny SFT preset's data (builtin chat with tool calls and
worked math, packed into 512-token rows, assistant-only loss) with the same `SFTConfig`, seed and batches. The runs
alternate, and so does which model goes first in a round; a run's figure is the tokens trained per second between
the end of its second step and the end of its last, and the ratio is the median of the per-round ratios. One
process, 2 threads.

    python benchmarks/sft_throughput.py            # writes benchmarks/results/sft_throughput.json
    python benchmarks/sft_throughput.py --quick    # fewer steps and rounds, for a try
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
import trl
from model_throughput import reference_for
from transformers import TrainerCallback
from trl import DatasetMixtureConfig, SFTConfig, SFTTrainer

from hfchat import HFChatConfig, HFChatForCausalLM
from hfchat.data.builtin import builtin_dataset
from hfchat.data.mixture import load_mixture
from hfchat.tokenizer import save_tokenizer, train_tokenizer

RESULTS = Path(__file__).parent / "results" / "sft_throughput.json"
MIXTURE = [{"path": "builtin:chat", "split": "train[:400]"}, {"path": "builtin:math", "split": "train[:1600]"}]


class StepClock(TrainerCallback):
    """Wall time and tokens seen at the end of every optimizer step."""

    def __init__(self):
        self.marks: list[tuple[float, int]] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.marks.append((time.perf_counter(), state.num_input_tokens_seen))


def train_once(folder: Path, dataset, tokenizer, steps: int, scratch: Path) -> float:
    """Tokens/s of `steps` SFT steps of the model saved in ``folder`` (from the end of step 2 on)."""
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)
    config = SFTConfig(
        output_dir=str(scratch), bf16=False, use_cpu=True, seed=42, max_steps=steps, learning_rate=3e-3,
        max_length=512, packing=True, per_device_train_batch_size=1, gradient_accumulation_steps=8,
        assistant_only_loss=True, gradient_checkpointing=False, dataset_num_proc=1, save_strategy="no",
        report_to=[], logging_steps=1, include_num_input_tokens_seen="non_padding", disable_tqdm=True,
    )  # fmt: skip
    clock = StepClock()
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                         callbacks=[clock])
    trainer.train()
    (start, start_tokens), (end, end_tokens) = clock.marks[1], clock.marks[-1]
    return (end_tokens - start_tokens) / (end - start)


def run(quick: bool) -> dict:
    torch.set_num_threads(2)
    steps, rounds = (6, 1) if quick else (14, 4)
    stories = builtin_dataset("stories")["text"]
    tokenizer = train_tokenizer(stories[:20000], vocab_size=4096)
    dataset = load_mixture(DatasetMixtureConfig(datasets=MIXTURE), "sft")["train"]
    torch.manual_seed(0)
    ours = HFChatForCausalLM(HFChatConfig.from_depth(4, head_dim=64, vocab_size=len(tokenizer),
                                                     max_position_embeddings=512))
    with tempfile.TemporaryDirectory() as tmp:
        folders = {"hfchat": Path(tmp) / "hfchat", "Qwen3ForCausalLM": Path(tmp) / "qwen3"}
        ours.save_pretrained(folders["hfchat"])
        reference_for(ours).save_pretrained(folders["Qwen3ForCausalLM"])
        for folder in folders.values():
            save_tokenizer(tokenizer, folder)
        speeds = {name: [] for name in folders}
        for round_index in range(rounds):  # the order alternates, so neither model always runs first
            order = list(folders.items())[:: 1 if round_index % 2 == 0 else -1]
            for name, folder in order:
                speeds[name].append(train_once(folder, dataset, tokenizer, steps, Path(tmp) / "out"))
    ratios = [a / b for a, b in zip(speeds["hfchat"], speeds["Qwen3ForCausalLM"])]
    return {
        "benchmark": "sft_throughput",
        "setup": f"SFTTrainer, tiny preset shape ({ours.num_parameters():,} parameters), packed 8 x 512-token rows "
                 f"per step, assistant-only loss, {steps} steps per run, {rounds} alternating rounds, 1 process, "
                 "2 threads, fp32",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__,
                     "python": platform.python_version()},
        "tokens_per_second": {name: round(statistics.median(v), 1) for name, v in speeds.items()},
        "runs": {name: [round(x, 1) for x in v] for name, v in speeds.items()},
        "ratio": round(statistics.median(ratios), 3),
        "ratio_per_round": [round(r, 3) for r in ratios],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and one round")
    args = parser.parse_args()
    report = run(args.quick)
    print("| model | SFT tokens/s | ratio |\n|---|---:|---:|")
    reference = report["tokens_per_second"]["Qwen3ForCausalLM"]
    for name, speed in report["tokens_per_second"].items():
        print(f"| {name} | {speed:.1f} | {speed / reference:.3f} |")
    print(f"median per-round ratio: {report['ratio']} (rounds: {report['ratio_per_round']})")
    if not args.quick:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
