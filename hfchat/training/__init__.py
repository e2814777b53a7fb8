"""Pretraining on `accelerate`: the configuration, the optimizer and schedule, checkpoints, and the loop."""

from .config import PretrainConfig
from .loop import PretrainResult, pretrain

__all__ = ["PretrainConfig", "PretrainResult", "pretrain"]
