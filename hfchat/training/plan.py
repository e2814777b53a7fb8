"""How a pretraining preset fits on its GPUs: memory per process, the largest per-device batch, step time.

Memory of one process, in bytes (``P`` parameters, ``M`` of them in the hidden matrices that Muon trains):

- weights ``4P`` (float32 master copy), gradients ``4P``, optimizer state ``4M`` (Muon's momentum) plus
  ``8(P - M)`` (AdamW's two moments; ``8P`` with ``optimizer: adamw``), and with more than one process DDP's
  gradient buckets, another ``4P``;
- activations, measured rather than guessed: the model is run at the preset's width with 1 and 2 layers on two
  lengths under bf16 autocast on CPU, and the tensors autograd saves for backward are counted
  (`torch.autograd.graph.saved_tensors_hooks`, parameters left out). That gives bytes per layer and token, per
  token outside the layers (embedding, head, loss), per layer whatever the batch (bf16 copies of its weights) and
  per model (the head's bf16 copy);
- the loss's transient at the end of the forward pass: the logits in the compute dtype and their float32 copy
  while cross-entropy runs;
- with gradient checkpointing a layer keeps only its float32 input, and backward recomputes one layer at a time
  (a third more FLOPs per step).

Gradients are counted beside the whole forward's activations, as from the second accumulation step on.

The batch is the largest ``per_device_train_batch_size`` that divides ``total_batch_size / (seq_len * gpus)``
and leaves ``headroom`` of the GPU's memory (and `CUDA_CONTEXT_BYTES`) free. The estimate is for eager PyTorch;
``torch.compile`` fuses the norms and activations and usually saves less. `benchmarks/plan_memory.py` checks it
against the peak memory a CPU training step really takes.

Example:
    >>> from hfchat.training import PretrainConfig
    >>> config = PretrainConfig(output_dir="unused", depth=2, vocab_size=512, seq_len=64, total_batch_size=4096,
    ...                         per_device_train_batch_size="auto")
    >>> plan = plan_pretraining(config, gpus=2, gpu_memory_gb=4)
    >>> plan.rows_per_step_per_device, plan.per_device_train_batch_size, plan.gradient_accumulation_steps
    (32, 32, 1)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ..modeling import HFChatConfig, HFChatForCausalLM
from .config import PretrainConfig

GIB = 1024**3
# Memory CUDA, cuBLAS and NCCL take before the first tensor, and what the caching allocator loses to fragmentation.
CUDA_CONTEXT_BYTES = 2 * GIB
DEFAULT_MFU = 0.4
PROBE_LENGTHS = (64, 128)


@dataclass(frozen=True)
class ActivationBytes:
    """Saved-for-backward bytes of one forward pass: ``per_layer_token * layers * tokens + per_token * tokens +
    per_layer * layers + fixed``, plus the loss's transient ``loss_per_token * tokens``."""

    per_layer_token: float
    per_token: float
    per_layer: float
    fixed: float  # the bf16 copy of the output head
    loss_per_token: float
    checkpointed_per_layer_token: float  # a layer's float32 input, all a checkpointed layer keeps

    def total(self, layers: int, tokens: int, checkpointing: bool = False) -> float:
        outside = self.per_token * tokens + self.loss_per_token * tokens + self.fixed
        one_layer = self.per_layer_token * tokens + self.per_layer
        if checkpointing:
            return self.checkpointed_per_layer_token * layers * tokens + one_layer + outside
        return one_layer * layers + outside


def _saved_bytes(model: HFChatForCausalLM, tokens: int, bf16: bool) -> int:
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    ids = torch.randint(0, model.config.vocab_size, (1, tokens + 1))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            targets = ids[:, 1:].contiguous()
            model(input_ids=ids[:, :-1], labels=targets, shift_labels=targets, use_cache=False)
    return sum(saved.values())


