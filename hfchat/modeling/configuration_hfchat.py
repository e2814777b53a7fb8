"""Configuration of the hfchat GPT.

Field names follow Llama/Qwen3 so that the ecosystem (PEFT target modules, vLLM/TGI transformers backends, export)
finds what it expects. This file is copied next to the weights by ``save_pretrained`` and loaded with
``trust_remote_code=True``: it imports nothing but ``transformers``.
"""

import math

from transformers import PretrainedConfig

ACTIVATIONS = ("silu", "relu2")

# What ``save_pretrained`` writes into config.json so that every Auto class resolves to the remote code:
# vLLM looks up ``AutoModel``, TGI and transformers ``AutoModelForCausalLM``.
AUTO_MAP = {
    "AutoConfig": "configuration_hfchat.HFChatConfig",
    "AutoModel": "modeling_hfchat.HFChatModel",
    "AutoModelForCausalLM": "modeling_hfchat.HFChatForCausalLM",
}


LAYER_TYPES = ("full_attention", "sliding_attention")


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


class HFChatConfig(PretrainedConfig):
    r"""Configuration of [`HFChatForCausalLM`]: a pre-norm decoder-only GPT.

    The defaults (gated SiLU MLP, QK-norm, no biases, untied embeddings) are exactly Qwen3's layout; with
    ``qk_norm=False`` they are exactly Llama's. ``hidden_act="relu2"`` (a plain ReLU² MLP, as nanochat uses) and
    ``final_logit_softcapping`` are available but give a model that only this code runs, as do the options of
    nanochat's current architecture (``embedding_norm`` to ``backout_layer`` below, all off by default), which
    ``hfchat import-nanochat`` sets.

    Args:
        vocab_size: number of tokens.
        hidden_size: width of the residual stream.
        intermediate_size: width of the MLP (per branch for the gated SiLU MLP).
        num_hidden_layers: number of decoder layers.
        num_attention_heads: query heads.
        num_key_value_heads: key/value heads (grouped-query attention); defaults to ``num_attention_heads``.
        head_dim: size of one head; defaults to ``hidden_size // num_attention_heads``.
        hidden_act: ``"silu"`` (gated MLP, Llama/Qwen3) or ``"relu2"`` (ungated ReLU², nanochat).
        qk_norm: RMSNorm over each query and key head before the rotary embedding (Qwen3).
        max_position_embeddings: longest sequence the model is meant for.
        rope_theta: base of the rotary embedding frequencies.
        rms_norm_eps: epsilon of every RMSNorm.
        tie_word_embeddings: share the input embedding with the output head.
        final_logit_softcapping: if set, logits become ``cap * tanh(logits / cap)``.
        attention_dropout: dropout on attention probabilities while training.
        layer_types: per layer, ``"full_attention"`` or ``"sliding_attention"`` (transformers' names; default: all
            full).
        sliding_window: keys a sliding-attention layer sees, its own position included (transformers' meaning).
        qk_norm_after_rope: apply the query/key norms after the rotary embedding (nanochat) instead of before (Qwen3).
        rotary_table_dtype: ``"bfloat16"`` rounds the rotary cos/sin tables to bfloat16, as nanochat kept them
            before 2026 (None: float32, then the activations' dtype).
        embedding_norm: an RMSNorm on the token embeddings before the first layer (nanochat).
        value_embedding_layers: layers whose attention values get a second token embedding added, gated per key/value
            head by a sigmoid of the layer input's first ``value_gate_channels`` channels times
            ``value_gate_scale`` (nanochat's value embeddings, after ResFormer).
        value_gate_channels: input channels the value-embedding gate reads.
        value_gate_scale: the gate's range is (0, value_gate_scale).
        smear_channels: if set, each position adds ``smear_lambda * sigmoid(gate(x[:smear_channels]))`` times the
            previous position's (normalised) embedding to its own (nanochat's smear); cached decoding carries the
            previous embedding in the cache.
        layer_scalars: before each layer the residual stream becomes ``resid_lambdas[i] * x + x0_lambdas[i] * x0``,
            ``x0`` being the (normalised, smeared) embedding (nanochat).
        backout_layer: if set, ``backout_lambda`` times the residual stream after this layer is subtracted before the
            final norm (nanochat's backout).
        initializer_range: standard deviation used by the ecosystem's generic initialisers (ours is in
            ``HFChatPreTrainedModel._init_weights``).

    Example:
        >>> from hfchat import HFChatConfig
        >>> config = HFChatConfig.from_depth(4, vocab_size=1024)
        >>> (config.hidden_size, config.num_attention_heads, config.head_dim)
        (256, 2, 128)
    """

    model_type = "hfchat"
    keys_to_ignore_at_inference = ["past_key_values"]
    # Tensor-parallel plan with the style names that transformers 4.57 and 5.x both know.
    base_model_tp_plan = {
        "layers.*.self_attn.q_proj": "colwise",
        "layers.*.self_attn.k_proj": "colwise",
        "layers.*.self_attn.v_proj": "colwise",
        "layers.*.self_attn.o_proj": "rowwise",
        "layers.*.mlp.gate_proj": "colwise",
        "layers.*.mlp.up_proj": "colwise",
        "layers.*.mlp.down_proj": "rowwise",
    }
    base_model_pp_plan = {
        "embed_tokens": (["input_ids"], ["inputs_embeds"]),
        "layers": (["hidden_states", "attention_mask"], ["hidden_states"]),
        "norm": (["hidden_states"], ["hidden_states"]),
    }

    def __init__(
        self,
        vocab_size: int = 65536,
        hidden_size: int = 768,
        intermediate_size: int = 2048,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 6,
        num_key_value_heads: int | None = None,
        head_dim: int | None = None,
        hidden_act: str = "silu",
        qk_norm: bool = True,
        max_position_embeddings: int = 2048,
        rope_theta: float = 10000.0,
        rms_norm_eps: float = 1e-6,
        tie_word_embeddings: bool = False,
        final_logit_softcapping: float | None = None,
        attention_dropout: float = 0.0,
        layer_types: list[str] | None = None,
        sliding_window: int | None = None,
        qk_norm_after_rope: bool = False,
        rotary_table_dtype: str | None = None,
        embedding_norm: bool = False,
        value_embedding_layers: list[int] | None = None,
        value_gate_channels: int = 12,
        value_gate_scale: float = 3.0,
        smear_channels: int | None = None,
        layer_scalars: bool = False,
        backout_layer: int | None = None,
        initializer_range: float = 0.02,
        use_cache: bool = True,
        bos_token_id: int | None = None,
        eos_token_id: int | list[int] | None = None,
        pad_token_id: int | None = None,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_attention_heads if num_key_value_heads is None else num_key_value_heads
        if head_dim is None and isinstance(num_attention_heads, int) and num_attention_heads > 0:
            head_dim = hidden_size // num_attention_heads
        self.head_dim = head_dim
        self.hidden_act = hidden_act
        self.qk_norm = qk_norm
        self.max_position_embeddings = max_position_embeddings
        self.rope_theta = rope_theta
        self.rms_norm_eps = rms_norm_eps
        self.tie_word_embeddings = tie_word_embeddings
        self.final_logit_softcapping = final_logit_softcapping
        self.attention_dropout = attention_dropout
        # Always set: transformers' mask and cache factories read it whenever the attribute exists.
        self.layer_types = list(layer_types) if layer_types is not None else \
            ["full_attention"] * (num_hidden_layers if isinstance(num_hidden_layers, int) else 0)
        self.sliding_window = sliding_window
        self.qk_norm_after_rope = qk_norm_after_rope
        self.rotary_table_dtype = rotary_table_dtype
        self.embedding_norm = embedding_norm
        self.value_embedding_layers = None if value_embedding_layers is None else sorted(value_embedding_layers)
        self.value_gate_channels = value_gate_channels
        self.value_gate_scale = value_gate_scale
        self.smear_channels = smear_channels
        self.layer_scalars = layer_scalars
        self.backout_layer = backout_layer
        self.initializer_range = initializer_range
        self.use_cache = use_cache
        self._validate()
        kwargs.setdefault("auto_map", dict(AUTO_MAP))
        # Token ids go through the base class: transformers 4.x resets them there.
        super().__init__(
            tie_word_embeddings=tie_word_embeddings,
            bos_token_id=bos_token_id,
            eos_token_id=eos_token_id,
            pad_token_id=pad_token_id,
            **kwargs,
        )

    def _validate(self) -> None:
        positive = (
            "vocab_size",
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "head_dim",
            "max_position_embeddings",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"HFChatConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"HFChatConfig.hidden_act must be one of {ACTIVATIONS}, got {self.hidden_act!r}")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(
                f"HFChatConfig.num_key_value_heads ({self.num_key_value_heads}) must divide "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        if self.head_dim % 2:
            raise ValueError(f"HFChatConfig.head_dim must be even for the rotary embedding, got {self.head_dim}")
        if self.rope_theta <= 0:
            raise ValueError(f"HFChatConfig.rope_theta must be positive, got {self.rope_theta!r}")
        if self.rms_norm_eps <= 0:
            raise ValueError(f"HFChatConfig.rms_norm_eps must be positive, got {self.rms_norm_eps!r}")
        if self.final_logit_softcapping is not None and self.final_logit_softcapping <= 0:
            raise ValueError(
                f"HFChatConfig.final_logit_softcapping must be positive or None, got {self.final_logit_softcapping!r}"
            )
        if not 0.0 <= self.attention_dropout < 1.0:
            raise ValueError(f"HFChatConfig.attention_dropout must be in [0, 1), got {self.attention_dropout!r}")
        self._validate_nanochat_options()

    def _validate_nanochat_options(self) -> None:
        layers = self.num_hidden_layers
        if len(self.layer_types) != layers or not set(self.layer_types) <= set(LAYER_TYPES):
            raise ValueError(f"HFChatConfig.layer_types must list one of {LAYER_TYPES} for each of the {layers} "
                             f"layers, got {self.layer_types!r}")
        if "sliding_attention" in self.layer_types and not _positive_int(self.sliding_window):
            raise ValueError(f"HFChatConfig.sliding_window must be a positive integer when a layer slides, got "
                             f"{self.sliding_window!r}")
        if self.rotary_table_dtype not in (None, "bfloat16"):
            raise ValueError(f"HFChatConfig.rotary_table_dtype must be None or 'bfloat16', got "
                             f"{self.rotary_table_dtype!r}")
        backout = self.backout_layer
        if backout is not None and (not isinstance(backout, int) or not 0 <= backout < layers):
            raise ValueError(f"HFChatConfig.backout_layer must be a layer index in [0, {layers}), got {backout!r}")
        if self.value_embedding_layers is not None:
            if any(not isinstance(i, int) or not 0 <= i < layers for i in self.value_embedding_layers):
                raise ValueError(f"HFChatConfig.value_embedding_layers must hold layer indices in [0, {layers}), got "
                                 f"{self.value_embedding_layers!r}")
            if not _positive_int(self.value_gate_channels) or self.value_gate_channels > self.hidden_size:
                raise ValueError(f"HFChatConfig.value_gate_channels must be in [1, hidden_size], got "
                                 f"{self.value_gate_channels!r}")
        if self.smear_channels is not None and (not _positive_int(self.smear_channels)
                                                or self.smear_channels > self.hidden_size):
            raise ValueError(f"HFChatConfig.smear_channels must be in [1, hidden_size] or None, got "
                             f"{self.smear_channels!r}")

    @classmethod
    def from_depth(cls, depth: int, vocab_size: int = 65536, **overrides) -> "HFChatConfig":
        """Size a model from one number, in the spirit of nanochat.

        The width is ``64 * depth`` rounded up to a whole number of heads of ``head_dim`` (128 unless overridden),
        attention is multi-head (``num_key_value_heads`` may be overridden for GQA), and the MLP keeps the parameter
        count of a 4x ungated MLP: ``8/3 * width`` per branch for the gated SiLU MLP (rounded up to 64), ``4 * width``
        for ``relu2``. Any other field can be overridden.

        Example:
            >>> HFChatConfig.from_depth(20, vocab_size=65536).hidden_size
            1280
        """
        if not isinstance(depth, int) or isinstance(depth, bool) or depth <= 0:
            raise ValueError(f"from_depth: depth must be a positive integer, got {depth!r}")
        head_dim = overrides.pop("head_dim", 128)
        hidden_size = overrides.pop("hidden_size", None)
        if hidden_size is None:
            hidden_size = math.ceil(64 * depth / head_dim) * head_dim
        hidden_act = overrides.get("hidden_act", "silu")
        if hidden_act == "relu2":
            default_intermediate = 4 * hidden_size
        else:
            default_intermediate = math.ceil(8 * hidden_size / 3 / 64) * 64
        fields = {
            "vocab_size": vocab_size,
            "hidden_size": hidden_size,
            "num_hidden_layers": depth,
            "num_attention_heads": max(1, hidden_size // head_dim),
            "head_dim": head_dim,
            "intermediate_size": default_intermediate,
        }
        fields.update(overrides)
        return cls(**fields)


__all__ = ["HFChatConfig"]
