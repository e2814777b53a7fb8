"""The pretraining loop on `accelerate`.

One optimizer step consumes ``total_batch_size`` tokens: each of ``world_size`` processes runs ``grad_accum`` forward
and backward passes of ``per_device_train_batch_size`` rows of ``seq_len`` tokens, with gradients synchronised
only on the last one. The learning rate follows warmup -> constant -> linear warmdown. Every ``logging_steps`` the
main process appends a line to ``output_dir/metrics.jsonl`` and logs to the trackers; every ``eval_steps`` all
processes compute validation loss and bits per byte on their shard of the held-out rows; every ``save_steps`` a
checkpoint (`accelerator.save_state` plus the data stream's position on every process) is written under a temporary
name and renamed when complete. At the end the model, tokenizer and generation config go into ``output_dir`` itself.
"""

import copy
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import datasets
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from ..data.shards import FetchedSource
from ..data.sources import Dataset, load_text_mixture, load_text_source, texts_between
from ..data.stream import PretrainingStream
from ..evaluation.language_modeling import batch_totals, summarize, token_byte_lengths
from ..files import move_into, write_text_atomic
from ..modeling import HFChatConfig, HFChatForCausalLM
from ..tokenizer import save_tokenizer, train_and_save_tokenizer
from . import checkpoints
from .config import PretrainConfig
from .optim import build_optimizers, lr_multiplier
from .plan import auto_batch_size

logger = logging.getLogger(__name__)

# bf16 dense peak of one device, for MFU.
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12, "L4": 121e12}
METRICS_FILE = "metrics.jsonl"


def device_peak_flops(config: PretrainConfig, device: torch.device) -> float | None:
    if config.device_peak_flops:
        return config.device_peak_flops
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return next((peak for key, peak in PEAK_BF16_FLOPS.items() if key in name), None)
    return None


