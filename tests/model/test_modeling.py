import math

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

from hfchat import HFChatConfig, HFChatForCausalLM, HFChatModel
from tests.helpers import tiny_config, tiny_model

ATOL = 1e-5


def left_padded_batch(pad_id=0):
    short, long = [5, 6, 7], [11, 12, 13, 14, 15, 16]
    input_ids = torch.tensor([[pad_id] * 3 + short, long])
    attention_mask = torch.tensor([[0, 0, 0, 1, 1, 1], [1] * 6])
    return short, long, input_ids, attention_mask


def test_auto_classes_resolve_to_hfchat():
    config = AutoConfig.for_model("hfchat", vocab_size=512, hidden_size=64, num_attention_heads=4)
    assert isinstance(config, HFChatConfig)
    assert type(AutoModelForCausalLM.from_config(tiny_config())) is HFChatForCausalLM
    assert type(AutoModel.from_config(tiny_config())) is HFChatModel


def test_initial_loss_is_near_uniform():
    torch.manual_seed(0)
    model = HFChatForCausalLM(tiny_config())
    input_ids = torch.randint(0, 512, (2, 16))
    loss = model(input_ids, labels=input_ids).loss
    assert abs(loss.item() - math.log(512)) < 0.05


def test_residual_projections_start_at_zero_and_the_rest_does_not():
    torch.manual_seed(0)
    model = HFChatForCausalLM(tiny_config())
    layer = model.model.layers[0]
    assert layer.self_attn.o_proj.weight.abs().max() == 0
    assert layer.mlp.down_proj.weight.abs().max() == 0
    assert layer.self_attn.q_proj.weight.std().item() == pytest.approx(64**-0.5, rel=0.1)
    assert model.model.embed_tokens.weight.std().item() == pytest.approx(1.0, rel=0.1)
    assert model.lm_head.weight.std().item() == pytest.approx(0.001, rel=0.1)
    assert torch.equal(model.model.norm.weight, torch.ones(64))


def test_a_few_steps_of_adamw_overfit_a_batch():
    torch.manual_seed(0)
    model = HFChatForCausalLM(tiny_config())
    batch = torch.randint(0, 512, (4, 32))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(30):
        loss = model(batch, labels=batch).loss
        first = first if first is not None else loss.item()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert loss.item() < 0.5 * first


@pytest.mark.parametrize("overrides", [{}, {"qk_norm": False}, {"num_key_value_heads": 2}])
def test_eager_and_sdpa_agree_with_left_padding(overrides):
    model = tiny_model(**overrides)
    short, long, input_ids, attention_mask = left_padded_batch()
    logits = {}
    for implementation in ("eager", "sdpa"):
        model.set_attn_implementation(implementation)
        with torch.no_grad():
            logits[implementation] = model(input_ids, attention_mask=attention_mask).logits
    real = attention_mask.bool()
    torch.testing.assert_close(logits["eager"][real], logits["sdpa"][real], atol=ATOL, rtol=1e-4)
    # The padded row gives the same logits as the short sequence alone.
    with torch.no_grad():
        alone = model(torch.tensor([short])).logits
    torch.testing.assert_close(logits["sdpa"][0, 3:], alone[0], atol=ATOL, rtol=1e-4)


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_packed_rows_attend_only_within_their_document(implementation):
    model = tiny_model()
    model.set_attn_implementation(implementation)
    doc_a, doc_b = torch.tensor([[3, 4, 5, 6, 7]]), torch.tensor([[20, 21, 22, 23, 24, 25, 26]])
    packed = torch.cat([doc_a, doc_b], dim=1)
    position_ids = torch.tensor([list(range(5)) + list(range(7))])
    with torch.no_grad():
        packed_logits = model(packed, position_ids=position_ids).logits
        logits_a = model(doc_a).logits
        logits_b = model(doc_b).logits
    torch.testing.assert_close(packed_logits[:, :5], logits_a, atol=ATOL, rtol=1e-4)
    torch.testing.assert_close(packed_logits[:, 5:], logits_b, atol=ATOL, rtol=1e-4)
    # Without the restarting positions the second document does see the first.
    with torch.no_grad():
        unpacked = model(packed).logits
    assert (unpacked[:, 5:] - logits_b).abs().max() > 1e-3


