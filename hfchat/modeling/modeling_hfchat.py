"""The hfchat GPT: a pre-norm decoder-only transformer in the shape of transformers' Llama/Qwen3 modeling files.

Differences from Qwen3 are commented where they occur. This file is copied next to the weights by
``save_pretrained`` and must load with ``trust_remote_code=True`` under transformers 4.57 and 5.x without hfchat
installed: it imports only ``torch``, ``transformers`` and ``.configuration_hfchat``.
"""

import inspect
from collections.abc import Callable

import torch
import torch.nn.functional as F
import transformers
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache, DynamicCache
from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_hfchat import HFChatConfig

try:  # transformers >= 5: initialisers that leave weights loaded from a checkpoint alone
    from transformers import initialization as init
except ImportError:
    from torch.nn import init

TRANSFORMERS_5 = int(transformers.__version__.split(".")[0]) >= 5
_MASK_PARAMETERS = inspect.signature(create_causal_mask).parameters
# transformers 5 renamed `input_embeds` to `inputs_embeds` and dropped `cache_position` from the mask factory.
MASK_TAKES_CACHE_POSITION = "cache_position" in _MASK_PARAMETERS
# transformers 5.24 renamed the KV cache from `past_key_values` to `cache`: the argument of every `forward`, of
# `generate` and of the mask factories, and the field of the model outputs (the old name warns until 5.40). The
# models' `forward` takes both; inside, and to transformers, the cache goes under the running version's name.
CACHE_NAME = "cache" if "cache" in _MASK_PARAMETERS else "past_key_values"
# With ``smear_channels`` set, the (normalised, unsmeared) embedding of the last position a forward pass saw is kept
# on the KV cache object under this attribute, for the next position to smear; code that rebuilds caches (the
# serving engine) carries it along. Beam search, which reorders cache rows, does not reorder it.
SMEAR_STATE = "hfchat_smear_previous"
MASK_FACTORIES = {"full_attention": create_causal_mask, "sliding_attention": create_sliding_window_causal_mask}


def _one_cache(cache: Cache | None, past_key_values: Cache | None) -> Cache | None:
    """The cache a caller passed, under either name."""
    if cache is not None and past_key_values is not None:
        raise ValueError("pass the KV cache as `cache` or as `past_key_values`, not both")
    return cache if cache is not None else past_key_values


class HFChatRMSNorm(nn.Module):
    """RMSNorm computed in float32 with torch's fused kernel.

    The result comes back in the input dtype, or under autocast in the autocast dtype: the projections that read it
    would each cast it to that dtype anyway (q, k and v three times), so casting once here gives the same numbers
    with fewer copies.
    """

    def __init__(self, hidden_size: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        normalized_shape = (hidden_states.shape[-1],)
        out = F.rms_norm(hidden_states.float(), normalized_shape, self.weight.float(), self.variance_epsilon)
        device_type = hidden_states.device.type
        if torch.is_autocast_enabled(device_type):
            return out.to(torch.get_autocast_dtype(device_type))
        return out.to(hidden_states.dtype)

    def extra_repr(self) -> str:
        return f"{tuple(self.weight.shape)}, eps={self.variance_epsilon}"


def rotary_inverse_frequencies(config: HFChatConfig) -> torch.Tensor:
    dim = config.head_dim
    return 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))


