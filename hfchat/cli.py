"""The `hfchat` command: one table of subcommands.

Each entry of `COMMANDS` names a function that adds the subcommand's arguments and a function that runs it, so
`hfchat --help` lists every stage without importing the heavy modules behind them.
"""

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass

from .config_flags import add_dataclass_arguments, from_namespace, name_flags


@dataclass(frozen=True)
class Command:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]


def _add_size_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--depth", type=int, required=True, help="number of layers; the width follows from it")
    parser.add_argument("--vocab-size", type=int, default=65536, help="vocabulary size (default: 65536)")
    parser.add_argument("--seq-len", type=int, default=2048, help="context length for the FLOPs estimate")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _run_size(args: argparse.Namespace) -> int:
    from .modeling.size import size_summary

    summary = size_summary(args.depth, vocab_size=args.vocab_size, seq_len=args.seq_len)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        width = max(map(len, summary))
        for key, value in summary.items():
            print(f"{key:<{width}}  {value:,}")
    return 0


def _add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    from .training.plan import DEFAULT_MFU

    parser.add_argument("--preset", default="d20", help="recipes/<preset>/pretrain.yaml to plan (default: d20)")
    parser.add_argument("--config", default=None, help="a pretraining YAML instead of a preset")
    parser.add_argument("--gpus", type=int, default=8, help="processes, one per GPU (default: 8)")
    parser.add_argument("--gpu-memory", type=float, default=80, help="GB of memory per GPU (default: 80)")
    parser.add_argument("--gpu", default="H100", help="GPU name for its bf16 peak FLOP/s (default: H100)")
    parser.add_argument("--mfu", type=float, default=DEFAULT_MFU,
                        help=f"model FLOPs utilisation for the step time (default: {DEFAULT_MFU})")
    parser.add_argument("--headroom", type=float, default=0.1, help="fraction of memory left free (default: 0.1)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _run_plan(args: argparse.Namespace) -> int:
    from .files import shipped
    from .training.config import read_pretrain_config
    from .training.loop import PEAK_BF16_FLOPS
    from .training.plan import format_plans, measure_activations, model_config_for, plan_pretraining

    name = args.config or f"recipes/{args.preset}/pretrain.yaml"
    path = args.config or shipped("recipes") / args.preset / "pretrain.yaml"
    if args.gpu not in PEAK_BF16_FLOPS:
        print(f"hfchat plan: --gpu {args.gpu!r} is not one of {sorted(PEAK_BF16_FLOPS)}", file=sys.stderr)
        return 2
    try:
        config = read_pretrain_config(path)
        activations = measure_activations(model_config_for(config), bf16=config.bf16)
        plans = [plan_pretraining(config, args.gpus, args.gpu_memory, headroom=args.headroom, mfu=args.mfu,
                                  peak_flops=PEAK_BF16_FLOPS[args.gpu], gradient_checkpointing=checkpointing,
                                  activations=activations) for checkpointing in (False, True)]
    except (OSError, TypeError, ValueError) as error:
        print(f"hfchat plan: {name}: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([plan.as_dict() for plan in plans], indent=2))
    else:
        print(format_plans(f"{name} on {args.gpu}", plans))
    return 0


def _add_fetch_shards_arguments(parser: argparse.ArgumentParser) -> None:
    from .data.shards import DEFAULT_MARGIN

    parser.add_argument("dataset", nargs="?", help="Hub dataset id or local folder (default: the preset's first source)")
    parser.add_argument("--name", default=None, help="dataset config (default: the preset's, if any)")
    parser.add_argument("--split", default="train", help="split (default: train)")
    parser.add_argument("--column", default="text", help="text column (default: text)")
    parser.add_argument("--dest", required=True, help="folder the shards go into (a pretraining `datasets` path)")
    parser.add_argument("--tokens", type=float, default=None, help="token budget (default: the preset's training "
                        "tokens plus its eval_tokens)")
    parser.add_argument("--preset", default=None, help="recipes/<preset>/pretrain.yaml for the budget and source")
    parser.add_argument("--tokenizer", default=None, help="tokenizer for bytes per token (default: a BPE of the "
                        "preset's vocab_size trained on the first shard's first 10,000 documents)")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN,
                        help=f"extra fraction over the budget (default: {DEFAULT_MARGIN})")
    parser.add_argument("--workers", type=int, default=8, help="parallel downloads (default: 8)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a summary")


def _run_fetch_shards(args: argparse.Namespace) -> int:
    from .data.shards import fetch_for_budget, list_shards
    from .data.sources import TextSource
    from .files import shipped
    from .training.config import read_pretrain_config

    try:
        dataset, name, tokens, vocab_size = args.dataset, args.name, args.tokens, 65536
        if args.preset is not None:
            config = read_pretrain_config(shipped("recipes") / args.preset / "pretrain.yaml")
            source = TextSource.parse(config.datasets[0])
            dataset, name = dataset or source.path, name or source.name
            tokens = tokens or _training_tokens(config) + config.eval_tokens
            vocab_size = config.vocab_size
        if dataset is None or tokens is None:
            raise ValueError("give a dataset and --tokens, or --preset")
        if args.tokenizer is not None:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
        else:
            tokenizer = _tokenizer_from_first_shard(list_shards(dataset, name, args.split)[0], args, vocab_size)
        summary = fetch_for_budget(dataset, name, args.dest, int(tokens), tokenizer, split=args.split,
                                   column=args.column, margin=args.margin, workers=args.workers)
    except (OSError, ValueError) as error:
        print(f"hfchat fetch-shards: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        def size(n: int) -> str:
            return f"{n / 1024**3:.2f} GB" if n >= 1024**3 else f"{n / 1024**2:.1f} MB"

        print(f"{summary['fetched']} of {summary['shards']} shards ({size(summary['fetched_bytes'])} of "
              f"{size(summary['all_bytes'])}) in {summary['folder']}: about {summary['estimated_tokens']:.3g} tokens "
              f"at {summary['bytes_per_token']:.3f} bytes per token for {summary['tokens_asked']:.3g} asked "
              f"(+{summary['margin']:.0%})")
        print(f"pretrain on them with `datasets: [{{path: {summary['folder']}}}]`")
    return 0


def _training_tokens(config) -> int:
    import torch

    from .modeling import HFChatForCausalLM
    from .training.loop import total_steps
    from .training.plan import model_config_for

    with torch.device("meta"):
        parameters = HFChatForCausalLM(model_config_for(config)).num_parameters()
    return total_steps(config, parameters) * config.total_batch_size


def _tokenizer_from_first_shard(shard, args: argparse.Namespace, vocab_size: int):
    """A BPE trained on the first shard's first 10,000 documents (fetched into --dest first)."""
    import pyarrow.parquet as pq

    from .data.shards import ShardFetcher
    from .tokenizer import train_tokenizer

    path = ShardFetcher([shard], args.dest, workers=1, progress=False).close()[0]
    batch = next(pq.ParquetFile(path).iter_batches(batch_size=10_000, columns=[args.column]))
    return train_tokenizer(batch.column(args.column).to_pylist(), vocab_size=vocab_size)


def _add_speedrun_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="tiny", help="recipes/<preset>/ to run (default: tiny, for CPU)")
    parser.add_argument(
        "--output-dir", required=True, help="folder for every stage (tokenizer/, base/, sft/, dpo/, grpo/, eval/)"
    )
    parser.add_argument(
        "--processes", type=int, default=None, help="processes per stage (default: the GPU count, or 2 on CPU)"
    )
    parser.add_argument("--max-steps", type=int, default=None, help="cap every training stage (a quick smoke run)")
    parser.add_argument(
        "--eval-limit", type=int, default=None, help="at most N held-out items per task after each stage (smoke runs)"
    )


def _run_speedrun(args: argparse.Namespace) -> int:
    from .speedrun import speedrun

    speedrun(args.preset, args.output_dir, processes=args.processes, max_steps=args.max_steps,
             eval_limit=args.eval_limit)
    return 0


def _add_trust_remote_code_argument(parser: argparse.ArgumentParser) -> None:
    from .inference.loading import TRUST_REMOTE_CODE_HELP

    parser.add_argument("--trust-remote-code", action="store_true", help=TRUST_REMOTE_CODE_HELP)


# `hfchat eval`'s flags are `EvalArguments`' fields (recipes/evaluate.py's), with dashes; the model is --model
EVAL_FLAGS = {"model_name_or_path": "--model"}


def _add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    from .evaluation.runner import EvalArguments

    add_dataclass_arguments(parser, EvalArguments, flags=EVAL_FLAGS, required=("tasks",))


def _run_eval(args: argparse.Namespace) -> int:
    from .evaluation.runner import EvalArguments, evaluate, format_results, parse_task_data, parse_tasks

    options = from_namespace(EvalArguments, args)
    try:
        tasks = parse_tasks(options.tasks)  # before loading anything: a typo fails at once
        summary = evaluate(options.model_name_or_path, tasks, limit=options.limit, batch_size=options.batch_size,
                           output_dir=options.output_dir, sources=parse_task_data(options.task_data),
                           judge_endpoint=options.judge_endpoint, judge_model=options.judge_model,
                           samples=options.samples, temperature=options.temperature,
                           trust_remote_code=options.trust_remote_code)
    except ValueError as error:  # an unknown task or a model that does not load
        print(f"hfchat eval: {name_flags(str(error), EvalArguments, dashes=True, flags=EVAL_FLAGS)}",
              file=sys.stderr)
        return 2
    print(format_results(summary))
    return 0


def _add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a model folder or Hub id")
    _add_trust_remote_code_argument(parser)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda if available, else cpu)")
    parser.add_argument("--no-tools", action="store_true", help="do not run the calculator when the model calls it")
    quantize = parser.add_mutually_exclusive_group()
    quantize.add_argument("--load-in-4bit", action="store_true", help="NF4 weights through bitsandbytes (CPU or GPU)")
    quantize.add_argument("--load-in-8bit", action="store_true", help="int8 weights through bitsandbytes (CPU or GPU)")


