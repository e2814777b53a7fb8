"""Optimizer and learning-rate schedule for pretraining.

With ``optimizer="muon"`` the hidden 2-D matrices (attention and MLP projections) are trained with
`torch.optim.Muon` and everything else (token embedding, output head, norm weights) with AdamW, each at its own
learning rate, as nanochat does. With ``"adamw"`` one AdamW trains everything with the same parameter groups.
AdamW learning rates are scaled by (hidden_size / 768) ** -0.5 so that they carry over across widths.
"""

import torch
from torch import nn

from .config import PretrainConfig


def parameter_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Split the parameters into hidden matrices, embedding, output head and scalars (norm weights)."""
    embedding = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    groups = {"matrices": [], "embedding": [embedding], "head": [], "scalars": []}
    seen = {id(embedding)}
    if id(head) not in seen:
        groups["head"].append(head)
        seen.add(id(head))
    for param in model.parameters():
        if id(param) in seen or not param.requires_grad:
            continue
        seen.add(id(param))
        groups["matrices" if param.ndim == 2 else "scalars"].append(param)
    return groups


def build_optimizers(model: nn.Module, config: PretrainConfig) -> list[torch.optim.Optimizer]:
    groups = parameter_groups(model)
    scale = (model.config.hidden_size / 768) ** -0.5
    betas, eps = (config.adam_beta1, config.adam_beta2), config.adam_epsilon
    adam_groups = [
        {"params": groups["embedding"], "lr": config.embedding_learning_rate * scale, "weight_decay": 0.0},
        {"params": groups["head"], "lr": config.unembedding_learning_rate * scale, "weight_decay": 0.0},
        {"params": groups["scalars"], "lr": config.scalar_learning_rate * scale, "weight_decay": 0.0},
    ]
    if config.optimizer == "adamw":
        adam_groups.append(
            {"params": groups["matrices"], "lr": config.learning_rate, "weight_decay": config.weight_decay}
        )
        return [torch.optim.AdamW([g for g in adam_groups if g["params"]], betas=betas, eps=eps)]
    muon = torch.optim.Muon(groups["matrices"], lr=config.learning_rate, weight_decay=config.weight_decay)
    adamw = torch.optim.AdamW([g for g in adam_groups if g["params"]], betas=betas, eps=eps)
    return [muon, adamw]


def lr_multiplier(step: int, max_steps: int, warmup_steps: int, warmdown_ratio: float, final_fraction: float) -> float:
    """Warmup -> constant -> linear warmdown to ``final_fraction`` of the peak.

    >>> [round(lr_multiplier(s, 10, 2, 0.5, 0.0), 2) for s in range(10)]
    [0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2]
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    warmdown_steps = round(warmdown_ratio * max_steps)
    if warmdown_steps == 0 or step < max_steps - warmdown_steps:
        return 1.0
    progress = (max_steps - step) / warmdown_steps
    return progress + (1 - progress) * final_fraction
