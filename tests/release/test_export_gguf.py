"""GGUF export checked against llama.cpp itself (through llama-cpp-python): the same token ids, the same greedy tokens,
close logits, and a chat template that `create_chat_completion` runs. Without llama-cpp-python only the metadata and
the refusals are checked."""

from contextlib import closing

import numpy as np
import pytest
import torch

from hfchat.export import ExportError, export_gguf
from hfchat.inference.loading import load_model
from hfchat.tokenizer import save_tokenizer
from tests.helpers import CHAT_CONVERSATIONS, tiny_model

gguf = pytest.importorskip("gguf")

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "안녕하세요, 세계! Emoji 🙂🚀, naïve café, Straße.",
    "Count: 1, 2, 3, 42, 1234567 and 3.14159 or 2025-01-31",
    "I'VE been told he's there; we'll see.\n\n\tTabs   and    runs of  whitespace  \n",
    ("<|im_start|>user\nWhat is 17 * 23?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n"
     '{"name": "calculator", "arguments": {"expression": "17*23"}}\n</tool_call><|im_end|>\n'),
    "",
]
PROMPT = "Once upon a time there was a little robot who loved to count"
NEW_TOKENS = 16
# Largest absolute logit difference allowed against our float32 model on the random test models (logits within
# about +-6). float32 with a float32 KV cache differs only by summation order (~1e-5 measured); float16 weights and
# llama.cpp's default float16 KV cache ~1e-2; q8_0 also quantizes activations to 8 bits in its matrix products
# (~0.5 on these random models, whose every weight has std 0.2; ~0.1 on the trained runs/tiny/sft model).
TOLERANCE = {"f32": 1e-4, "f16": 0.05, "q8_0": 1.0}


@pytest.fixture(scope="module")
def llama_cpp():
    return pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install llama-cpp-python: "
                                                   "it compiles llama.cpp, a few minutes on a CPU)")


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory, tiny_tokenizer):
    """Llama layout (no QK-norm) with grouped-query attention, a head size unlike hidden/heads and tied embeddings."""
    folder = tmp_path_factory.mktemp("tiny-llama")
    tiny_model(seed=1, vocab_size=len(tiny_tokenizer), qk_norm=False, num_attention_heads=4, num_key_value_heads=2,
               head_dim=32, tie_word_embeddings=True).save_pretrained(folder)
    save_tokenizer(tiny_tokenizer, folder)
    return folder


@pytest.fixture(scope="module")
def models(tiny_model_dir, llama_dir):
    return {"qwen3": tiny_model_dir, "llama": llama_dir}


def _load(llama_cpp, path, n_ctx=256, float32_cache=False):
    cache = {"type_k": llama_cpp.GGML_TYPE_F32, "type_v": llama_cpp.GGML_TYPE_F32} if float32_cache else {}
    return closing(llama_cpp.Llama(model_path=str(path), logits_all=True, n_ctx=n_ctx, n_threads=2, verbose=False,
                                   **cache))


def _their_logits(llm, ids):
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def _their_greedy(llm, ids, n):
    tokens = []
    for token in llm.generate(ids, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0, reset=True):
        tokens.append(int(token))
        if len(tokens) == n:
            return tokens
    return tokens


@torch.inference_mode()
def _compare(llama_cpp, folder, path, float32_cache=False):
    """Run our model and llama.cpp on PROMPT: (max abs logit difference, our greedy tokens, theirs, the largest amount
    by which one of their greedy choices falls short of our best logit at that step)."""
    model, tokenizer = load_model(str(folder), dtype=torch.float32, device="cpu")
    ids = tokenizer(PROMPT)["input_ids"]
    with _load(llama_cpp, path, float32_cache=float32_cache) as llm:
        ours = model(torch.tensor([ids])).logits[0].numpy()
        difference = float(np.abs(ours - _their_logits(llm, ids)).max())
        theirs = _their_greedy(llm, ids, NEW_TOKENS)
    generated = model.generate(torch.tensor([ids]), max_new_tokens=NEW_TOKENS, do_sample=False, eos_token_id=None,
                               pad_token_id=tokenizer.pad_token_id)
    logits = model(torch.tensor([ids + theirs])).logits[0, len(ids) - 1 : -1]
    shortfall = float((logits.max(-1).values - logits[torch.arange(len(theirs)), theirs]).max())
    return difference, generated[0, len(ids):].tolist(), theirs, shortfall


def test_outtype_is_checked_first(tmp_path):
    with pytest.raises(ValueError, match="--outtype 'q4_k'"):
        export_gguf(tmp_path / "no-such-model", tmp_path / "out.gguf", outtype="q4_k")


@pytest.mark.parametrize("overrides, reason", [({"hidden_act": "relu2"}, "relu2"),
                                                ({"final_logit_softcapping": 15.0}, "soft-capping")])
