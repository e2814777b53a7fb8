"""hfchat: train your own small ChatGPT end to end on the Hugging Face stack."""

from .modeling import HFChatConfig, HFChatForCausalLM, HFChatModel, HFChatPreTrainedModel
from .tokenizer import bytes_per_token, save_tokenizer, train_tokenizer

__version__ = "0.1.0"

__all__ = [
    "HFChatConfig",
    "HFChatModel",
    "HFChatForCausalLM",
    "HFChatPreTrainedModel",
    "train_tokenizer",
    "save_tokenizer",
    "bytes_per_token",
]
