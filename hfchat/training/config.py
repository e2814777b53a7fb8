"""The pretraining configuration: one dataclass, read from YAML plus CLI overrides by `TrlParser`.

Field names follow `transformers.TrainingArguments` where one exists (``output_dir``, ``max_steps``,
``learning_rate``, ``warmup_steps``, ``save_steps``, ``resume_from_checkpoint``, ``report_to``, ``bf16``, ...).
"""

import os
from dataclasses import dataclass, field

import yaml

from ..data.sources import TextSource

OPTIMIZERS = ("muon", "adamw")
TRACKERS = ("none", "all", "tensorboard", "trackio", "wandb")


@dataclass
class PretrainConfig:
    # Output and run control
    output_dir: str = field(metadata={"help": "where checkpoints, metrics.jsonl and the final model go"})
    seed: int = field(default=42, metadata={"help": "seed for the model init, the data order and sampling"})
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={"help": "'latest' (newest complete checkpoint in output_dir, or a fresh start if none) or a path"},
    )
    # Model
    depth: int | None = field(default=None, metadata={"help": "build a new model of this depth (HFChatConfig.from_depth)"})
    model_name_or_path: str | None = field(default=None, metadata={"help": "continue training this model instead"})
    head_dim: int = field(default=128, metadata={"help": "attention head size of a new model"})
    num_key_value_heads: int | None = field(default=None, metadata={"help": "key/value heads (GQA); default: all"})
    hidden_act: str = field(default="silu", metadata={"help": "'silu' (gated, Qwen3/Llama) or 'relu2' (nanochat)"})
    qk_norm: bool = field(default=True, metadata={"help": "QK-norm (Qwen3 layout); off gives Llama's layout"})
    tie_word_embeddings: bool = field(default=False, metadata={"help": "share the embedding with the output head"})
    max_position_embeddings: int | None = field(default=None, metadata={"help": "context length; default seq_len"})
    attn_implementation: str = field(default="sdpa", metadata={"help": "eager, sdpa, flash_attention_2, ..."})
    # Tokenizer
    tokenizer_name_or_path: str | None = field(
        default=None, metadata={"help": "a trained tokenizer; without one a new one is trained on the training data"}
    )
    vocab_size: int = field(default=65536, metadata={"help": "vocabulary size of a newly trained tokenizer"})
    tokenizer_train_documents: int = field(
        default=200_000, metadata={"help": "documents a new tokenizer is trained on (from the start of the data)"}
    )
    # Data
    datasets: list[TextSource] = field(
        default_factory=lambda: [TextSource("builtin:stories")],
        metadata={"help": "text sources: builtin:<name>, local files or folders, Hub ids (YAML: list of mappings)"},
    )
    streaming: bool = field(
        default=False, metadata={"help": "read the sources as streams instead of downloading them first"}
    )
    fetch_shards_to: str | None = field(
        default=None,
        metadata={"help": "folder: fetch only the parquet shards of the (one) source that the run needs, each "
                          "process its own share, in the background while it trains (see `hfchat fetch-shards`)"},
    )
    validation_split: str | None = field(
        default=None,
        metadata={"help": "split of the (first) source used for validation; default: hold out documents instead"},
    )
    validation_documents: int = field(
        default=1000, metadata={"help": "documents held out of the training data for validation, if no split"}
    )
    seq_len: int = field(default=2048, metadata={"help": "tokens per training row"})
    block_size: int = field(
        default=1024, metadata={"help": "documents packed together; process r takes blocks r, r + processes, ..."}
    )
    stream_prefetch: int = field(
        default=64, metadata={"help": "batches a background thread tokenises and packs ahead of the training step "
                                      "(0: in the step itself); the batches and their order are the same"}
    )
    # Batch and horizon
    total_batch_size: int = field(default=524_288, metadata={"help": "tokens per optimizer step, all processes"})
    # A string field so that the parsers take `auto`; __post_init__ makes a number an int.
    per_device_train_batch_size: str = field(
        default="32",
        metadata={"help": "rows per forward pass per process, or `auto`: the largest that fits the device's memory "
                          "by `hfchat plan`'s estimate"},
    )
    max_steps: int = field(default=-1, metadata={"help": "optimizer steps; -1: from target_param_data_ratio"})
    target_param_data_ratio: float = field(
        default=20.0, metadata={"help": "training tokens per parameter when max_steps is -1 (Chinchilla: 20)"}
    )
    # Optimizer and schedule
    optimizer: str = field(default="muon", metadata={"help": "'muon' (Muon for hidden matrices + AdamW) or 'adamw'"})
    learning_rate: float = field(default=0.02, metadata={"help": "LR of the hidden matrices (Muon or AdamW)"})
    embedding_learning_rate: float = field(default=0.2, metadata={"help": "AdamW LR of the token embedding"})
    unembedding_learning_rate: float = field(default=0.004, metadata={"help": "AdamW LR of the output head"})
    scalar_learning_rate: float = field(default=0.004, metadata={"help": "AdamW LR of the norm weights"})
    weight_decay: float = field(default=0.0, metadata={"help": "weight decay of the hidden matrices"})
    adam_beta1: float = field(default=0.8, metadata={"help": "AdamW beta1"})
    adam_beta2: float = field(default=0.95, metadata={"help": "AdamW beta2"})
    adam_epsilon: float = field(default=1e-10, metadata={"help": "AdamW epsilon"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm; 0 disables"})
    warmup_steps: int = field(default=0, metadata={"help": "linear warmup steps"})
    warmdown_ratio: float = field(default=0.2, metadata={"help": "final fraction of steps with linear LR decay"})
    final_lr_fraction: float = field(default=0.0, metadata={"help": "LR at the end, as a fraction of the peak"})
    # Evaluation, logging, checkpoints
    logging_steps: int = field(default=10, metadata={"help": "log every N steps (metrics.jsonl, trackers)"})
    eval_steps: int = field(default=250, metadata={"help": "validation loss and bits-per-byte every N steps; 0: off"})
    eval_tokens: int = field(default=1_048_576, metadata={"help": "validation tokens per evaluation (all processes)"})
    sample_steps: int = field(default=0, metadata={"help": "print greedy samples every N steps; 0: only at the end"})
    sample_prompts: list[str] = field(
        default_factory=lambda: ["Once upon a time", "The capital of France is", "2 plus 3 is"],
        metadata={"help": "prompts for the periodic samples"},
    )
    sample_max_new_tokens: int = field(default=48, metadata={"help": "tokens per sample"})
    save_steps: int = field(default=1000, metadata={"help": "checkpoint every N steps; 0: only at the end"})
    save_total_limit: int = field(default=2, metadata={"help": "checkpoints kept (oldest removed first)"})
    report_to: list[str] = field(default_factory=lambda: ["none"], metadata={"help": f"trackers: {TRACKERS}"})
    run_name: str | None = field(default=None, metadata={"help": "run name for the trackers"})
    # Speed
    bf16: bool = field(default=False, metadata={"help": "bf16 mixed precision (autocast)"})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "recompute activations in backward"})
    torch_compile: bool = field(
        default=False, metadata={"help": "torch.compile the training step (evaluation and sampling stay eager)"}
    )
    device_peak_flops: float | None = field(
        default=None, metadata={"help": "peak FLOP/s of one device for MFU; default: known GPUs' bf16 peak"}
    )

    def __post_init__(self):
        self.datasets = [TextSource.parse(source) for source in self.datasets]
        if isinstance(self.report_to, str):
            self.report_to = [self.report_to]
        if (self.depth is None) == (self.model_name_or_path is None):
            raise ValueError("PretrainConfig: give exactly one of `depth` (a new model) or `model_name_or_path`")
        if self.depth is not None and self.depth <= 0:
            raise ValueError(f"PretrainConfig.depth must be positive, got {self.depth}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"PretrainConfig.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.fetch_shards_to is not None and (len(self.datasets) != 1 or self.streaming):
            raise ValueError("PretrainConfig.fetch_shards_to fetches the shards of one source, not streamed: got "
                             f"{len(self.datasets)} source(s), streaming={self.streaming}")
        batch = str(self.per_device_train_batch_size).strip()
        if batch != "auto" and not batch.lstrip("-").isdigit():
            raise ValueError(f"PretrainConfig.per_device_train_batch_size must be a number or 'auto', got {batch!r}")
        self.per_device_train_batch_size = batch if batch == "auto" else int(batch)
        positive = ("seq_len", "block_size", "total_batch_size", "logging_steps")
        if batch != "auto":
            positive += ("per_device_train_batch_size",)
        if self.stream_prefetch < 0:
            raise ValueError(f"PretrainConfig.stream_prefetch must be 0 or more, got {self.stream_prefetch}")
        for name in (*positive, "eval_tokens"):
            if getattr(self, name) <= 0:
                raise ValueError(f"PretrainConfig.{name} must be positive, got {getattr(self, name)}")
        for name in ("save_steps", "eval_steps", "sample_steps", "warmup_steps", "validation_documents"):
            if getattr(self, name) < 0:
                raise ValueError(f"PretrainConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.save_total_limit < 1:
            raise ValueError(f"PretrainConfig.save_total_limit must be at least 1, got {self.save_total_limit}")
        if not 0.0 <= self.warmdown_ratio <= 1.0:
            raise ValueError(f"PretrainConfig.warmdown_ratio must be in [0, 1], got {self.warmdown_ratio}")
        if not 0.0 <= self.final_lr_fraction <= 1.0:
            raise ValueError(f"PretrainConfig.final_lr_fraction must be in [0, 1], got {self.final_lr_fraction}")
        if self.max_position_embeddings is not None and self.seq_len > self.max_position_embeddings:
            raise ValueError(
                f"PretrainConfig.seq_len ({self.seq_len}) is above max_position_embeddings "
                f"({self.max_position_embeddings})"
            )
        unknown = set(self.report_to) - set(TRACKERS)
        if unknown:
            raise ValueError(f"PretrainConfig.report_to: unknown trackers {sorted(unknown)}; use {TRACKERS}")
        if self.resume_from_checkpoint == "":
            self.resume_from_checkpoint = None


def read_pretrain_config(path: str | os.PathLike) -> PretrainConfig:
    """The settings of a pretraining YAML (a preset's), to read rather than to train: a YAML without
    ``output_dir`` gets a placeholder one. A missing file is a `ValueError` naming it."""
    if not os.path.isfile(path):
        raise ValueError(f"no such file: {path}")
    with open(path) as f:
        return PretrainConfig(**{"output_dir": "unused", **(yaml.safe_load(f) or {})})