def measure_activations(model_config: HFChatConfig, bf16: bool = True) -> ActivationBytes:
    """Run the model at ``model_config``'s width with 1 and 2 layers on `PROBE_LENGTHS` tokens (CPU, random
    weights, the caller's random state untouched) and solve for the terms of `ActivationBytes`."""
    short, long = PROBE_LENGTHS
    measured = {}
    with torch.random.fork_rng(devices=[]):
        for layers in (1, 2):
            fields = model_config.to_dict()
            fields.update(num_hidden_layers=layers, layer_types=fields["layer_types"][:layers])
            probe = HFChatConfig.from_dict(fields)
            probe.max_position_embeddings = max(probe.max_position_embeddings, long)
            torch.manual_seed(0)
            model = HFChatForCausalLM(probe).train()
            for tokens in (short, long):
                measured[layers, tokens] = _saved_bytes(model, tokens, bf16)
    per_layer_token = (measured[2, long] - measured[1, long] - measured[2, short] + measured[1, short]) / (long - short)
    per_layer = measured[2, short] - measured[1, short] - per_layer_token * short
    per_token = (measured[1, long] - measured[1, short]) / (long - short) - per_layer_token
    fixed = measured[1, short] - per_layer - (per_layer_token + per_token) * short
    logit_bytes = 2 if bf16 else 4
    return ActivationBytes(
        per_layer_token=per_layer_token,
        per_token=per_token,
        per_layer=per_layer,
        fixed=fixed,
        loss_per_token=(logit_bytes + 4) * model_config.vocab_size,
        checkpointed_per_layer_token=4 * model_config.hidden_size,
    )


@dataclass(frozen=True)
class Plan:
    gpus: int
    gpu_memory_gb: float
    headroom: float
    gradient_checkpointing: bool
    parameters: int
    weights_gb: float
    gradients_gb: float
    optimizer_gb: float
    ddp_buckets_gb: float
    activations_per_row_gb: float
    per_device_train_batch_size: int | None  # None: not even one row fits
    rows_per_step_per_device: int
    gradient_accumulation_steps: int | None
    peak_gb: float | None  # at the chosen batch
    tokens_per_step: int
    steps: int
    mfu: float
    peak_flops: float
    step_seconds: float
    hours: float

    def as_dict(self) -> dict:
        return asdict(self)


def model_config_for(config: PretrainConfig) -> HFChatConfig:
    """The `HFChatConfig` pretraining builds for a ``depth`` preset (vocabulary: ``vocab_size``)."""
    from .loop import new_model_config

    return new_model_config(config, config.vocab_size)


def plan_pretraining(config: PretrainConfig, gpus: int, gpu_memory_gb: float, *, headroom: float = 0.1,
                     gradient_checkpointing: bool | None = None, mfu: float = DEFAULT_MFU,
                     peak_flops: float = 989e12, context_bytes: int = CUDA_CONTEXT_BYTES,
                     activations: ActivationBytes | None = None) -> Plan:
    """The memory, batch and time of ``config`` on ``gpus`` devices of ``gpu_memory_gb`` GiB each."""
    from .loop import total_steps
    from .optim import parameter_groups

    if config.depth is None:
        raise ValueError("plan: `depth` is needed (a preset that continues a model_name_or_path is not planned)")
    if gpus <= 0 or gpu_memory_gb <= 0:
        raise ValueError(f"plan: gpus ({gpus}) and gpu_memory_gb ({gpu_memory_gb}) must be positive")
    model_config = model_config_for(config)
    with torch.device("meta"):
        model = HFChatForCausalLM(model_config)
    parameters = model.num_parameters()
    matrices = sum(p.numel() for p in parameter_groups(model)["matrices"])
    adam = parameters if config.optimizer == "adamw" else parameters - matrices
    muon = 0 if config.optimizer == "adamw" else matrices
    static = {"weights": 4 * parameters, "gradients": 4 * parameters, "optimizer": 4 * muon + 8 * adam,
              "ddp": 4 * parameters if gpus > 1 else 0}
    checkpointing = config.gradient_checkpointing if gradient_checkpointing is None else gradient_checkpointing
    activations = activations or measure_activations(model_config, bf16=config.bf16)
    layers = model_config.num_hidden_layers

    def peak(rows: int) -> float:
        return sum(static.values()) + activations.total(layers, rows * config.seq_len, checkpointing)

    rows_per_device, rest = divmod(config.total_batch_size, config.seq_len * gpus)
    if rest:
        raise ValueError(f"plan: `total_batch_size` ({config.total_batch_size}) is not a multiple of "
                         f"seq_len * gpus = {config.seq_len * gpus}")
    budget = (1 - headroom) * gpu_memory_gb * GIB - context_bytes
    fitting = [rows for rows in range(1, rows_per_device + 1) if rows_per_device % rows == 0 and peak(rows) <= budget]
    batch = max(fitting) if fitting else None
    steps = total_steps(config, parameters)
    recompute = 4 / 3 if checkpointing else 1.0  # backward recomputes each layer's forward: a third more FLOPs
    flops = model.flops_per_token(config.seq_len) * config.total_batch_size * recompute
    step_seconds = flops / (gpus * peak_flops * mfu)
    per_row = activations.total(layers, config.seq_len, checkpointing) - activations.total(layers, 0, checkpointing)
    return Plan(
        gpus=gpus,
        gpu_memory_gb=gpu_memory_gb,
        headroom=headroom,
        gradient_checkpointing=checkpointing,
        parameters=parameters,
        weights_gb=static["weights"] / GIB,
        gradients_gb=static["gradients"] / GIB,
        optimizer_gb=static["optimizer"] / GIB,
        ddp_buckets_gb=static["ddp"] / GIB,
        activations_per_row_gb=per_row / GIB,
        per_device_train_batch_size=batch,
        rows_per_step_per_device=rows_per_device,
        gradient_accumulation_steps=rows_per_device // batch if batch else None,
        peak_gb=peak(batch) / GIB if batch else None,
        tokens_per_step=config.total_batch_size,
        steps=steps,
        mfu=mfu,
        peak_flops=peak_flops,
        step_seconds=step_seconds,
        hours=steps * step_seconds / 3600,
    )


