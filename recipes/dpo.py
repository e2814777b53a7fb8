"""Direct preference optimisation (DPO) with TRL's `DPOTrainer`: the SFT model learns to prefer the chosen replies.

    # CPU, 2 processes, the tiny preset (after recipes/sft.py):
    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/dpo.py \\
        --config recipes/tiny/dpo.yaml --model_name_or_path runs/tiny/sft --output_dir runs/tiny/dpo

    # A few steps on one process:
    python recipes/dpo.py --config recipes/tiny/dpo.yaml --model_name_or_path runs/tiny/sft \\
        --output_dir /tmp/dpo --max_steps 5

    # 8 GPUs, d20, UltraFeedback:
    accelerate launch --config_file accelerate_configs/ddp.yaml recipes/dpo.py --config recipes/d20/dpo.yaml

Rows are ``prompt``/``chosen``/``rejected`` (see `hfchat.data.formatters`). The reference model is a frozen copy
of the starting model (with `use_peft`, the model with its adapter switched off). Every field of
`hfchat.training.post.ScriptArguments`, `trl.DPOConfig` and `trl.ModelConfig` is a flag; a rerun resumes.
"""

from trl import DPOConfig, DPOTrainer, ModelConfig, TrlParser, get_peft_config, get_quantization_config

from hfchat.training import post


def main(script_args: post.ScriptArguments, training_args: DPOConfig, model_args: ModelConfig) -> None:
    # Logging
    post.setup_logging(training_args)

    # Data
    dataset = post.load_datasets(script_args, "dpo")

    # Tokenizer and model
    tokenizer = post.load_tokenizer(model_args, training_args)
    post.set_model_init_kwargs(model_args, training_args)

    # Trainer
    trainer = DPOTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=dataset["train"],
        eval_dataset=dataset.get("test") if training_args.eval_strategy != "no" else None,
        processing_class=tokenizer,
        quantization_config=get_quantization_config(model_args),
        peft_config=get_peft_config(model_args),
    )

    # Train
    post.announce(trainer, "dpo")
    result = trainer.train(resume_from_checkpoint=post.resume_checkpoint(training_args))

    # Save, model card, push
    output_dir = post.save_model(trainer, tokenizer, script_args, model_args, "dpo")
    post.finish(trainer, output_dir, result)


if __name__ == "__main__":
    post.use_cpu_without_gpu()
    parser = TrlParser((post.ScriptArguments, DPOConfig, ModelConfig))
    main(*parser.parse_args_and_config())
