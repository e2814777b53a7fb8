"""Group relative policy optimisation (GRPO) with TRL's `GRPOTrainer`: the model learns from rewarded attempts.

    # CPU, 2 processes, the tiny preset (after recipes/dpo.py): builtin math problems, accuracy + format rewards
    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/grpo.py \\
        --config recipes/tiny/grpo.yaml --model_name_or_path runs/tiny/dpo --output_dir runs/tiny/grpo

    # A few steps on one process:
    python recipes/grpo.py --config recipes/tiny/grpo.yaml --model_name_or_path runs/tiny/dpo \\
        --output_dir /tmp/grpo --max_steps 3

    # 8 GPUs, d20, GSM8K:
    accelerate launch --config_file accelerate_configs/ddp.yaml recipes/grpo.py --config recipes/d20/grpo.yaml

Rows are ``prompt`` plus an ``answer`` column that the rewards read. ``reward_funcs`` names functions of
`hfchat.rewards` (accuracy, format, length), weighted by ``reward_weights``. ``num_generations`` must divide
processes x ``per_device_train_batch_size`` x ``steps_per_generation``. Every field of
`hfchat.training.post.GRPOScriptArguments`, `trl.GRPOConfig` and `trl.ModelConfig` is a flag; a rerun resumes.
"""

from trl import GRPOConfig, GRPOTrainer, ModelConfig, TrlParser, get_peft_config, get_quantization_config

from hfchat.rewards import get_reward_functions
from hfchat.training import post


def main(script_args: post.GRPOScriptArguments, training_args: GRPOConfig, model_args: ModelConfig) -> None:
    # Logging
    post.setup_logging(training_args)
    reward_funcs = get_reward_functions(script_args.reward_funcs)

    # Data
    dataset = post.load_datasets(script_args, "grpo")

    # Tokenizer and model
    tokenizer = post.load_tokenizer(model_args, training_args)
    post.set_model_init_kwargs(model_args, training_args)

    # Trainer
    trainer = GRPOTrainer(
        model=model_args.model_name_or_path,
        reward_funcs=reward_funcs,
        args=training_args,
        train_dataset=dataset["train"],
        eval_dataset=dataset.get("test") if training_args.eval_strategy != "no" else None,
        processing_class=tokenizer,
        quantization_config=get_quantization_config(model_args),
        peft_config=get_peft_config(model_args),
    )

    # Train
    post.announce(trainer, "grpo")
    result = trainer.train(resume_from_checkpoint=post.resume_checkpoint(training_args))

    # Save, model card, push
    output_dir = post.save_model(trainer, tokenizer, script_args, model_args, "grpo")
    post.finish(trainer, output_dir, result)


if __name__ == "__main__":
    post.use_cpu_without_gpu()
    parser = TrlParser((post.GRPOScriptArguments, GRPOConfig, ModelConfig))
    main(*parser.parse_args_and_config())