def format_plans(name: str, plans: list[Plan]) -> str:
    """A Markdown table, one column per plan (without and with gradient checkpointing, say)."""
    def gb(value: float | None) -> str:
        if value is None:
            return "-"
        return f"{value:.1f} GB" if value >= 1 else f"{value * 1024:.0f} MB"

    def label(plan: Plan) -> str:
        return "checkpointing" if plan.gradient_checkpointing else "no checkpointing"

    rows = [
        ("parameters", lambda p: f"{p.parameters:,}"),
        ("weights (fp32)", lambda p: gb(p.weights_gb)),
        ("gradients (fp32)", lambda p: gb(p.gradients_gb)),
        ("optimizer state", lambda p: gb(p.optimizer_gb)),
        ("DDP buckets", lambda p: gb(p.ddp_buckets_gb)),
        ("activations per row", lambda p: gb(p.activations_per_row_gb)),
        ("per-device batch", lambda p: "does not fit" if p.per_device_train_batch_size is None
            else f"{p.per_device_train_batch_size} of {p.rows_per_step_per_device}"),
        ("accumulation steps", lambda p: str(p.gradient_accumulation_steps or "-")),
        ("peak memory", lambda p: gb(p.peak_gb)),
        ("tokens per step", lambda p: f"{p.tokens_per_step:,}"),
        ("steps", lambda p: f"{p.steps:,}"),
        ("step time", lambda p: f"{p.step_seconds:.3g} s at {p.mfu:.0%} MFU"),
        ("hours", lambda p: f"{p.hours:.3g}"),
    ]
    first = plans[0]
    lines = [f"{name}: {first.gpus} GPU(s) x {first.gpu_memory_gb:g} GB, {first.headroom:.0%} headroom, "
             f"{first.peak_flops / 1e12:.0f} TFLOP/s bf16 peak",
             "", "| | " + " | ".join(label(p) for p in plans) + " |", "|---" * (len(plans) + 1) + "|"]
    lines += [f"| {title} | " + " | ".join(cell(p) for p in plans) + " |" for title, cell in rows]
    return "\n".join(lines)


def device_memory_gb(device: torch.device, processes_per_machine: int) -> float:
    """What one process may use: the GPU's memory, or on CPU the machine's RAM shared by its processes."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory / GIB
    import psutil

    return psutil.virtual_memory().total / GIB / processes_per_machine


def auto_batch_size(config: PretrainConfig, processes: int, device: torch.device, processes_per_machine: int,
                    peak_flops: float | None = None) -> Plan:
    """The plan behind ``per_device_train_batch_size: auto`` on this machine (no CUDA context on CPU)."""
    plan = plan_pretraining(config, processes, device_memory_gb(device, processes_per_machine),
                            peak_flops=peak_flops or 989e12,
                            context_bytes=CUDA_CONTEXT_BYTES if device.type == "cuda" else 0)
    if plan.per_device_train_batch_size is None:
        raise ValueError(
            f"PretrainConfig.per_device_train_batch_size: auto: not even one row of {config.seq_len} tokens fits "
            f"in {plan.gpu_memory_gb:.1f} GB per process; set `gradient_checkpointing` or a smaller `seq_len`"
        )
    return plan