def test_cached_and_uncached_greedy_generation_agree():
    model = tiny_model()
    prompt = torch.tensor([[1, 2, 3, 4, 5]])
    kwargs = dict(max_new_tokens=12, do_sample=False, pad_token_id=0)
    cached = model.generate(prompt, use_cache=True, **kwargs)
    uncached = model.generate(prompt, use_cache=False, **kwargs)
    assert cached.shape == (1, 17)
    assert torch.equal(cached, uncached)


@pytest.mark.parametrize("name", ["cache", "past_key_values"])
def test_forward_takes_the_cache_under_both_names_without_a_warning(name):
    """transformers >= 5.24 passes the cache as ``cache``, older releases and many callers as ``past_key_values``
    (pytest's filterwarnings turns a deprecation warning from hfchat into an error)."""
    from transformers import DynamicCache

    from hfchat.modeling import CACHE_NAME

    model = tiny_model()
    ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    with torch.no_grad():
        whole = model(ids).logits[:, -1]
        cache = DynamicCache(config=model.config)
        model(ids[:, :-1], **{name: cache})
        step = model(ids[:, -1:], **{name: cache})
    assert cache.get_seq_length() == 6
    assert getattr(step, CACHE_NAME) is cache
    torch.testing.assert_close(step.logits[:, -1], whole, atol=ATOL, rtol=ATOL)
    with pytest.raises(ValueError, match="not both"):
        model(ids, cache=cache, past_key_values=cache)


def test_static_cache_generation_matches_dynamic():
    model = tiny_model()
    prompt = torch.tensor([[9, 8, 7, 6]])
    kwargs = dict(max_new_tokens=10, do_sample=False, pad_token_id=0)
    dynamic = model.generate(prompt, **kwargs)
    static = model.generate(prompt, cache_implementation="static", **kwargs)
    assert torch.equal(dynamic, static)


def test_batched_left_padded_generation_matches_single_prompts():
    model = tiny_model()
    short, long, input_ids, attention_mask = left_padded_batch()
    kwargs = dict(max_new_tokens=8, do_sample=False, pad_token_id=0)
    batched = model.generate(input_ids, attention_mask=attention_mask, **kwargs)
    alone_short = model.generate(torch.tensor([short]), **kwargs)
    alone_long = model.generate(torch.tensor([long]), **kwargs)
    assert batched[0, 3:].tolist() == alone_short[0].tolist()
    assert batched[1].tolist() == alone_long[0].tolist()


def test_gradient_checkpointing_gives_the_same_gradients():
    batch = torch.randint(0, 512, (2, 24), generator=torch.Generator().manual_seed(1))
    grads = []
    for checkpointing in (False, True):
        model = tiny_model().train()
        if checkpointing:
            model.activation_checkpointing_enable()
        model(batch, labels=batch, use_cache=False).loss.backward()
        grads.append({name: p.grad.clone() for name, p in model.named_parameters()})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-6, rtol=1e-5, msg=name)


def test_logits_to_keep_returns_the_last_positions():
    model = tiny_model()
    input_ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    with torch.no_grad():
        full = model(input_ids).logits
        last = model(input_ids, logits_to_keep=1).logits
    assert last.shape == (1, 1, 512)
    torch.testing.assert_close(last[:, 0], full[:, -1])


def test_loss_uses_the_shifted_labels_and_ignores_minus_100():
    model = tiny_model()
    input_ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    labels = input_ids.clone()
    labels[0, :3] = -100
    out = model(input_ids, labels=labels)
    expected = torch.nn.functional.cross_entropy(out.logits[0, 2:-1], input_ids[0, 3:])
    torch.testing.assert_close(out.loss, expected)


def test_final_logit_softcapping_bounds_the_logits():
    model = tiny_model(final_logit_softcapping=2.0)
    with torch.no_grad():
        logits = model(torch.tensor([[1, 2, 3]])).logits
    assert logits.abs().max() <= 2.0


