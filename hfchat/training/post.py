"""What the SFT, DPO and GRPO recipes share: their script arguments and the sections every one of them runs.

Each recipe (``recipes/sft.py``, ``dpo.py``, ``grpo.py``) is ``main(script_args, training_args, model_args)`` in the
alignment-handbook order: logging, data, tokenizer and model, trainer, train (resuming from the newest checkpoint in
``output_dir``), save, model card, push. The sections live here so the three recipes stay a page each.
"""

import json
import logging
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import torch
import transformers
import trl
from accelerate import PartialState
from transformers import AutoTokenizer, GenerationConfig
from transformers.trainer_utils import TrainOutput, get_last_checkpoint
from trl import DatasetMixtureConfig, ModelConfig
from trl.scripts.utils import DatasetConfig

from ..chat_encoding import content_as_text
from ..data.mixture import describe, load_identity, load_mixture
from ..files import move_into, write_json_atomic
from ..tokenizer import IM_END, end_of_turn, save_tokenizer
from .chat_templates import prepare_training_template

logger = logging.getLogger("hfchat")


@dataclass
class ScriptArguments(trl.ScriptArguments, DatasetMixtureConfig):
    """TRL's script arguments plus a dataset mixture (``datasets:``), the identity file and adapter merging."""

    identity_file: str | None = field(
        default=None,
        metadata={"help": "JSON/YAML file with the model's `name` and `creator`, used by builtin:chat's answers"},
    )
    merge_adapters: bool = field(
        default=False, metadata={"help": "with use_peft: also merge the adapter into a full model in output_dir"}
    )

    def __post_init__(self):
        DatasetMixtureConfig.__post_init__(self)


@dataclass
class GRPOScriptArguments(ScriptArguments):
    reward_funcs: list[str] = field(
        default_factory=lambda: ["accuracy", "format"],
        metadata={"help": "reward functions by name from hfchat.rewards (weights: reward_weights)"},
    )


def use_cpu_without_gpu() -> None:
    """Call before parsing: without a GPU, TrainingArguments join the process group that `accelerate launch`
    (accelerate_configs/cpu.yaml) set up only when ACCELERATE_USE_CPU is set; otherwise each process trains alone."""
    if not torch.cuda.is_available():
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")


def setup_logging(training_args: transformers.TrainingArguments) -> None:
    """The trainer's ``log_level`` on the main process and ``log_level_replica`` on the others, for hfchat,
    transformers and datasets alike."""
    level = training_args.get_process_log_level()
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=[
        logging.StreamHandler(sys.stdout)])
    # hfchat's own lines (data, world size, resume, where the model went) show on the main process unless
    # log_level asks for less.
    logger.setLevel(logging.INFO if training_args.should_log and training_args.log_level == "passive" else level)
    datasets.utils.logging.set_verbosity(level)
    transformers.utils.logging.set_verbosity(level)
    transformers.utils.logging.enable_default_handler()
    transformers.utils.logging.enable_explicit_format()


def load_datasets(script_args: ScriptArguments, stage: str) -> datasets.DatasetDict:
    """The stage's rows from ``datasets:`` (or from ``dataset_name`` when no mixture is given)."""
    mixture = DatasetMixtureConfig(datasets=list(script_args.datasets), streaming=script_args.streaming,
                                   test_split_size=script_args.test_split_size)
    if not mixture.datasets and script_args.dataset_name:
        mixture.datasets = [DatasetConfig(path=script_args.dataset_name, name=script_args.dataset_config,
                                          split=script_args.dataset_train_split)]
    dataset = load_mixture(mixture, stage, identity=load_identity(script_args.identity_file))
    logger.info("%s data: %s", stage, describe(dataset["train"]))
    return dataset


def load_tokenizer(model_args: ModelConfig, training_args) -> transformers.PreTrainedTokenizerBase:
    if not model_args.model_name_or_path:
        raise ValueError("model_name_or_path: name the model to train (a folder or a Hub id)")
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision,
                                              trust_remote_code=training_args.trust_remote_code)
    if tokenizer.chat_template is None:
        raise ValueError(f"model_name_or_path {model_args.model_name_or_path!r}: its tokenizer has no chat template")
    if getattr(training_args, "assistant_only_loss", False):
        source = prepare_training_template(tokenizer, model_args.model_name_or_path)
        logger.info("assistant_only_loss: the loss mask comes from %s", source)
    if end_of_turn(tokenizer) is None:
        raise ValueError(f"model_name_or_path {model_args.model_name_or_path!r}: the tokenizer has neither "
                         f"{IM_END} nor an eos_token to end a turn with")
    # TRL tokenizes the conversations itself: a `<|im_end|>` inside a row's text must stay text, not a forged turn.
    return content_as_text(tokenizer)