def training_documents(config: PretrainConfig) -> tuple[Dataset, Dataset]:
    """The training documents and the held-out validation documents (a split, or the first N documents)."""
    documents = load_text_mixture(config.datasets, streaming=config.streaming, seed=config.seed)
    if config.validation_split is not None:
        validation = load_text_source(config.datasets[0], split=config.validation_split, streaming=config.streaming)
        return documents, validation
    if config.streaming:
        held_out = config.validation_documents
    else:
        held_out = min(config.validation_documents, len(documents) // 10)
    if held_out == 0:
        raise ValueError("PretrainConfig.validation_documents: no documents held out for validation")
    if config.streaming:
        return documents.skip(held_out), documents.take(held_out)
    return documents.select(range(held_out, len(documents))), documents.select(range(held_out))


def first_shard_documents(config: PretrainConfig, accelerator: Accelerator):
    """With ``fetch_shards_to``: the source's first shard fetched (by each machine's main process), and from it the
    validation documents (its first ones, unless there is a ``validation_split``) and the texts a new tokenizer
    trains on. Returns the source, those texts (a function), the validation documents and how many were held out."""
    source = config.datasets[0]
    fetched = FetchedSource(source.path, source.name, source.split, source.column, config.fetch_shards_to)
    if accelerator.is_local_main_process:
        fetched.fetch_first()
    accelerator.wait_for_everyone()
    held_out = 0
    if config.validation_split is not None:
        validation = load_text_source(source, split=config.validation_split)
    else:
        held_out = min(config.validation_documents, fetched.first_rows() // 10)
        if held_out == 0:
            raise ValueError("PretrainConfig.validation_documents: no documents held out for validation")
        validation = datasets.Dataset.from_dict({"text": list(fetched.first_texts(0, held_out))})
    count = config.tokenizer_train_documents
    return fetched, lambda: fetched.first_texts(held_out, held_out + count), validation, held_out


def load_or_train_tokenizer(config: PretrainConfig, texts: Callable[[], Iterable[str]], accelerator: Accelerator):
    """The given tokenizer, the model's, or a new one trained on ``texts()`` (the main process trains it)."""
    if config.tokenizer_name_or_path is not None:
        return AutoTokenizer.from_pretrained(config.tokenizer_name_or_path)
    if config.model_name_or_path is not None:
        return AutoTokenizer.from_pretrained(config.model_name_or_path)
    folder = Path(config.output_dir) / "tokenizer"
    if accelerator.is_main_process and not (folder / "tokenizer.json").is_file():
        count = config.tokenizer_train_documents
        logger.info("training a %d-token tokenizer on the first %d documents", config.vocab_size, count)
        train_and_save_tokenizer(texts(), config.vocab_size, folder)
    accelerator.wait_for_everyone()
    return AutoTokenizer.from_pretrained(folder)


def new_model_config(config: PretrainConfig, vocab_size: int, **token_ids) -> HFChatConfig:
    """The `HFChatConfig` of a new model of ``config.depth`` layers (``token_ids``: bos/eos/pad_token_id)."""
    return HFChatConfig.from_depth(
        config.depth,
        vocab_size=vocab_size,
        head_dim=config.head_dim,
        num_key_value_heads=config.num_key_value_heads,
        hidden_act=config.hidden_act,
        qk_norm=config.qk_norm,
        tie_word_embeddings=config.tie_word_embeddings,
        max_position_embeddings=config.max_position_embeddings or config.seq_len,
        **token_ids,
    )


def build_model(config: PretrainConfig, tokenizer):
    if config.model_name_or_path is not None:
        model = AutoModelForCausalLM.from_pretrained(
            config.model_name_or_path, attn_implementation=config.attn_implementation
        )
    else:
        model_config = new_model_config(
            config, len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        model = HFChatForCausalLM._from_config(model_config, attn_implementation=config.attn_implementation)
    if config.seq_len > model.config.max_position_embeddings:
        raise ValueError(
            f"PretrainConfig.seq_len ({config.seq_len}) is above the model's max_position_embeddings "
            f"({model.config.max_position_embeddings})"
        )
    if config.gradient_checkpointing:
        model.activation_checkpointing_enable()  # transformers >= 5.23 name of gradient checkpointing
    return model


def gradient_accumulation_steps(config: PretrainConfig, world_size: int) -> int:
    tokens_per_pass = config.per_device_train_batch_size * config.seq_len * world_size
    if config.total_batch_size % tokens_per_pass:
        raise ValueError(
            f"PretrainConfig.total_batch_size ({config.total_batch_size}) must be a multiple of "
            f"per_device_train_batch_size * seq_len * processes = {config.per_device_train_batch_size} * "
            f"{config.seq_len} * {world_size} = {tokens_per_pass}"
        )
    return config.total_batch_size // tokens_per_pass


def total_steps(config: PretrainConfig, num_parameters: int) -> int:
    """``max_steps``, or enough steps for ``target_param_data_ratio`` tokens per parameter."""
    if config.max_steps > 0:
        return config.max_steps
    return max(1, math.ceil(config.target_param_data_ratio * num_parameters / config.total_batch_size))


def check_before_writing(config: PretrainConfig, resume_from: Path | None, world_size: int) -> None:
    """Checks that need no output: a bad run fails here, before anything is written to disk."""
    if resume_from is not None:
        written_by = checkpoints.read_trainer_state(resume_from)["world_size"]
        if written_by != world_size:
            raise ValueError(
                f"resume_from_checkpoint {str(resume_from)!r} was written by {written_by} processes; "
                f"this run has {world_size}"
            )
    if config.model_name_or_path is not None:
        max_positions = AutoConfig.from_pretrained(config.model_name_or_path).max_position_embeddings
        if config.seq_len > max_positions:
            raise ValueError(
                f"PretrainConfig.seq_len ({config.seq_len}) is above max_position_embeddings ({max_positions}) "
                f"of {config.model_name_or_path!r}"
            )


def save_checkpoint(accelerator, config, step, stream, extra_state) -> None:
    tmp = checkpoints.temporary_checkpoint_dir(config.output_dir, step)
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    checkpoints.write_json_atomic(tmp / f"data_state_rank{accelerator.process_index}.json", stream.state_dict())
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        state = {"step": step, "world_size": accelerator.num_processes, **extra_state}
        checkpoints.finalize_checkpoint(tmp, state, config.save_total_limit)
    accelerator.wait_for_everyone()


def trim_metrics(path: Path, last_step: int) -> None:
    """Drop metric lines written after the checkpoint a run resumes from."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines() if line and json.loads(line).get("step", 0) <= last_step]
    write_text_atomic(path, "".join(line + "\n" for line in kept))


def generate_samples(model, tokenizer, prompts, max_new_tokens, accelerator) -> list[str]:
    was_training = model.training
    model.eval()
    samples = []
    with torch.no_grad(), accelerator.autocast():
        for prompt in prompts:
            inputs = tokenizer(prompt, return_tensors="pt").to(accelerator.device)
            output = model.generate(
                **inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
            samples.append(tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))
    model.train(was_training)
    return samples


def evaluate(model, validation, tokenizer, token_bytes, config, accelerator) -> dict[str, float]:
    """Validation loss and bits per byte over ``eval_tokens`` held-out tokens, summed over all processes."""
    batch = config.per_device_train_batch_size
    stream = PretrainingStream(
        validation, tokenizer, config.seq_len, batch,
        rank=accelerator.process_index, world_size=accelerator.num_processes, seed=0, epochs=1,
        block_size=config.block_size,
    )  # fmt: skip
    batches = max(1, config.eval_tokens // (batch * config.seq_len * accelerator.num_processes))
    token_bytes = token_bytes.to(accelerator.device)
    totals = torch.zeros(3, dtype=torch.float64, device=accelerator.device)  # nats, bytes, tokens
    model.eval()
    with accelerator.autocast():
        for _, rows in zip(range(batches), stream):
            totals += batch_totals(model, rows, token_bytes)
    model.train()
    totals = accelerator.reduce(totals, reduction="sum")
    result = summarize(*totals.tolist())
    return {"val_loss": result["loss"], "val_bpb": result["bits_per_byte"]}


@dataclass
class PretrainResult:
    output_dir: Path  # holds the final model, tokenizer and generation config
    is_main_process: bool
    steps: int
    samples: dict[str, str]  # greedy continuation of each sample prompt (main process only)
    per_device_train_batch_size: int  # the configured one, or the one `auto` chose


def pretrain(config: PretrainConfig) -> PretrainResult:
    """Run pretraining as configured; the final model is then in ``output_dir``."""
    output_dir = Path(config.output_dir)
    resume_from = checkpoints.resolve_resume(config.resume_from_checkpoint, output_dir)
    trackers = [t for t in config.report_to if t != "none"]
    accelerator = Accelerator(
        cpu=not torch.cuda.is_available(),  # a multi-GPU launch on a machine without GPUs runs DDP over gloo
        mixed_precision="bf16" if config.bf16 else "no",
        log_with=trackers or None,
        project_dir=str(output_dir),
    )
    main = accelerator.is_main_process
    logging.basicConfig(level=logging.INFO if main else logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logger.info("world size %d (%s), device %s", accelerator.num_processes, accelerator.distributed_type, accelerator.device)
    if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true" and accelerator.distributed_type != "FSDP":
        logger.warning("the accelerate config asks for FSDP, which accelerate sets up on GPUs only: this run is %s, "
                       "each process holding the whole model", accelerator.distributed_type.value)
    if config.per_device_train_batch_size == "auto":
        config = copy.copy(config)
        on_this_machine = int(os.environ.get("LOCAL_WORLD_SIZE", accelerator.num_processes))
        plan = auto_batch_size(config, accelerator.num_processes, accelerator.device, on_this_machine,
                               device_peak_flops(config, accelerator.device))
        config.per_device_train_batch_size = plan.per_device_train_batch_size
        logger.info("per_device_train_batch_size auto: %d rows (estimated peak %.1f of %.1f GB per process)",
                    plan.per_device_train_batch_size, plan.peak_gb, plan.gpu_memory_gb)
    grad_accum = gradient_accumulation_steps(config, accelerator.num_processes)
    check_before_writing(config, resume_from, accelerator.num_processes)
    fetched = None
    if config.fetch_shards_to is not None:
        fetched, tokenizer_texts, validation, held_out = first_shard_documents(config, accelerator)
    else:
        documents, validation = training_documents(config)
        tokenizer_texts = lambda: texts_between(documents, 0, config.tokenizer_train_documents)  # noqa: E731
    accelerator.wait_for_everyone()
    if main:
        output_dir.mkdir(parents=True, exist_ok=True)
        checkpoints.remove_incomplete(output_dir)

    tokenizer = load_or_train_tokenizer(config, tokenizer_texts, accelerator)
    set_seed(config.seed)  # the same initial weights on every process, whatever the tokenizer training consumed
    model = build_model(config, tokenizer)
    num_parameters = model.num_parameters()
    max_steps = total_steps(config, num_parameters)
    flops_per_token = model.flops_per_token(config.seq_len)
    peak = device_peak_flops(config, accelerator.device)
    optimizers = build_optimizers(model, config)
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["initial_lr"] = group["lr"]
    model, *optimizers = accelerator.prepare(model, *optimizers)
    # Only the training step runs compiled: checkpoints keep the model's own parameter names (no `_orig_mod.`, so a
    # run resumes with or without compile) and evaluation and sampling, whose shapes vary, stay eager.
    train_forward = torch.compile(model) if config.torch_compile else model

    if fetched is not None:  # the shards the run needs, this process's share, arriving while it trains
        documents = fetched.documents(
            tokenizer, max_steps * config.total_batch_size + config.eval_tokens, accelerator.process_index,
            accelerator.num_processes, held_out, seed=config.seed, progress=main,
        )  # fmt: skip
    stream = PretrainingStream(
        documents, tokenizer, config.seq_len, config.per_device_train_batch_size,
        rank=accelerator.process_index, world_size=accelerator.num_processes, seed=config.seed,
        block_size=config.block_size, prefetch=config.stream_prefetch,
    )  # fmt: skip
    step, tokens = 0, 0
    if resume_from is not None:
        state = checkpoints.read_trainer_state(resume_from)
        accelerator.load_state(str(resume_from))
        stream.load_state_dict(json.loads((resume_from / f"data_state_rank{accelerator.process_index}.json").read_text()))
        step, tokens = state["step"], state["tokens"]
        if main:
            trim_metrics(output_dir / METRICS_FILE, step)
        logger.info("resumed from %s at step %d", resume_from, step)

    if trackers:
        accelerator.init_trackers(config.run_name or "hfchat-pretrain", config={"max_steps": max_steps})
    token_bytes = token_byte_lengths(tokenizer)
    logger.info(
        "%s parameters, %d steps of %d tokens (%d x %d rows x %d accumulation x %d processes)",
        f"{num_parameters:,}", max_steps, config.total_batch_size, config.per_device_train_batch_size,
        config.seq_len, grad_accum, accelerator.num_processes,
    )  # fmt: skip

    batches = iter(stream)
    unwrapped = accelerator.unwrap_model(model)
    progress = tqdm(total=max_steps, initial=step, disable=not main, desc="pretrain", dynamic_ncols=True)
    window_loss, window_steps, window_time = torch.zeros((), device=accelerator.device), 0, 0.0
    model.train()
    while step < max_steps:
        started = time.perf_counter()
        multiplier = lr_multiplier(step, max_steps, config.warmup_steps, config.warmdown_ratio, config.final_lr_fraction)
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"] * multiplier
        for micro_step in range(grad_accum):
            rows = next(batches).to(accelerator.device)
            inputs, targets = rows[:, :-1], rows[:, 1:].contiguous()
            sync = micro_step == grad_accum - 1
            with nullcontext() if sync else accelerator.no_sync(model):
                # `shift_labels`: the targets are already the inputs shifted by one (rows hold seq_len + 1 tokens).
                loss = train_forward(input_ids=inputs, labels=targets, shift_labels=targets, use_cache=False).loss
                accelerator.backward(loss / grad_accum)
            window_loss += loss.detach() / grad_accum
        if config.max_grad_norm > 0:
            accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        for optimizer in optimizers:
            optimizer.step()
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        step += 1
        tokens += config.total_batch_size
        window_steps += 1
        window_time += time.perf_counter() - started
        progress.update(1)

        if step % config.logging_steps == 0 or step == max_steps:
            loss_value = accelerator.reduce(window_loss, reduction="mean").item() / window_steps
            tokens_per_s = window_steps * config.total_batch_size / window_time
            record = {
                "step": step,
                "loss": round(loss_value, 6),
                "lr": optimizers[0].param_groups[0]["lr"],
                "lr_multiplier": multiplier,
                "tokens": tokens,
                "tokens_per_s": round(tokens_per_s, 1),
                "epoch": stream.epoch,
                "world_size": accelerator.num_processes,
            }
            if peak:
                record["mfu"] = round(flops_per_token * tokens_per_s / (peak * accelerator.num_processes), 4)
            if config.eval_steps and (step % config.eval_steps == 0 or step == max_steps):
                record.update(evaluate(unwrapped, validation, tokenizer, token_bytes, config, accelerator))
            if main:
                with open(output_dir / METRICS_FILE, "a") as f:
                    f.write(json.dumps(record) + "\n")
                postfix = {"loss": f"{loss_value:.3f}", "tok/s": f"{tokens_per_s:,.0f}"}
                if "mfu" in record:
                    postfix["mfu"] = f"{record['mfu']:.1%}"
                if "val_bpb" in record:
                    postfix["val_bpb"] = f"{record['val_bpb']:.3f}"
                progress.set_postfix(postfix)
            accelerator.log({k: v for k, v in record.items() if k != "step"}, step=step)
            window_loss.zero_()
            window_steps, window_time = 0, 0.0

        if config.sample_steps and step % config.sample_steps == 0 and main:
            for prompt, sample in zip(config.sample_prompts, generate_samples(
                unwrapped, tokenizer, config.sample_prompts, config.sample_max_new_tokens, accelerator
            )):  # fmt: skip
                progress.write(f"[step {step}] {prompt!r} -> {sample!r}")
        if (config.save_steps and step % config.save_steps == 0) or step == max_steps:
            save_checkpoint(accelerator, config, step, stream, {"tokens": tokens, "max_steps": max_steps})
    progress.close()
    batches.close()  # the stream's background thread ends here
    if fetched is not None:
        documents.fetcher.cancel()  # shards the margin took but training did not reach

    samples = {}
    if main:
        save_final_model(unwrapped, tokenizer, output_dir)
        outputs = generate_samples(
            unwrapped, tokenizer, config.sample_prompts, config.sample_max_new_tokens, accelerator
        )
        samples = dict(zip(config.sample_prompts, outputs))
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return PretrainResult(output_dir, accelerator.is_main_process, step, samples, config.per_device_train_batch_size)


def save_final_model(model, tokenizer, output_dir: Path) -> None:
    """`save_pretrained` into a temporary folder, then move each file into ``output_dir``."""
    tmp = output_dir / "tmp-final"
    shutil.rmtree(tmp, ignore_errors=True)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(tmp)
    save_tokenizer(tokenizer, tmp)
    move_into(tmp, output_dir)