def test_relu2_model_trains_and_generates():
    model = tiny_model(hidden_act="relu2")
    assert not hasattr(model.model.layers[0].mlp, "gate_proj")
    out = model(torch.tensor([[1, 2, 3]]), labels=torch.tensor([[1, 2, 3]]))
    out.loss.backward()
    assert model.generate(torch.tensor([[1, 2]]), max_new_tokens=3, do_sample=False, pad_token_id=0).shape == (1, 5)


def test_tied_embeddings_share_one_tensor(tmp_path):
    model = HFChatForCausalLM(tiny_config(tie_word_embeddings=True))
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert loaded.lm_head.weight.data_ptr() == loaded.model.embed_tokens.weight.data_ptr()


def test_output_hidden_states_has_one_entry_per_layer_plus_one():
    model = tiny_model()
    out = model(torch.tensor([[1, 2, 3]]), output_hidden_states=True)
    assert len(out.hidden_states) == 3


def test_each_attention_module_has_a_unique_layer_idx():
    model = tiny_model()
    assert [layer.self_attn.layer_idx for layer in model.model.layers] == [0, 1]


def test_flops_per_token_counts_matmul_weights_and_attention():
    model = tiny_model()
    config = model.config
    linear = sum(p.numel() for n, p in model.named_parameters() if n.endswith("proj.weight") or n == "lm_head.weight")
    attention = 12 * config.num_hidden_layers * config.num_attention_heads * config.head_dim * 128
    assert model.flops_per_token(128) == 6 * linear + attention


def test_flash_attention_2_fails_clearly_without_flash_attn():
    pytest.importorskip("torch")
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("flash-attn is installed here; the gpu test covers it")
    with pytest.raises((ImportError, ValueError), match="(?i)flash"):
        HFChatForCausalLM._from_config(tiny_config(), attn_implementation="flash_attention_2")


def _copy_into(reference_cls, reference_config, model):
    reference = reference_cls(reference_config).eval()
    missing, unexpected = reference.load_state_dict(model.state_dict(), strict=True)
    assert not missing and not unexpected
    return reference


def test_default_layout_is_exactly_qwen3():
    model = tiny_model(num_key_value_heads=2)
    c = model.config
    qwen3 = Qwen3Config(
        vocab_size=c.vocab_size, hidden_size=c.hidden_size, intermediate_size=c.intermediate_size,
        num_hidden_layers=c.num_hidden_layers, num_attention_heads=c.num_attention_heads,
        num_key_value_heads=c.num_key_value_heads, head_dim=c.head_dim, rms_norm_eps=c.rms_norm_eps,
        rope_parameters={"rope_type": "default", "rope_theta": c.rope_theta}, tie_word_embeddings=False,
        max_position_embeddings=c.max_position_embeddings,
    )  # fmt: skip
    reference = _copy_into(Qwen3ForCausalLM, qwen3, model)
    input_ids = torch.tensor([[5, 1, 9, 100, 3, 7, 2, 8]])
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids).logits, reference(input_ids).logits, atol=ATOL, rtol=1e-4)


def test_layout_without_qk_norm_is_exactly_llama():
    model = tiny_model(qk_norm=False)
    c = model.config
    llama = LlamaConfig(
        vocab_size=c.vocab_size, hidden_size=c.hidden_size, intermediate_size=c.intermediate_size,
        num_hidden_layers=c.num_hidden_layers, num_attention_heads=c.num_attention_heads,
        num_key_value_heads=c.num_key_value_heads, head_dim=c.head_dim, rms_norm_eps=c.rms_norm_eps,
        rope_parameters={"rope_type": "default", "rope_theta": c.rope_theta}, tie_word_embeddings=False,
        max_position_embeddings=c.max_position_embeddings, attention_bias=False, mlp_bias=False,
    )  # fmt: skip
    reference = _copy_into(LlamaForCausalLM, llama, model)
    input_ids = torch.tensor([[5, 1, 9, 100, 3, 7, 2, 8]])
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids).logits, reference(input_ids).logits, atol=ATOL, rtol=1e-4)