# `hfchat chat` samples by default (greedy replies to a conversation repeat themselves); SamplingParams' own
# defaults, which the library and the server use, are greedy
CHAT_SAMPLING = {"temperature": 0.7, "top_p": 0.95}


def _add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    from .inference import SamplingParams

    add_dataclass_arguments(parser, SamplingParams, skip=("stop", "top_logprobs"), defaults=CHAT_SAMPLING)


def _sampling_params(args: argparse.Namespace):
    from .inference import SamplingParams

    return from_namespace(SamplingParams, args)


def _load_engine(args: argparse.Namespace, command: str, **engine_options):
    """The `Engine` for ``--model``, or None after a one-line error."""
    from .inference import Engine

    try:
        quantization = "4bit" if args.load_in_4bit else "8bit" if args.load_in_8bit else None
        return Engine.from_pretrained(args.model, device=args.device, quantization=quantization,
                                      trust_remote_code=args.trust_remote_code, **engine_options)
    except ValueError as error:
        print(f"hfchat {command}: {error}", file=sys.stderr)
        return None


def _add_chat_arguments(parser: argparse.ArgumentParser) -> None:
    _add_model_argument(parser)
    parser.add_argument("--system", default=None, help="system prompt")
    parser.add_argument("-p", "--prompt", default=None, help="answer this one message and exit")
    _add_sampling_arguments(parser)


