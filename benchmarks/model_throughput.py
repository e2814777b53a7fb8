"""Our model against transformers' native class of the same shape, on CPU.

Forward+backward tokens/s in fp32 and bf16 autocast (batch 8 x 256), and batch-1 greedy decode tokens/s with the KV
cache, at ~10M and ~40M parameters, 2 threads. Both models hold the same weights; the reference is
Qwen3ForCausalLM (QK-norm) or LlamaForCausalLM (qk_norm=False).

On a shared 2-core VM one training step varies by +-20% from run to run, so the two models are measured in pairs
(alternating which goes first) and the ratio reported is the median of the per-pair ratios, with its interquartile
range; tokens/s are the medians of each model's runs.

    python benchmarks/model_throughput.py                 # full run, writes benchmarks/results/model_throughput.json
    python benchmarks/model_throughput.py --quick         # a smoke run: 10M only, fewer repeats, no JSON
"""

import argparse
import json
import platform
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM

from hfchat import HFChatConfig, HFChatForCausalLM

RESULTS = Path(__file__).parent / "results" / "model_throughput.json"
SIZES = {"10M": dict(depth=4, vocab_size=12288), "40M": dict(depth=8, vocab_size=16384)}


def reference_for(model: HFChatForCausalLM) -> torch.nn.Module:
    """transformers' own class with the same shape and the same weights."""
    c = model.config
    shape = dict(
        vocab_size=c.vocab_size, hidden_size=c.hidden_size, intermediate_size=c.intermediate_size,
        num_hidden_layers=c.num_hidden_layers, num_attention_heads=c.num_attention_heads,
        num_key_value_heads=c.num_key_value_heads, head_dim=c.head_dim, rms_norm_eps=c.rms_norm_eps,
        rope_parameters={"rope_type": "default", "rope_theta": c.rope_theta}, tie_word_embeddings=False,
        max_position_embeddings=c.max_position_embeddings,
    )  # fmt: skip
    if c.qk_norm:
        reference = Qwen3ForCausalLM(Qwen3Config(**shape))
    else:
        reference = LlamaForCausalLM(LlamaConfig(**shape, attention_bias=False, mlp_bias=False))
    reference.load_state_dict(model.state_dict(), strict=True)
    return reference


def time_train_step(model, batch, dtype):
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if dtype == "bf16" else nullcontext()
    start = time.perf_counter()
    with autocast:
        loss = model(batch, labels=batch, use_cache=False).loss
    loss.backward()
    model.zero_grad(set_to_none=True)
    return batch.numel() / (time.perf_counter() - start)


def time_decode(model, prompt, new_tokens):
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(
            prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=0
        )
    elapsed = time.perf_counter() - start
    assert out.shape[1] == prompt.shape[1] + new_tokens
    return new_tokens / elapsed


def measure(ours, reference, fn, warmup, repeats):
    """Time both models in pairs; return their median tokens/s and the quartiles of the paired ratios."""
    pairs = []
    for i in range(warmup + repeats):
        if i % 2:
            b, a = fn(reference), fn(ours)
        else:
            a, b = fn(ours), fn(reference)
        if i >= warmup:
            pairs.append((a, b))
    q1, median_ratio, q3 = statistics.quantiles([a / b for a, b in pairs], n=4)
    return {
        "hfchat": statistics.median(a for a, _ in pairs),
        "reference": statistics.median(b for _, b in pairs),
        "ratio": median_ratio,
        "ratio_q1": q1,
        "ratio_q3": q3,
    }


def run(quick: bool) -> dict:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    warmup, repeats = (1, 4) if quick else (2, 15)
    decode_repeats = repeats if quick else 31  # decode runs are short and noisier: more pairs
    rows = []
    for size, spec in SIZES.items():
        if quick and size != "10M":
            continue
        ours = HFChatForCausalLM(HFChatConfig.from_depth(spec["depth"], vocab_size=spec["vocab_size"]))
        with torch.no_grad():  # a trained-looking model: no zero matrices
            for p in ours.parameters():
                p.normal_(0.0, 0.02) if p.ndim > 1 else p.fill_(1.0)
        reference = reference_for(ours)
        ours.train()
        reference.train()
        ref_name = type(reference).__name__
        params = ours.num_parameters()
        batch = torch.randint(0, spec["vocab_size"], (8, 256))
        for dtype in ("fp32", "bf16"):
            result = measure(ours, reference, lambda m: time_train_step(m, batch, dtype), warmup, repeats)
            task = f"fwd+bwd {dtype} 8x256"
            rows.append(dict(size=size, params=params, reference_class=ref_name, task=task, **result))
        ours.eval()
        reference.eval()
        prompt = torch.randint(0, spec["vocab_size"], (1, 16))
        result = measure(ours, reference, lambda m: time_decode(m, prompt, 32), warmup, decode_repeats)
        task = "decode bs1 fp32 kv-cache"
        rows.append(dict(size=size, params=params, reference_class=ref_name, task=task, **result))
    return {
        "benchmark": "model_throughput",
        "unit": "tokens/s",
        "threads": torch.get_num_threads(),
        "pairs": {"fwd+bwd": repeats, "decode": decode_repeats},
        "decode_tokens": 32,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "machine": platform.processor() or platform.machine(),
        "rows": rows,
    }


def print_table(report: dict) -> None:
    header = (
        f"{'size':<5} {'params':>11} {'task':<26} {'hfchat':>9} {'reference':>9} {'ratio':>6} {'ratio IQR':>13}"
        "  reference class"
    )
    print(header)
    print("-" * len(header))
    for r in report["rows"]:
        print(
            f"{r['size']:<5} {r['params']:>11,} {r['task']:<26} {r['hfchat']:>9.1f} {r['reference']:>9.1f} "
            f"{r['ratio']:>6.3f} {r['ratio_q1']:>6.3f}-{r['ratio_q3']:<6.3f}  {r['reference_class']}"
        )


def markdown_table(report: dict) -> str:
    lines = [
        "| size | parameters | task | hfchat tok/s | reference tok/s | ratio (IQR) | reference |",
        "|---|---:|---|---:|---:|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['size']} | {r['params']:,} | {r['task']} | {r['hfchat']:.1f} | {r['reference']:.1f} | "
            f"{r['ratio']:.3f} ({r['ratio_q1']:.2f}-{r['ratio_q3']:.2f}) | {r['reference_class']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10M only, fewer repeats, results not written")
    parser.add_argument("--markdown", action="store_true", help="print the saved results as a Markdown table")
    args = parser.parse_args()
    if args.markdown:
        print(markdown_table(json.loads(RESULTS.read_text())))
        return
    report = run(args.quick)
    print_table(report)
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        tmp = RESULTS.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        tmp.replace(RESULTS)
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
