"""The shape, parameter count and training FLOPs of the model a depth gives, without building its weights.

Example:
    >>> summary = size_summary(20, vocab_size=65536)
    >>> summary["hidden_size"], summary["num_attention_heads"], f"{summary['parameters']:,}"
    (1280, 10, '564,322,560')
"""

import torch

from .configuration_hfchat import HFChatConfig
from .modeling_hfchat import HFChatForCausalLM


def size_summary(depth: int, vocab_size: int = 65536, seq_len: int = 2048) -> dict[str, int]:
    """Width, heads, parameters (with and without the input embedding) and training FLOPs per token at
    ``seq_len`` of `HFChatConfig.from_depth(depth)`; the model is built on the meta device (shapes only)."""
    config = HFChatConfig.from_depth(depth, vocab_size=vocab_size)
    with torch.device("meta"):
        model = HFChatForCausalLM(config)
    parameters = model.num_parameters()
    return {
        "depth": config.num_hidden_layers,
        "hidden_size": config.hidden_size,
        "num_attention_heads": config.num_attention_heads,
        "head_dim": config.head_dim,
        "intermediate_size": config.intermediate_size,
        "vocab_size": config.vocab_size,
        "parameters": parameters,
        "parameters_without_embeddings": parameters - config.vocab_size * config.hidden_size,
        "train_flops_per_token": model.flops_per_token(seq_len),
    }
