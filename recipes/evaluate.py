"""Evaluation under `accelerate launch`: every task's items split over the processes, gathered on the main one.

    # CPU, 2 processes, the tiny speedrun's SFT model:
    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/evaluate.py \\
        --config recipes/tiny/evaluate.yaml --model_name_or_path runs/tiny/sft --output_dir runs/tiny/eval/sft

    # One process (the same as `hfchat eval`):
    python recipes/evaluate.py --config recipes/tiny/evaluate.yaml --model_name_or_path runs/tiny/sft --limit 20

    # 8 GPUs, the d20 chat suite:
    accelerate launch --config_file accelerate_configs/ddp.yaml recipes/evaluate.py --config recipes/d20/evaluate.yaml

Every field of `hfchat.evaluation.runner.EvalArguments` is a flag. Each process loads the model on its own device
and runs a contiguous shard of each task's items; the results are the same as one process's (up to batching's
floating-point noise), and only the main process writes ``results.json`` and ``details/``.
"""

import sys

from accelerate import Accelerator
from trl import TrlParser

from hfchat.config_flags import name_flags
from hfchat.evaluation.runner import EvalArguments, evaluate, format_results, parse_task_data
from hfchat.training import post


def main(args: EvalArguments) -> None:
    accelerator = Accelerator()
    if accelerator.is_main_process:
        print(f"[evaluate] {args.model_name_or_path}: {args.tasks} on {accelerator.num_processes} process(es)",
              flush=True)
    try:
        summary = evaluate(args.model_name_or_path, args.tasks, limit=args.limit, batch_size=args.batch_size,
                           output_dir=args.output_dir, sources=parse_task_data(args.task_data),
                           judge_endpoint=args.judge_endpoint, judge_model=args.judge_model, samples=args.samples,
                           temperature=args.temperature, accelerator=accelerator,
                           trust_remote_code=args.trust_remote_code)
    except ValueError as error:  # an unknown task, a bad flag, a model that does not load
        sys.exit(f"recipes/evaluate.py: {name_flags(str(error), EvalArguments, dashes=False)}")
    if accelerator.is_main_process:
        print(format_results(summary), flush=True)
    accelerator.end_training()


if __name__ == "__main__":
    post.use_cpu_without_gpu()
    (arguments,) = TrlParser(EvalArguments).parse_args_and_config()
    main(arguments)
