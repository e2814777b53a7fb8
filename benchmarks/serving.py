"""`hfchat serve` throughput: single-stream overhead against raw `generate`, and aggregate tokens/s with time to
first token at 1, 4 and 16 concurrent streams.

The model has the tiny preset's shape (depth 4, width 256, 4,096-token vocabulary, 512-token context) with random
weights whose end-of-text and end-of-turn rows are pushed down, so that every stream generates exactly
``--new-tokens`` tokens. The server is the real command (`hfchat serve`, its own process, 2 torch threads) and the
client streams from TGI's ``/generate_stream`` with httpx (asyncio). Each configuration runs ``--rounds`` times;
figures are medians.

- overhead: 1 - (server single-stream decode tokens/s) / (raw ``model.generate`` tokens/s), same prompt, greedy,
  same length, same thread count; the server figure counts from the first to the last token (decode only), the raw
  one times a ``generate`` call minus the time to its first token. Raw and served runs alternate; the overhead is
  the median of the per-pair figures (this 2-core VM's run-to-run noise is about 20%).
- the same split in two: ``engine_overhead`` is 1 - (the `Engine` in this process, no HTTP) / (raw ``generate``),
  timed the same way in the same rounds: the cost of hfchat's decode loop itself; ``http_overhead`` is
  1 - (served) / (engine in process): the server, the event loop and the client sharing the two cores.
- concurrency c: c streams start together; aggregate tokens/s = all tokens / wall time of the round;
  time to first token per request, p50 and p95 over all rounds.
- for reference, transformers' continuous batching (``generate_batch``) on the same 16 prompts in-process.

    python benchmarks/serving.py            # writes benchmarks/results/serving.json
    python benchmarks/serving.py --quick    # shorter, for a try
"""

import argparse
import asyncio
import copy
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import torch
import transformers
from transformers import GenerationConfig

from hfchat import HFChatConfig, HFChatForCausalLM
from hfchat.data.builtin import builtin_dataset
from hfchat.inference import Engine, SamplingParams
from hfchat.serving.launch import running_server
from hfchat.tokenizer import BOS_TOKEN, IM_END, save_tokenizer, train_tokenizer

RESULTS = Path(__file__).parent / "results" / "serving.json"
PROMPTS = ["Once upon a time", "The little robot", "In a house near the woods", "Tom and his dog"]


def build_model(folder: Path) -> int:
    stories = builtin_dataset("stories", "train").select(range(5000))["text"]
    tokenizer = train_tokenizer(stories, vocab_size=4096)
    torch.manual_seed(0)
    config = HFChatConfig.from_depth(4, vocab_size=len(tokenizer), head_dim=64, max_position_embeddings=512)
    model = HFChatForCausalLM(config)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim > 1:
                parameter.normal_(0, 0.05)
        for token in (BOS_TOKEN, IM_END):
            model.lm_head.weight[tokenizer.convert_tokens_to_ids(token)] = 0.0  # logit 0, never the largest
    im_end = tokenizer.convert_tokens_to_ids(IM_END)
    model.generation_config.eos_token_id = [im_end, tokenizer.eos_token_id]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    save_tokenizer(tokenizer, folder)
    return model.num_parameters()


class InProcessEngine:
    """hfchat's `Engine` in this process, one greedy stream: its decode loop without the server."""

    def __init__(self, folder: Path, new_tokens: int):
        self.engine = Engine.from_pretrained(str(folder))
        self.ids = self.engine.tokenizer(PROMPTS[0])["input_ids"]
        self.params = SamplingParams(max_new_tokens=new_tokens)
        self.decode_tokens_per_s()  # warm-up

    def decode_tokens_per_s(self) -> float:
        """Tokens after the first per second, from the first token to the last."""
        stream = self.engine.submit(self.ids, self.params)
        first, count = None, 0
        for _ in stream:
            count += 1
            first = first or time.perf_counter()
        return (count - 1) / (time.perf_counter() - first)


class RawGenerate:
    """Plain ``model.generate`` in this process (greedy, one prompt): the reference for the server's overhead."""

    def __init__(self, folder: Path, new_tokens: int):
        torch.set_num_threads(2)
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
        self.model = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
        self.inputs = tokenizer(PROMPTS[0], return_tensors="pt")
        self.config = GenerationConfig(do_sample=False, max_new_tokens=new_tokens, pad_token_id=tokenizer.pad_token_id,
                                       eos_token_id=self.model.generation_config.eos_token_id)
        self.first_token = copy.deepcopy(self.config)
        self.first_token.max_new_tokens = 1
        self.decode_tokens_per_s()  # warm-up

    @torch.inference_mode()
    def decode_tokens_per_s(self) -> float:
        """Tokens after the first per second: a full call minus a one-token call (prefill and first token)."""
        start = time.perf_counter()
        self.model.generate(**self.inputs, generation_config=self.first_token)
        first = time.perf_counter() - start
        start = time.perf_counter()
        out = self.model.generate(**self.inputs, generation_config=self.config)
        total = time.perf_counter() - start
        return (out.shape[1] - self.inputs["input_ids"].shape[1] - 1) / (total - first)