def _run_chat(args: argparse.Namespace) -> int:
    from .inference import repl

    try:
        params = _sampling_params(args)
    except ValueError as error:
        print(f"hfchat chat: {error}", file=sys.stderr)
        return 2
    engine = _load_engine(args, "chat")
    if engine is None:
        return 2
    return repl.run(engine, params, system=args.system, prompt=args.prompt, tools=not args.no_tools)


# `hfchat serve`'s flags: `ServeConfig`'s fields (execute_tools is --no-tools, shared with chat), and the server's
SERVE_FLAGS = {"default_max_new_tokens": "--max-new-tokens"}


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    from .serving.config import ServeConfig  # not .app: the parser is built without the serve extra

    _add_model_argument(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument("--max-batch-size", type=int, default=16, help="requests decoded together in one batch (default: 16)")
    add_dataclass_arguments(parser, ServeConfig, flags=SERVE_FLAGS, skip=("execute_tools",),
                            defaults={"model_id": None})


def _run_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from .serving.app import create_app
        from .serving.config import ServeConfig
    except ImportError as error:
        print(f"hfchat serve: {error.name} is missing; install the extra: pip install 'hfchat[serve]'", file=sys.stderr)
        return 2
    engine = _load_engine(args, "serve", max_batch_size=args.max_batch_size)
    if engine is None:
        return 2
    config = dataclasses.replace(from_namespace(ServeConfig, args), model_id=args.model_id or args.model,
                                 execute_tools=not args.no_tools)
    print(f"hfchat serve: {args.model} on http://{args.host}:{args.port} (chat page at /, OpenAI API at /v1, "
          "TGI API at /generate)", flush=True)
    uvicorn.run(create_app(engine, config), host=args.host, port=args.port, log_level="warning")
    return 0


def _add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="a run folder (what hfchat speedrun --output-dir wrote)")


def _run_report(args: argparse.Namespace) -> int:
    from .report import write_report

    try:
        path = write_report(args.run)
    except ValueError as error:
        print(f"hfchat report: {error}", file=sys.stderr)
        return 2
    print(path.read_text())
    print(f"hfchat report: wrote {path} and its plots")
    return 0