class HFChatRotaryEmbedding(nn.Module):
    """Rotary position embedding in transformers' "rotate half" layout (the layout Llama/Qwen3 checkpoints use).

    Unlike Llama's, it returns cos/sin for one half of the head only (the halves are equal), which halves the
    element-wise work in `apply_rotary_pos_emb`.
    """

    def __init__(self, config: HFChatConfig):
        super().__init__()
        self.config = config
        self.register_buffer("inv_freq", rotary_inverse_frequencies(config), persistent=False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        freqs = position_ids[..., None].float() * self.inv_freq.to(device=x.device, dtype=torch.float32)
        cos, sin = freqs.cos(), freqs.sin()
        if self.config.rotary_table_dtype == "bfloat16":
            cos, sin = cos.bfloat16(), sin.bfloat16()
        return cos.to(x.dtype), sin.to(x.dtype)


def apply_rotary_pos_emb(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
    """Rotate (batch, heads, seq, head_dim) queries and keys; cos/sin are (batch, seq, head_dim // 2)."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)

    def rotate(x):
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)

    return rotate(q), rotate(k)


def repeat_kv(hidden_states: torch.Tensor, n_rep: int) -> torch.Tensor:
    """(batch, kv_heads, seq, dim) -> (batch, kv_heads * n_rep, seq, dim) for grouped-query attention."""
    if n_rep == 1:
        return hidden_states
    batch, kv_heads, seq_len, head_dim = hidden_states.shape
    hidden_states = hidden_states[:, :, None].expand(batch, kv_heads, n_rep, seq_len, head_dim)
    return hidden_states.reshape(batch, kv_heads * n_rep, seq_len, head_dim)


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    key = repeat_kv(key, module.num_key_value_groups)
    value = repeat_kv(value, module.num_key_value_groups)
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask[:, :, :, : key.shape[-2]]
    probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    probs = F.dropout(probs, p=dropout, training=module.training)
    out = torch.matmul(probs, value).transpose(1, 2).contiguous()
    return out, probs


class HFChatAttention(nn.Module):
    """Multi-head attention with grouped key/value heads, dispatched through `ALL_ATTENTION_FUNCTIONS`.

    A sliding-attention layer hands its window to the attention function (flash attention reads it; the other
    functions get it through the mask). A layer listed in ``value_embedding_layers`` adds the value embedding it is
    given to its values, through a per-head gate read from its input.
    """

    def __init__(self, config: HFChatConfig, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.head_dim = config.head_dim
        self.num_key_value_groups = config.num_attention_heads // config.num_key_value_heads
        self.scaling = self.head_dim**-0.5
        self.attention_dropout = config.attention_dropout
        self.is_causal = True
        self.sliding_window = config.sliding_window if config.layer_types[layer_idx] == "sliding_attention" else None
        q_width = config.num_attention_heads * self.head_dim
        kv_width = config.num_key_value_heads * self.head_dim
        self.q_proj = nn.Linear(config.hidden_size, q_width, bias=False)
        self.k_proj = nn.Linear(config.hidden_size, kv_width, bias=False)
        self.v_proj = nn.Linear(config.hidden_size, kv_width, bias=False)
        self.o_proj = nn.Linear(q_width, config.hidden_size, bias=False)
        self.o_proj.is_residual_projection = True
        # QK-norm is applied per head before RoPE, as in Qwen3 (after it with qk_norm_after_rope, as in nanochat);
        # without it the layer is Llama's.
        if config.qk_norm:
            self.q_norm = HFChatRMSNorm(self.head_dim, eps=config.rms_norm_eps)
            self.k_norm = HFChatRMSNorm(self.head_dim, eps=config.rms_norm_eps)
        else:
            self.q_norm = self.k_norm = nn.Identity()
        if layer_idx in (config.value_embedding_layers or ()):
            self.value_gate = nn.Linear(config.value_gate_channels, config.num_key_value_heads, bias=False)

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        attention_mask: torch.Tensor | None,
        cache_position: torch.Tensor | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        cache = kwargs.pop(CACHE_NAME, None)
        value_embedding = kwargs.pop("value_embedding", None)
        input_shape = hidden_states.shape[:-1]
        hidden_shape = (*input_shape, -1, self.head_dim)
        query = self.q_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        key = self.k_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        if not self.config.qk_norm_after_rope:
            query, key = self.q_norm(query), self.k_norm(key)
        value = self.v_proj(hidden_states).view(hidden_shape)
        if value_embedding is not None:
            channels = self.config.value_gate_channels
            gate = self.config.value_gate_scale * torch.sigmoid(self.value_gate(hidden_states[..., :channels]))
            value = value + gate.unsqueeze(-1) * value_embedding.view(hidden_shape)
        value = value.transpose(1, 2)
        # Rotate in the projections' dtype: under bf16 autocast that keeps q/k in bf16 instead of promoting them to
        # float32 against float32 tables (as a model cast to bf16 does anyway).
        cos, sin = position_embeddings
        query, key = apply_rotary_pos_emb(query, key, cos.to(query.dtype), sin.to(query.dtype))
        if self.config.qk_norm_after_rope:
            query, key = self.q_norm(query), self.k_norm(key)

        if cache is not None and CACHE_NAME == "cache":
            # transformers >= 5.24: a cache may read and fill the attention kwargs (continuous batching's paged one)
            key, value = cache.update(key, value, self.layer_idx, kwargs=kwargs)
        elif cache is not None:
            # transformers 4.x caches need the write position; 5.x caches track it themselves.
            cache_kwargs = () if cache_position is None else ({"cache_position": cache_position},)
            key, value = cache.update(key, value, self.layer_idx, *cache_kwargs)

        attention_interface: Callable = eager_attention_forward
        if self.config._attn_implementation != "eager":
            attention_interface = ALL_ATTENTION_FUNCTIONS[self.config._attn_implementation]
        if self.sliding_window is not None:
            kwargs["sliding_window"] = self.sliding_window
        out, weights = attention_interface(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=self.attention_dropout if self.training else 0.0,
            scaling=self.scaling,
            **kwargs,
        )
        out = self.o_proj(out.reshape(*input_shape, -1).contiguous())
        return out, weights


class HFChatMLP(nn.Module):
    """Gated SiLU MLP (Llama/Qwen3) or, with ``hidden_act="relu2"``, nanochat's ungated ReLU² MLP."""

    def __init__(self, config: HFChatConfig):
        super().__init__()
        self.gated = config.hidden_act == "silu"
        if self.gated:
            self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)
        self.down_proj.is_residual_projection = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gated:
            return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))
        return self.down_proj(F.relu(self.up_proj(x)).square())