def test_models_llama_cpp_cannot_run_are_refused(tmp_path, tiny_tokenizer, overrides, reason):
    folder = tmp_path / "model"
    tiny_model(vocab_size=len(tiny_tokenizer), **overrides).save_pretrained(folder)
    save_tokenizer(tiny_tokenizer, folder)
    out = tmp_path / "out"
    with pytest.raises(ExportError, match=reason):
        export_gguf(folder, out / "model.gguf")
    assert not out.exists() or not any(out.iterdir()), "a refused export left a file behind"


@pytest.mark.parametrize("arch", ["qwen3", "llama"])
def test_metadata(models, tmp_path, arch):
    path = export_gguf(models[arch], tmp_path / "model.gguf", outtype="q8_0")
    assert [p.name for p in tmp_path.iterdir()] == ["model.gguf"]
    reader = gguf.GGUFReader(path)
    field = {name: value.contents() for name, value in reader.fields.items()}
    assert field["general.architecture"] == arch
    assert field["tokenizer.ggml.model"] == "gpt2" and field["tokenizer.ggml.pre"] == "smaug-bpe"
    assert field["tokenizer.ggml.add_bos_token"] is True and field["tokenizer.ggml.bos_token_id"] == 0
    template = field["tokenizer.chat_template"]
    assert "<|im_start|>" in template and "endgeneration" not in template  # plain Jinja has no generation tag
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert types["blk.0.attn_norm.weight"] == "F32" and types["blk.0.ffn_up.weight"] == "Q8_0"
    assert ("output.weight" in types) == (arch == "qwen3")  # the llama fixture ties its embeddings
    assert ("blk.0.attn_q_norm.weight" in types) == (arch == "qwen3")


@pytest.mark.parametrize("arch", ["qwen3", "llama"])
def test_llama_cpp_tokenizes_like_us(llama_cpp, models, tmp_path, arch):
    path = export_gguf(models[arch], tmp_path / "model.gguf", outtype="f32")
    _, tokenizer = load_model(str(models[arch]), device="cpu")
    with _load(llama_cpp, path) as llm:
        for text in TEXTS:
            assert llm.tokenize(text.encode(), add_bos=True, special=True) == tokenizer(text)["input_ids"], text
            plain = tokenizer(text, add_special_tokens=False)["input_ids"]
            if not any(token in tokenizer.all_special_ids for token in plain):
                assert llm.detokenize(plain).decode() == text


@pytest.mark.parametrize("arch", ["qwen3", "llama"])
def test_llama_cpp_computes_our_logits_in_f32(llama_cpp, models, tmp_path, arch):
    path = export_gguf(models[arch], tmp_path / "model.gguf", outtype="f32")
    difference, ours, theirs, _ = _compare(llama_cpp, models[arch], path, float32_cache=True)
    print(f"{arch} f32: max abs logit difference {difference:.2e}")
    assert theirs == ours
    assert difference < TOLERANCE["f32"]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["qwen3", "llama"])
@pytest.mark.parametrize("outtype", ["f16", "q8_0"])
def test_llama_cpp_runs_smaller_types(llama_cpp, models, tmp_path, arch, outtype):
    path = export_gguf(models[arch], tmp_path / "model.gguf", outtype=outtype)
    difference, ours, theirs, shortfall = _compare(llama_cpp, models[arch], path)
    print(f"{arch} {outtype}: max abs logit difference {difference:.2e}, greedy tokens equal: {theirs == ours}")
    assert difference < TOLERANCE[outtype]
    if outtype == "f16":
        assert theirs == ours
    else:  # a random model has near ties that 8-bit weights may flip: each choice must be ours up to the tolerance
        assert shortfall < TOLERANCE[outtype], (ours, theirs)


@pytest.mark.slow
@torch.inference_mode()
def test_chat_completion_replies_like_us(llama_cpp, chat_model_dir, tmp_path):
    """The chat template travels in the file: llama-cpp-python formats the conversation with it and the exported
    chat model (which memorised its replies, so greedy tokens have clear margins) answers what ours answers."""
    model, tokenizer = load_model(str(chat_model_dir), device="cpu")
    messages = CHAT_CONVERSATIONS[0][:1]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    ours = tokenizer.decode(model.generate(ids, max_new_tokens=32, do_sample=False)[0, ids.shape[1]:],
                            skip_special_tokens=True)
    assert ours == CHAT_CONVERSATIONS[0][1]["content"]

    for outtype in ("f32", "q8_0"):
        path = export_gguf(chat_model_dir, tmp_path / f"chat.{outtype}.gguf", outtype=outtype)
        with _load(llama_cpp, path, n_ctx=512) as llm:
            reply = llm.create_chat_completion(messages=messages, temperature=0.0, max_tokens=32)
        assert reply["choices"][0]["message"]["content"] == ours, outtype
        assert reply["choices"][0]["finish_reason"] == "stop"
        assert reply["usage"]["prompt_tokens"] == ids.shape[1]  # the template's BOS is not doubled


