"""The `hfchat` command: one table of subcommands.

Each entry of `COMMANDS` names a function that adds the subcommand's arguments and a function that runs it, so
`hfchat --help` lists every stage without importing the heavy modules behind them.
"""

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass


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
    import torch

    from .modeling import HFChatConfig, HFChatForCausalLM

    config = HFChatConfig.from_depth(args.depth, vocab_size=args.vocab_size)
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        model = HFChatForCausalLM(config)
    embedding = config.vocab_size * config.hidden_size
    summary = {
        "depth": config.num_hidden_layers,
        "hidden_size": config.hidden_size,
        "num_attention_heads": config.num_attention_heads,
        "head_dim": config.head_dim,
        "intermediate_size": config.intermediate_size,
        "vocab_size": config.vocab_size,
        "parameters": model.num_parameters(),
        "parameters_without_embeddings": model.num_parameters() - embedding,
        "train_flops_per_token": model.flops_per_token(args.seq_len),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        width = max(map(len, summary))
        for key, value in summary.items():
            print(f"{key:<{width}}  {value:,}")
    return 0


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


def _add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a model folder or Hub id")
    parser.add_argument("--tasks", required=True, help="comma-separated task names (builtin_math,builtin_preference)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N items of each task")
    parser.add_argument("--output-dir", default=None, help="write results.json and details/<task>.jsonl here")
    parser.add_argument("--batch-size", type=int, default=64, help="prompts per forward pass (default: 64)")


def _run_eval(args: argparse.Namespace) -> int:
    from .evaluation.runner import evaluate, format_results, parse_tasks

    try:
        tasks = parse_tasks(args.tasks)  # before loading anything: a typo fails at once
        summary = evaluate(args.model, tasks, limit=args.limit, batch_size=args.batch_size,
                           output_dir=args.output_dir)
    except ValueError as error:  # an unknown task or a model that does not load
        print(f"hfchat eval: {error}", file=sys.stderr)
        return 2
    print(format_results(summary))
    return 0


def _add_no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def _run_version(args: argparse.Namespace) -> int:
    import importlib.metadata

    for name in ("hfchat", "torch", "transformers", "huggingface_hub", "datasets", "tokenizers", "accelerate", "trl"):
        try:
            print(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            print(f"{name} (not installed)")
    return 0


COMMANDS: dict[str, Command] = {
    "speedrun": Command(
        "tokenizer, pretraining, SFT, DPO and GRPO from one preset, end to end, with a report card",
        _add_speedrun_arguments,
        _run_speedrun,
    ),
    "eval": Command("score a model on evaluation tasks and write results.json", _add_eval_arguments, _run_eval),
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