def continuous_batching(folder: Path, new_tokens: int, streams: int) -> dict:
    """transformers' own continuous batching on ``streams`` prompts, in-process (a reference, not our server)."""
    torch.set_num_threads(2)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    inputs = [tokenizer(PROMPTS[i % len(PROMPTS)])["input_ids"] for i in range(streams)]
    config = GenerationConfig(do_sample=False, max_new_tokens=new_tokens, eos_token_id=-1,
                              pad_token_id=tokenizer.pad_token_id)
    start = time.perf_counter()
    out = model.generate_batch(inputs, generation_config=config, warmup=False)
    seconds = time.perf_counter() - start
    tokens = sum(len(o.generated_tokens) for o in out.values())
    return {"streams": streams, "tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": tokens / seconds}


async def one_stream(client: httpx.AsyncClient, url: str, prompt: str, new_tokens: int) -> dict:
    body = {"inputs": prompt, "parameters": {"max_new_tokens": new_tokens}}
    start = time.perf_counter()
    first = last = None
    tokens = 0
    async with client.stream("POST", f"{url}/generate_stream", json=body) as response:
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                assert "token" in event, event
                tokens += 1
                last = time.perf_counter()
                first = first or last
    return {"ttft": first - start, "tokens": tokens, "decode_seconds": last - first, "end": last}


async def concurrent_round(url: str, streams: int, new_tokens: int) -> dict:
    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=64)) as client:
        start = time.perf_counter()
        results = await asyncio.gather(*(one_stream(client, url, PROMPTS[i % len(PROMPTS)], new_tokens)
                                         for i in range(streams)))
        wall = max(r["end"] for r in results) - start
    return {"results": results, "wall": wall, "tokens": sum(r["tokens"] for r in results)}


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="64 new tokens, 2 rounds")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    new_tokens, rounds = (64, 2) if args.quick else (args.new_tokens, args.rounds)
    pair_rounds = 3 if args.quick else 3 * rounds

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        parameters = build_model(folder)
        raw = RawGenerate(folder, new_tokens)
        engine = InProcessEngine(folder, new_tokens)
        reference = continuous_batching(folder, new_tokens, 16)
        with running_server(folder, threads=2) as url:
            asyncio.run(concurrent_round(url, 1, 8))  # warm-up
            triples = []  # in turn: raw generate and the engine here (server idle), then a stream through the server
            for _ in range(pair_rounds):
                raw_rate, engine_rate = raw.decode_tokens_per_s(), engine.decode_tokens_per_s()
                served = asyncio.run(concurrent_round(url, 1, new_tokens))["results"][0]
                triples.append((raw_rate, engine_rate, (served["tokens"] - 1) / served["decode_seconds"]))
            engine.engine.close()
            levels = {}
            for streams in (1, 4, 16):
                runs = [asyncio.run(concurrent_round(url, streams, new_tokens)) for _ in range(rounds)]
                ttfts = [r["ttft"] for run in runs for r in run["results"]]
                levels[streams] = {
                    "aggregate_tokens_per_s": round(statistics.median(run["tokens"] / run["wall"] for run in runs), 1),
                    "ttft_p50_s": round(percentile(ttfts, 0.5), 3), "ttft_p95_s": round(percentile(ttfts, 0.95), 3),
                    "tokens_per_stream": runs[0]["results"][0]["tokens"]}
            metrics = httpx.get(f"{url}/metrics", timeout=10).text

    report = {
        "benchmark": "serving", "model": "tiny preset shape (depth 4, width 256), random weights",
        "parameters": parameters,
        "new_tokens": new_tokens, "rounds": rounds,
        "raw_generate_tokens_per_s": round(statistics.median(r for r, _, _ in triples), 1),
        "engine_in_process_tokens_per_s": round(statistics.median(e for _, e, _ in triples), 1),
        "server_single_stream_tokens_per_s": round(statistics.median(s for _, _, s in triples), 1),
        "overhead": round(1 - statistics.median(s / r for r, _, s in triples), 3),
        "overhead_per_pair": [round(1 - s / r, 3) for r, _, s in triples],
        "engine_overhead": round(1 - statistics.median(e / r for r, e, _ in triples), 3),
        "http_overhead": round(1 - statistics.median(s / e for _, e, s in triples), 3),
        "concurrency": levels,
        "speedup_16_vs_1": round(levels[16]["aggregate_tokens_per_s"] / levels[1]["aggregate_tokens_per_s"], 2),
        "transformers_continuous_batching_16": {k: round(v, 1) if isinstance(v, float) else v
                                               for k, v in reference.items()},
        "server_metrics": [line for line in metrics.splitlines()
                           if line.startswith(("hfchat_decode", "hfchat_prefills"))],
        "environment": {"torch": torch.__version__, "transformers": transformers.__version__,
                        "cpu_threads": 2, "python": platform.python_version(), "machine": platform.machine()},
    }
    print(json.dumps(report, indent=2))
    if not args.quick:
        RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
