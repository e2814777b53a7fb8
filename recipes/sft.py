"""Supervised fine-tuning (SFT) with TRL's `SFTTrainer`: a base model becomes a chat model.

    # CPU, 2 processes, the tiny preset (the base model from `hfchat speedrun` or recipes/pretrain.py):
    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/sft.py \\
        --config recipes/tiny/sft.yaml --model_name_or_path runs/tiny/base --output_dir runs/tiny/sft

    # A few steps on one process, to try it out:
    python recipes/sft.py --config recipes/tiny/sft.yaml --model_name_or_path runs/tiny/base \\
        --output_dir /tmp/sft --max_steps 5

    # LoRA instead of full fine-tuning, merged into a full model at the end:
    ... --use_peft true --lora_r 16 --lora_target_modules all-linear --merge_adapters true

    # 8 GPUs, d20: SmolTalk + MMLU + GSM8K
    accelerate launch --config_file accelerate_configs/ddp.yaml recipes/sft.py --config recipes/d20/sft.yaml

Every field of `hfchat.training.post.ScriptArguments`, `trl.SFTConfig` and `trl.ModelConfig` is a flag. A rerun with
the same `output_dir` resumes from its newest checkpoint.
"""

from trl import ModelConfig, SFTConfig, SFTTrainer, TrlParser, get_peft_config, get_quantization_config

from hfchat.training import post


def main(script_args: post.ScriptArguments, training_args: SFTConfig, model_args: ModelConfig) -> None:
    # Logging
    post.setup_logging(training_args)

    # Data
    dataset = post.load_datasets(script_args, "sft")

    # Tokenizer and model
    tokenizer = post.load_tokenizer(model_args, training_args)
    post.set_model_init_kwargs(model_args, training_args)

    # Trainer
    trainer = SFTTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=dataset["train"],
        eval_dataset=dataset.get("test") if training_args.eval_strategy != "no" else None,
        processing_class=tokenizer,
        quantization_config=get_quantization_config(model_args),
        peft_config=get_peft_config(model_args),
    )

    # Train
    post.announce(trainer, "sft")
    result = trainer.train(resume_from_checkpoint=post.resume_checkpoint(training_args))

    # Save, model card, push
    output_dir = post.save_model(trainer, tokenizer, script_args, model_args, "sft")
    post.finish(trainer, output_dir, result)


if __name__ == "__main__":
    post.use_cpu_without_gpu()
    parser = TrlParser((post.ScriptArguments, SFTConfig, ModelConfig))
    main(*parser.parse_args_and_config())
