"""Export an hfchat model to formats that run without hfchat's code: transformers' own `LlamaForCausalLM` or
`Qwen3ForCausalLM` (no ``trust_remote_code``), and GGUF for llama.cpp / Ollama.

    hfchat export --model runs/tiny/sft --to qwen3 --output runs/tiny/sft-qwen3
"""

from .gguf import OUTTYPES, export_gguf
from .transformers_export import TARGETS, ExportError, compare_logits, export_transformers, reference_config

__all__ = ["OUTTYPES", "TARGETS", "ExportError", "compare_logits", "export_gguf", "export_transformers",
           "reference_config"]