def _add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="an hfchat model folder or Hub id (gguf also takes "
                                                        "transformers' Llama and Qwen3 models)")
    parser.add_argument("--to", required=True, choices=("llama", "qwen3", "gguf"),
                        help="llama (no QK-norm) or qwen3 (QK-norm): transformers' own class, no remote code; "
                             "gguf: one file for llama.cpp / Ollama")
    parser.add_argument("--output", required=True, help="the folder (llama, qwen3) or .gguf file to write")
    parser.add_argument("--outtype", default="f16", choices=("f32", "f16", "q8_0"),
                        help="GGUF weight type (default: f16)")


def _run_export(args: argparse.Namespace) -> int:
    from .export import ExportError, compare_logits, export_transformers

    try:
        if args.to == "gguf":
            from .export.gguf import export_gguf

            path = export_gguf(args.model, args.output, outtype=args.outtype)
            print(f"hfchat export: {args.model} -> {path} (GGUF {args.outtype}); try: llama-server -m {path}")
            return 0
        path = export_transformers(args.model, args.to, args.output)
    except (ExportError, ValueError) as error:
        print(f"hfchat export: {error}", file=sys.stderr)
        return 2
    check = compare_logits(args.model, path)
    print(f"hfchat export: {args.model} -> {path} ({check['class']}, loads without trust_remote_code); "
          f"max |logit difference| {check['max_abs_logit_diff']:.2e} over {check['tokens']} tokens, greedy tokens "
          f"{'equal' if check['greedy_tokens_equal'] else 'DIFFER'}")
    return 0 if check["greedy_tokens_equal"] else 1


def _add_push_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="an hfchat model folder (e.g. runs/tiny/sft)")
    parser.add_argument("--repo-id", required=True, help="USER/NAME on the Hub")
    parser.add_argument("--private", action="store_true", help="create a private repository")
    parser.add_argument("--revision", default=None, help="push to this branch (created if needed)")
    parser.add_argument("--exported", action="store_true",
                        help="push the Llama/Qwen3 export (no remote code) instead of the hfchat model")
    parser.add_argument("--base-model", default=None, help="Hub id of the model this one was trained from (card)")
    parser.add_argument("--dry-run", metavar="DIR", default=None,
                        help="only lay out in DIR what would be uploaded and list it (no network)")


def _run_push(args: argparse.Namespace) -> int:
    from .hub import push, upload_plan

    try:
        if args.dry_run:
            plan = upload_plan(args.model, args.repo_id, args.dry_run, exported=args.exported,
                               base_model=args.base_model)
            print("\n".join(op.path_in_repo for op in plan.operations))
            print(f"hfchat push: {len(plan.operations)} files laid out in {plan.folder} for {args.repo_id}")
            return 0
        url = push(args.model, args.repo_id, private=args.private, revision=args.revision, exported=args.exported,
                   base_model=args.base_model)
    except ValueError as error:
        print(f"hfchat push: {error}", file=sys.stderr)
        return 2
    print(f"hfchat push: {url}")
    return 0


def _add_serve_command_arguments(parser: argparse.ArgumentParser) -> None:
    from .export.serve_commands import ENGINES

    parser.add_argument("--model", required=True, help="a Hub id, a model folder, or (llama.cpp) a .gguf file")
    parser.add_argument("--engine", required=True, choices=ENGINES)
    parser.add_argument("--exported", action="store_true",
                        help="the Hub id is a Llama/Qwen3 export (folders are recognised from config.json)")
    parser.add_argument("--quantize", default=None,
                        help="tgi: bnb-4bit, bnb-8bit, fp8, eetq; vllm: bnb-4bit, fp8; llamacpp: q8_0, f16, f32")
    parser.add_argument("--port", type=int, default=8080)


def _run_serve_command(args: argparse.Namespace) -> int:
    from .export.serve_commands import serve_command

    try:
        print(serve_command(args.model, args.engine, exported=args.exported, quantize=args.quantize, port=args.port))
    except ValueError as error:
        print(f"hfchat serve-command: {error}", file=sys.stderr)
        return 2
    return 0


def _add_space_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="the Hub id the Space chats with (or loads, without --endpoint)")
    parser.add_argument("--output", required=True, help="the folder to write app.py, requirements.txt, README.md in")
    parser.add_argument("--endpoint", default=None,
                        help="an OpenAI-compatible server to stream from (hfchat serve, TGI, vLLM); without it the "
                             "app loads the model itself")
    parser.add_argument("--title", default=None, help="the Space's title (default: the model's name)")
    parser.add_argument("--push", action="store_true", help="upload the folder as a Gradio Space (needs --repo-id)")
    parser.add_argument("--repo-id", default=None, help="USER/NAME of the Space for --push")
    parser.add_argument("--private", action="store_true", help="create the Space private")