def set_model_init_kwargs(model_args: ModelConfig, training_args) -> None:
    """Dtype, attention, remote code and quantization, where the TRL trainers read them."""
    quantized = model_args.load_in_4bit or model_args.load_in_8bit
    kwargs = {
        "revision": model_args.model_revision,
        "trust_remote_code": training_args.trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
        # a quantized model is placed at load time: each process puts all of it on its own GPU
        "device_map": {"": PartialState().local_process_index} if quantized and torch.cuda.is_available() else None,
    }
    training_args.model_init_kwargs = {**kwargs, **(training_args.model_init_kwargs or {})}


def announce(trainer, stage: str) -> None:
    """One line saying what runs where."""
    accelerator = trainer.accelerator
    rows = len(trainer.train_dataset) if hasattr(trainer.train_dataset, "__len__") else "streamed"
    logger.info("%s: world size %d, device %s, %s training rows", stage, accelerator.num_processes,
                accelerator.device, rows)


def resume_checkpoint(training_args) -> str | None:
    """The explicit ``resume_from_checkpoint``, else the newest checkpoint in ``output_dir`` (None: fresh start)."""
    if training_args.resume_from_checkpoint is not None:
        return training_args.resume_from_checkpoint
    if os.path.isdir(training_args.output_dir):
        last = get_last_checkpoint(training_args.output_dir)
        if last is not None:
            logger.info("resuming from %s", last)
        return last
    return None


def save_model(trainer, tokenizer, script_args: ScriptArguments, model_args: ModelConfig, stage: str) -> Path:
    """Save the trained model (or adapter) into ``output_dir``: generation stops at the end of a turn, files are
    written to ``output_dir/tmp-final`` and moved in when complete; ``merge_adapters`` adds a merged full model."""
    output_dir = Path(trainer.args.output_dir)
    tmp = output_dir / "tmp-final"
    if trainer.accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(tmp))  # every rank: FSDP and ZeRO-3 gather the weights collectively
    if trainer.accelerator.is_main_process:
        tokenizer.eos_token = end_of_turn(tokenizer)
        end_id = tokenizer.eos_token_id
        save_tokenizer(tokenizer, tmp)
        generation = GenerationConfig(bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id,
                                      eos_token_id=[end_id, tokenizer.bos_token_id])
        generation.save_pretrained(tmp)
        if (tmp / "config.json").is_file():
            _set_config_eos(tmp / "config.json", end_id)
        if model_args.use_peft and script_args.merge_adapters:
            _merge_adapter(tmp, model_args, trainer.args.trust_remote_code)
        move_into(tmp, output_dir)
        trainer.create_model_card(model_name=output_dir.name, dataset_name=_dataset_names(script_args),
                                  tags=["hfchat", stage])
    trainer.accelerator.wait_for_everyone()
    return output_dir


def _set_config_eos(path: Path, end_id: int) -> None:
    write_json_atomic(path, {**json.loads(path.read_text()), "eos_token_id": end_id})


def _merge_adapter(folder: Path, model_args: ModelConfig, trust_remote_code: bool) -> None:
    """Load the base model unquantized, apply the adapter saved in ``folder``, merge, and save the full model there
    (the adapter files stay, under ``adapter/``)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision,
                                                trust_remote_code=trust_remote_code, dtype=model_args.dtype)
    merged = PeftModel.from_pretrained(base, str(folder)).merge_and_unload()
    merged.generation_config = GenerationConfig.from_pretrained(folder)
    adapter = folder / "adapter"
    adapter.mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        if (folder / name).is_file():
            os.replace(folder / name, adapter / name)
    merged.save_pretrained(folder)
    _set_config_eos(folder / "config.json", merged.generation_config.eos_token_id[0])


def _dataset_names(script_args: ScriptArguments) -> str | None:
    names = [entry.path for entry in script_args.datasets] or [script_args.dataset_name]
    return ", ".join(name for name in names if name) or None


def finish(trainer, output_dir: Path, result: TrainOutput) -> None:
    """Keep the log history and the run's figures beside the model (``trainer_state.json``: the report card's loss
    curves and throughput; ``train_results.json``: runtime, final loss and world size), push if asked, close
    trackers and the process group."""
    trainer.save_state()  # main process only: output_dir/trainer_state.json, with train_runtime
    trainer.save_metrics("train", {**result.metrics, "world_size": trainer.accelerator.num_processes})
    if trainer.args.push_to_hub:
        trainer.push_to_hub()
        logger.info("pushed to https://huggingface.co/%s", trainer.hub_model_id)
    logger.info("model saved in %s", output_dir)
    if hasattr(trainer, "end"):  # transformers >= 5.18: close trackers and the process group
        trainer.end()
