"""Pretrain a GPT from scratch (or continue training one) with `accelerate`.

Run it like every hfchat recipe: a YAML preset plus any field overridden on the command line.

    # CPU, 2 processes, the tiny preset on the builtin data (a few minutes):
    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/pretrain.py \\
        --config recipes/tiny/pretrain.yaml --output_dir runs/tiny/base

    # One process, fewer steps, to try it out:
    python recipes/pretrain.py --config recipes/tiny/pretrain.yaml --output_dir /tmp/base --max_steps 20

    # 8 GPUs, nanochat d20 on FineWeb-Edu:
    accelerate launch --config_file accelerate_configs/ddp.yaml recipes/pretrain.py \\
        --config recipes/d20/pretrain.yaml

Every field of `hfchat.training.PretrainConfig` is a flag (`--help` lists them); the run resumes with
`--resume_from_checkpoint latest`.
"""

from trl import TrlParser

from hfchat.training import PretrainConfig, pretrain


def main(config: PretrainConfig) -> None:
    result = pretrain(config)
    if result.is_main_process:
        for prompt, sample in result.samples.items():
            print(f"[hfchat] sample: {prompt!r} -> {sample!r}", flush=True)
        print(f"[hfchat] model saved in {result.output_dir}", flush=True)


if __name__ == "__main__":
    (config,) = TrlParser(PretrainConfig).parse_args_and_config()
    main(config)