class HFChatDecoderLayer(GradientCheckpointingLayer):
    def __init__(self, config: HFChatConfig, layer_idx: int):
        super().__init__()
        self.self_attn = HFChatAttention(config, layer_idx)
        self.mlp = HFChatMLP(config)
        self.input_layernorm = HFChatRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.post_attention_layernorm = HFChatRMSNorm(config.hidden_size, eps=config.rms_norm_eps)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        **kwargs,
    ) -> torch.Tensor:
        """``kwargs`` carry the cache under `CACHE_NAME`, where gradient checkpointing looks for it."""
        attn_out, _ = self.self_attn(
            self.input_layernorm(hidden_states),
            position_embeddings=position_embeddings,
            attention_mask=attention_mask,
            **kwargs,
        )
        hidden_states = hidden_states + attn_out
        return hidden_states + self.mlp(self.post_attention_layernorm(hidden_states))


class HFChatPreTrainedModel(PreTrainedModel):
    config_class = HFChatConfig
    config: HFChatConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["HFChatDecoderLayer"]
    _skip_keys_device_placement = [CACHE_NAME]
    _supports_flash_attn = True
    _supports_flash_attn_2 = True
    _supports_sdpa = True
    _supports_flex_attn = True
    _supports_static_cache = True
    _can_compile_fullgraph = True
    _supports_attention_backend = True

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Initialise for stable training at small scale (nanochat's recipe, adapted to the Qwen3 layout).

        - Token embeddings ~ N(0, 1) (N(0, 1/hidden_size) when tied to the output head, which must stay small).
        - Every projection that reads the residual stream (q, k, v, gate, up) ~ N(0, 1/fan_in): unit-variance
          inputs (they come out of an RMSNorm) give unit-variance outputs.
        - The projections that write back into the residual stream (o_proj, down_proj) start at zero, so every
          block is the identity at step 0 and the residual stream starts as the embedding.
        - The output head ~ N(0, 0.001²): the first logits are near uniform (loss ≈ ln(vocab_size)) but the head
          still passes gradient from the first step.
        - RMSNorm weights are one; the rotary frequencies are recomputed from the config.
        """
        config = self.config
        if isinstance(module, nn.Embedding):
            std = config.hidden_size**-0.5 if config.tie_word_embeddings else 1.0
            init.normal_(module.weight, mean=0.0, std=std)
        elif module is getattr(self, "lm_head", None):
            if not config.tie_word_embeddings:  # a tied head is the embedding, initialised above
                init.normal_(module.weight, mean=0.0, std=0.001)
        elif isinstance(module, nn.Linear):
            if getattr(module, "is_residual_projection", False):
                init.zeros_(module.weight)
            else:
                init.normal_(module.weight, mean=0.0, std=module.in_features**-0.5)
        elif isinstance(module, HFChatRMSNorm):
            init.ones_(module.weight)
        elif isinstance(module, HFChatModel):  # nanochat's scalars: each block starts as a plain residual block
            for name, start in (("resid_lambdas", 1.0), ("x0_lambdas", 0.0), ("smear_lambda", 0.0),
                                ("backout_lambda", 0.0)):
                if hasattr(module, name):
                    init.constant_(getattr(module, name), start)
        elif isinstance(module, HFChatRotaryEmbedding):
            frequencies = rotary_inverse_frequencies(config).to(module.inv_freq.device)
            if hasattr(init, "copy_"):
                init.copy_(module.inv_freq, frequencies)
            else:
                module.inv_freq.copy_(frequencies)

    def flops_per_token(self, seq_len: int) -> int:
        """Training FLOPs (forward + backward) per token at context length ``seq_len``.

        6 FLOPs per weight of every matrix multiply (the output head included, the embedding lookup not) plus
        12 · layers · heads · head_dim · seq_len for the attention scores and weighted values, the estimate of the
        PaLM paper and nanochat. Divide achieved FLOP/s by the device peak for MFU.
        """
        config = self.config
        matmul_weights = sum(m.weight.numel() for m in self.modules() if isinstance(m, nn.Linear))
        attention = 12 * config.num_hidden_layers * config.num_attention_heads * config.head_dim * seq_len
        return 6 * matmul_weights + attention


class HFChatModel(HFChatPreTrainedModel):
    """The decoder stack without the output head (what `AutoModel` returns)."""

    def __init__(self, config: HFChatConfig):
        super().__init__(config)
        layers = config.num_hidden_layers
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(HFChatDecoderLayer(config, i) for i in range(layers))
        self.norm = HFChatRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.rotary_emb = HFChatRotaryEmbedding(config)
        self.layer_types = config.layer_types
        # nanochat's additions, each present only when its option is set (see HFChatConfig).
        if config.embedding_norm:
            self.embed_norm = HFChatRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        if config.value_embedding_layers:
            width = config.num_key_value_heads * config.head_dim
            self.value_embeds = nn.ModuleDict(
                {str(i): nn.Embedding(config.vocab_size, width) for i in config.value_embedding_layers})
        if config.smear_channels:
            self.smear_gate = nn.Linear(config.smear_channels, 1, bias=False)
            self.smear_lambda = nn.Parameter(torch.zeros(1))
        if config.layer_scalars:
            self.resid_lambdas = nn.Parameter(torch.ones(layers))
            self.x0_lambdas = nn.Parameter(torch.zeros(layers))
        if config.backout_layer is not None:
            self.backout_lambda = nn.Parameter(torch.zeros(1))
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embed_tokens = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | dict | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        cache: Cache | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPast:
        """The KV cache comes as ``cache`` (transformers >= 5.24) or ``past_key_values`` (before)."""
        cache = _one_cache(cache, past_key_values)
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("HFChatModel.forward: pass exactly one of `input_ids` or `inputs_embeds`")
        if input_ids is None and self.config.value_embedding_layers:
            raise ValueError("HFChatModel.forward: a model with value_embedding_layers reads `input_ids`; "
                             "`inputs_embeds` alone cannot give its value embeddings")
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        kwargs.pop("return_dict", None)
        kwargs.pop("output_attentions", None)

        seq_len = inputs_embeds.shape[1]
        # transformers 4.x generate passes `cache_position`; 5.x does not, so derive it from the cache. The length
        # is read only when needed: continuous batching's paged cache has none and passes positions itself.
        cache_position = kwargs.pop("cache_position", None)
        if (cache_position is None and MASK_TAKES_CACHE_POSITION) or position_ids is None:
            past_seen = cache.get_seq_length() if cache is not None else 0
            if cache_position is None and MASK_TAKES_CACHE_POSITION:
                cache_position = torch.arange(past_seen, past_seen + seq_len, device=inputs_embeds.device)
            if position_ids is None:
                position_ids = torch.arange(past_seen, past_seen + seq_len, device=inputs_embeds.device).unsqueeze(0)
        if not MASK_TAKES_CACHE_POSITION:
            cache_position = None

        # The mask is built before a fresh cache is created: with no cache and no padding mask, transformers reads
        # packed rows (positions restarting at each document) from `position_ids` and masks across documents.
        masks = self._causal_masks(attention_mask, inputs_embeds, cache, position_ids, cache_position)
        if use_cache and cache is None:
            cache = DynamicCache(config=self.config)

        hidden_states = inputs_embeds
        if self.config.embedding_norm:
            hidden_states = self.embed_norm(hidden_states)
        if self.config.smear_channels:
            hidden_states = self._smear(hidden_states, cache if use_cache else None, attention_mask)
        first = hidden_states
        backout = None
        position_embeddings = self.rotary_emb(hidden_states, position_ids)
        all_hidden_states = () if output_hidden_states else None
        for index, layer in enumerate(self.layers):
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if self.config.layer_scalars:
                hidden_states = (self.resid_lambdas[index].to(hidden_states.dtype) * hidden_states
                                 + self.x0_lambdas[index].to(hidden_states.dtype) * first)
            if self.config.value_embedding_layers and str(index) in self.value_embeds:
                kwargs["value_embedding"] = self.value_embeds[str(index)](input_ids)
            hidden_states = layer(
                hidden_states,
                attention_mask=masks[self.layer_types[index]],
                position_embeddings=position_embeddings,
                position_ids=position_ids,
                cache_position=cache_position,
                **{CACHE_NAME: cache},
                **kwargs,
            )
            kwargs.pop("value_embedding", None)
            if index == self.config.backout_layer:
                backout = hidden_states
        if backout is not None:
            hidden_states = hidden_states - self.backout_lambda.to(hidden_states.dtype) * backout
        hidden_states = self.norm(hidden_states)
        if output_hidden_states:
            all_hidden_states += (hidden_states,)
        return BaseModelOutputWithPast(
            last_hidden_state=hidden_states,
            hidden_states=all_hidden_states,
            **{CACHE_NAME: cache if use_cache else None},
        )

    def _causal_masks(self, attention_mask, inputs_embeds, cache, position_ids, cache_position) -> dict:
        """One mask per layer type in use, by transformers' mask factories."""
        if isinstance(attention_mask, dict):  # already prepared, e.g. by `generate`
            return attention_mask
        mask_kwargs = {
            "config": self.config,
            "attention_mask": attention_mask,
            CACHE_NAME: cache,
            "position_ids": position_ids,
        }
        if MASK_TAKES_CACHE_POSITION:
            mask_kwargs.update(input_embeds=inputs_embeds, cache_position=cache_position)
        else:
            mask_kwargs.update(inputs_embeds=inputs_embeds)
        return {kind: MASK_FACTORIES[kind](**mask_kwargs) for kind in set(self.layer_types)}

    def _smear(self, hidden_states: torch.Tensor, cache: Cache | None, attention_mask) -> torch.Tensor:
        """nanochat's smear: each position adds a gated copy of the previous position's embedding (the one before
        smearing). The first position reads it from the cache (none: nothing is added); a padding predecessor adds
        nothing, so a left-padded row equals the unpadded one. The last embedding is kept on the cache."""
        batch, length, width = hidden_states.shape
        previous = getattr(cache, SMEAR_STATE, None) if cache is not None else None
        if previous is None:
            previous = hidden_states.new_zeros(batch, 1, width)
        elif previous.shape[0] != batch:  # rows repeated for several return sequences
            previous = previous.repeat_interleave(batch // previous.shape[0], dim=0)
        predecessors = torch.cat([previous.to(hidden_states.dtype), hidden_states[:, :-1]], dim=1)
        if isinstance(attention_mask, torch.Tensor) and attention_mask.dim() == 2:
            real = F.pad(attention_mask, (1, 0))[:, -length - 1 : -1]  # is each position's predecessor a token?
            predecessors = predecessors * real[..., None].to(hidden_states.dtype)
        channels = self.config.smear_channels
        gate = self.smear_lambda.to(hidden_states.dtype) * torch.sigmoid(self.smear_gate(hidden_states[..., :channels]))
        if cache is not None:
            setattr(cache, SMEAR_STATE, hidden_states[:, -1:].detach())
        return hidden_states + gate * predecessors


class HFChatForCausalLM(HFChatPreTrainedModel, GenerationMixin):
    """The GPT with its language-modelling head: what `AutoModelForCausalLM` returns.

    Example:
        >>> import torch
        >>> from hfchat import HFChatConfig, HFChatForCausalLM
        >>> model = HFChatForCausalLM(HFChatConfig.from_depth(2, vocab_size=256, head_dim=32))
        >>> model(torch.tensor([[1, 2, 3]])).logits.shape
        torch.Size([1, 3, 256])
    """

    if TRANSFORMERS_5:
        _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}
    else:
        _tied_weights_keys = ["lm_head.weight"]
    _tp_plan = {"lm_head": "colwise_rep"}
    _pp_plan = {"lm_head": (["hidden_states"], ["logits"])}

    def __init__(self, config: HFChatConfig):
        super().__init__(config)
        self.model = HFChatModel(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.model.embed_tokens = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        cache: Cache | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        """The KV cache comes as ``cache`` (transformers >= 5.24) or ``past_key_values`` (before)."""
        return_dict = kwargs.pop("return_dict", None)
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=_one_cache(cache, past_key_values),
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(hidden_states[:, keep, :])
        cap = self.config.final_logit_softcapping
        if cap is not None:
            logits = torch.tanh(logits / cap) * cap

        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
        output = CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            hidden_states=outputs.hidden_states,
            **{CACHE_NAME: getattr(outputs, CACHE_NAME)},
        )
        return output.to_tuple() if return_dict is False else output


__all__ = ["CACHE_NAME", "SMEAR_STATE", "HFChatPreTrainedModel", "HFChatModel", "HFChatForCausalLM"]
