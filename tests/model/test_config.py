import pytest

from hfchat import HFChatConfig


def test_from_depth_follows_the_sizing_rule():
    config = HFChatConfig.from_depth(20, vocab_size=65536)
    assert (config.hidden_size, config.num_attention_heads, config.head_dim) == (1280, 10, 128)
    assert config.num_hidden_layers == 20
    assert config.num_key_value_heads == 10
    assert config.intermediate_size == 3456  # 8/3 * 1280 rounded up to 64
    # Width rounds up to whole heads: 64 * 3 = 192 -> 256 with 128-wide heads.
    assert HFChatConfig.from_depth(3).hidden_size == 256
    assert HFChatConfig.from_depth(4, hidden_act="relu2").intermediate_size == 4 * 256


def test_from_depth_takes_overrides():
    config = HFChatConfig.from_depth(2, vocab_size=512, hidden_size=64, head_dim=16, num_key_value_heads=2)
    assert (config.hidden_size, config.num_attention_heads, config.num_key_value_heads) == (64, 4, 2)


@pytest.mark.parametrize(
    "fields, field_name",
    [
        (dict(num_attention_heads=6, num_key_value_heads=4), "num_key_value_heads"),
        (dict(hidden_act="gelu"), "hidden_act"),
        (dict(vocab_size=0), "vocab_size"),
        (dict(num_hidden_layers=-1), "num_hidden_layers"),
        (dict(hidden_size=2.5), "hidden_size"),
        (dict(head_dim=15), "head_dim"),
        (dict(rope_theta=0), "rope_theta"),
        (dict(rms_norm_eps=0.0), "rms_norm_eps"),
        (dict(final_logit_softcapping=-1.0), "final_logit_softcapping"),
        (dict(attention_dropout=1.5), "attention_dropout"),
    ],
)
def test_bad_fields_name_the_field(fields, field_name):
    with pytest.raises(ValueError, match=rf"HFChatConfig\.{field_name}"):
        HFChatConfig(**fields)


def test_from_depth_rejects_a_bad_depth():
    with pytest.raises(ValueError, match="depth"):
        HFChatConfig.from_depth(0)


def test_config_round_trips_through_json(tmp_path):
    config = HFChatConfig.from_depth(2, vocab_size=512, hidden_size=64, head_dim=16, qk_norm=False, bos_token_id=0)
    config.save_pretrained(tmp_path)
    loaded = HFChatConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()
    assert loaded.bos_token_id == 0
    assert set(loaded.auto_map) == {"AutoConfig", "AutoModel", "AutoModelForCausalLM"}
