"""Generation for people and servers: sampling parameters, a batching engine, chat with tool calls."""

from .engine import FINISH_REASONS, Engine, Stream, Token
from .params import SamplingParams

__all__ = ["FINISH_REASONS", "Engine", "SamplingParams", "Stream", "Token"]