def _run_space(args: argparse.Namespace) -> int:
    from .export.space import push_space, write_space

    if args.push and not args.repo_id:
        print("hfchat space: --push needs --repo-id USER/NAME", file=sys.stderr)
        return 2
    try:
        folder = write_space(args.model, args.output, endpoint=args.endpoint, title=args.title)
        print(f"hfchat space: wrote {folder} (try it: cd {folder} && pip install -r requirements.txt && python app.py)")
        if args.push:
            print(f"hfchat space: {push_space(folder, args.repo_id, private=args.private)}")
    except ValueError as error:
        print(f"hfchat space: {error}", file=sys.stderr)
        return 2
    return 0


def _add_import_nanochat_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True,
                        help="nanochat's checkpoint folder, holding model_<step>.pt and meta_<step>.json "
                             "(e.g. ~/.cache/nanochat/chatsft_checkpoints/d20)")
    parser.add_argument("--step", type=int, default=None, help="the step to import (default: the latest)")
    parser.add_argument("--tokenizer", required=True,
                        help="nanochat's tokenizer folder or its tokenizer.pkl (e.g. ~/.cache/nanochat/tokenizer)")
    parser.add_argument("--output", required=True, help="the Hugging Face model folder to write")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"),
                        help="weight type of the written model (default: float32)")


def _run_import_nanochat(args: argparse.Namespace) -> int:
    from .nanochat import NanochatFormatError, import_nanochat

    try:
        path = import_nanochat(args.checkpoint, args.tokenizer, args.output, step=args.step, dtype=args.dtype)
    except NanochatFormatError as error:
        print(f"hfchat import-nanochat: {error}", file=sys.stderr)
        return 2
    print(f"hfchat import-nanochat: {args.checkpoint} -> {path}; try: hfchat chat --model {path}")
    return 0


def _add_no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def _run_version(args: argparse.Namespace) -> int:
    from .report import package_versions

    names = ("hfchat", "torch", "transformers", "huggingface_hub", "datasets", "tokenizers", "accelerate", "trl")
    for name, version in package_versions(names).items():
        print(f"{name} {version or '(not installed)'}")
    return 0


COMMANDS: dict[str, Command] = {
    "speedrun": Command(
        "tokenizer, pretraining, SFT, DPO and GRPO from one preset, end to end, with a report card",
        _add_speedrun_arguments,
        _run_speedrun,
    ),
    "chat": Command("talk to a model in the terminal (streaming, tool calls, /commands)", _add_chat_arguments,
                    _run_chat),
    "serve": Command("serve a model over the OpenAI and TGI HTTP APIs, with a web chat page", _add_serve_arguments,
                     _run_serve),
    "eval": Command("score a model on evaluation tasks and write results.json", _add_eval_arguments, _run_eval),
    "report": Command("write the report card of a run folder (report.md and plots)", _add_report_arguments,
                      _run_report),
    "export": Command("convert a model to transformers' Llama/Qwen3 classes or to GGUF", _add_export_arguments,
                      _run_export),
    "push": Command("upload a model to the Hub with its model card and report card", _add_push_arguments,
                    _run_push),
    "serve-command": Command("print the command that serves a model in TGI, vLLM or llama.cpp",
                             _add_serve_command_arguments, _run_serve_command),
    "space": Command("write (and push) a Gradio Spaces chat demo for a model", _add_space_arguments, _run_space),
    "import-nanochat": Command("convert a nanochat checkpoint and tokenizer into a Hugging Face model folder",
                               _add_import_nanochat_arguments, _run_import_nanochat),
    "fetch-shards": Command("fetch only the parquet shards a token budget needs, in parallel, resumable",
                            _add_fetch_shards_arguments, _run_fetch_shards),
    "plan": Command("memory, largest batch, accumulation and hours of a pretraining preset on N GPUs",
                    _add_plan_arguments, _run_plan),
    "size": Command("show the size and training FLOPs of the model a depth gives", _add_size_arguments, _run_size),
    "version": Command("print the versions of hfchat and its main dependencies", _add_no_arguments, _run_version),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hfchat", description="Train your own small ChatGPT end to end on the Hugging Face stack."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return COMMANDS[args.command].run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
