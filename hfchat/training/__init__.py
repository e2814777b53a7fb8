"""Pretraining on `accelerate`: the configuration, the optimizer and schedule, checkpoints, and the loop."""

from .config import PretrainConfig
from .loop import pretrain

__all__ = ["PretrainConfig", "pretrain"]