def test_q8_0_falls_back_to_f16_for_rows_that_are_not_whole_blocks(tmp_path, tiny_tokenizer):
    folder = tmp_path / "model"
    tiny_model(vocab_size=len(tiny_tokenizer), hidden_size=48, intermediate_size=64).save_pretrained(folder)
    save_tokenizer(tiny_tokenizer, folder)
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(export_gguf(folder, tmp_path / "m.gguf", "q8_0")).tensors}
    assert types["blk.0.attn_q.weight"] == "F16"  # rows of 48 values; q8_0 blocks hold 32
    assert types["blk.0.ffn_down.weight"] == "Q8_0"  # rows of 64


def test_a_failed_export_keeps_the_previous_file(models, tmp_path, monkeypatch):
    output = tmp_path / "model.gguf"
    output.write_bytes(b"previous")

    def fail(self, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", fail)
    with pytest.raises(OSError, match="disk full"):
        export_gguf(models["qwen3"], output, outtype="f32")
    assert output.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["model.gguf"]


def _with_pre_tokenizer(folder, kind: str):
    """Give a saved tokenizer another model family's pre-tokenizer: Qwen2's regex with NFC (Qwen 2, 2.5, 3), SmolLM's
    digit split before GPT-2's byte-level regex, or GPT-2's alone."""
    from tokenizers import Regex, normalizers, pre_tokenizers
    from transformers import AutoTokenizer

    from hfchat.export.gguf import _QWEN2_SPLIT

    tokenizer = AutoTokenizer.from_pretrained(folder)
    backend = tokenizer.backend_tokenizer
    gpt2 = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if kind == "qwen2":
        backend.normalizer = normalizers.NFC()
        backend.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(_QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), gpt2]) \
            if kind == "smollm" else gpt2
    tokenizer.save_pretrained(folder)


@pytest.mark.parametrize("kind", ["qwen2", "smollm", "gpt-2"])
def test_llama_cpp_tokenizes_like_other_families_pre_tokenizers(llama_cpp, tiny_model_dir, tmp_path, kind):
    folder = tmp_path / "model"
    folder.mkdir()
    for path in tiny_model_dir.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    _with_pre_tokenizer(folder, kind)
    path = export_gguf(folder, tmp_path / "model.gguf", outtype="f32")
    assert gguf.GGUFReader(path).fields["tokenizer.ggml.pre"].contents() == kind
    _, tokenizer = load_model(str(folder), device="cpu")
    with _load(llama_cpp, path) as llm:
        for text in TEXTS:
            assert llm.tokenize(text.encode(), add_bos=True, special=True) == tokenizer(text)["input_ids"], text


@pytest.mark.parametrize("arch", ["qwen3", "llama"])
def test_transformers_own_llama_and_qwen3_models_export_too(llama_cpp, models, tmp_path, arch):
    """A model of transformers' Llama / Qwen3 class (here hfchat's exported to it; Qwen's tokenizer for Qwen3):
    the same tokens and the same logits in llama.cpp."""
    from transformers import AutoConfig

    from hfchat.export import export_transformers

    native = export_transformers(models[arch], arch, tmp_path / "native")
    if arch == "qwen3":
        _with_pre_tokenizer(native, "qwen2")
    assert AutoConfig.from_pretrained(native).model_type == arch
    path = export_gguf(native, tmp_path / "model.gguf", outtype="f32")
    fields = {name: value.contents() for name, value in gguf.GGUFReader(path).fields.items()}
    assert fields["general.architecture"] == arch
    assert fields["tokenizer.ggml.pre"] == {"qwen3": "qwen2", "llama": "smaug-bpe"}[arch]
    _, tokenizer = load_model(str(native), device="cpu")
    with _load(llama_cpp, path) as llm:
        for text in TEXTS:
            assert llm.tokenize(text.encode(), add_bos=True, special=True) == tokenizer(text)["input_ids"], text
    difference, ours, theirs, _ = _compare(llama_cpp, native, path, float32_cache=True)
    assert theirs == ours and difference < TOLERANCE["f32"]


def test_transformers_models_llama_cpp_would_run_differently_are_refused(llama_dir, tmp_path):
    import json

    from hfchat.export import export_transformers

    native = export_transformers(llama_dir, "llama", tmp_path / "native")
    config = json.loads((native / "config.json").read_text())
    config["rope_parameters"] = {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
    (native / "config.json").write_text(json.dumps(config))
    with pytest.raises(ExportError, match=r"rope_parameters.rope_type='llama3' is not supported"):
        export_gguf(native, tmp_path / "out" / "model.gguf")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
