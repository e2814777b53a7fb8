"""`hfchat import-nanochat` against checkpoints written by nanochat's own code (tests/fixtures/nanochat: the current
architecture at 92d63d4 and the older one at 10231df) and the outputs nanochat computed for them: logits, token
ids, KV-cache greedy decoding, rendered conversations and their training masks. Then the imported folder as any
hfchat model: remote code without hfchat on 4.57 and the newest transformers, the engine, chat, eval, SFT, export."""

import json
import os
import pickle
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from hfchat.chat_encoding import encode_chat, encode_chat_with_mask
from hfchat.nanochat import NanochatFormatError, import_nanochat
from hfchat.nanochat.tokenizer import read_encoding
from tests.helpers import HFCHAT, REFUSE_HFCHAT, REPO_ROOT, side_transformers

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "nanochat"
CHECKPOINTS = {"d4": FIXTURES / "d4" / "base_checkpoints" / "d4",
               "classic-d3": FIXTURES / "classic-d3" / "base_checkpoints" / "d3"}


def expected(name):
    """nanochat's own outputs for a fixture: (expected.json, expected.safetensors)."""
    root = FIXTURES / name
    return json.loads((root / "expected.json").read_text()), load_file(root / "expected.safetensors")


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """Both fixtures imported, the current one through the installed command."""
    folders = {}
    for name, checkpoint in CHECKPOINTS.items():
        folder = tmp_path_factory.mktemp(name) / "hf"
        if name == "d4":
            result = subprocess.run([HFCHAT, "import-nanochat", "--checkpoint", str(checkpoint), "--tokenizer",
                                     str(FIXTURES / name / "tokenizer"), "--output", str(folder)],
                                    capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, result.stderr
            assert f"-> {folder}" in result.stdout
        else:
            import_nanochat(checkpoint, FIXTURES / name / "tokenizer", folder)
        folders[name] = folder
    return folders


def load(folder):
    return AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


@pytest.mark.parametrize("name", list(CHECKPOINTS))
def test_logits_and_token_ids_equal_nanochats(imported, name):
    facts, tensors = expected(name)
    model, tokenizer = load(imported[name])
    rows = [tokenizer(text)["input_ids"][: facts["T"]] for text in facts["texts"]]
    assert rows == tensors["input_ids"].tolist()
    with torch.no_grad():
        logits = model(tensors["input_ids"]).logits
    difference = (logits - tensors["logits"]).abs().max().item()
    assert difference < 1e-5, f"{name}: max |logit difference| {difference:.2e}"
    assert {token: tokenizer.convert_tokens_to_ids(token) for token in facts["special_tokens"]} == \
        facts["special_tokens"]


@pytest.mark.parametrize("name", list(CHECKPOINTS))
def test_cached_greedy_equals_nanochats_engine_alone_static_and_left_padded(imported, name):
    facts, _ = expected(name)
    model, tokenizer = load(imported[name])
    prompt, want = facts["prompt_ids"], facts["greedy_ids"]
    new = len(want) - len(prompt)
    for cache in ("dynamic", "static"):
        out = model.generate(torch.tensor([prompt]), max_new_tokens=new, do_sample=False, eos_token_id=None,
                             cache_implementation=cache)
        assert out[0].tolist() == want, cache
    # Batched with a longer prompt: the fixture's row is left-padded (its smear must not read the padding).
    longer = tokenizer(facts["texts"][1])["input_ids"][:40]
    width = len(longer)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(prompt)) + prompt, longer])
    mask = torch.tensor([[0] * (width - len(prompt)) + [1] * len(prompt), [1] * width])
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new, do_sample=False, eos_token_id=None)
    assert out[0, width:].tolist() == want[len(prompt):]
    alone = model.generate(torch.tensor([longer]), max_new_tokens=new, do_sample=False, eos_token_id=None)
    assert out[1, width:].tolist() == alone[0, width:].tolist()


@pytest.mark.parametrize("name", list(CHECKPOINTS))
def test_chat_template_renders_nanochats_conversation_and_mask(imported, name):
    facts, _ = expected(name)
    tokenizer = AutoTokenizer.from_pretrained(imported[name])
    messages = facts["conversation"]["messages"]
    assert "<|assistant_start|>" in messages[1]["content"]  # content that must stay text, as nanochat keeps it
    ids, mask = encode_chat_with_mask(tokenizer, messages)
    assert ids == facts["conversation_ids"]
    assert mask == facts["conversation_mask"]
    assert encode_chat(tokenizer, messages[:-1], add_generation_prompt=True) == facts["completion_ids"]


ENCODINGS = {name: read_encoding(FIXTURES / name / "tokenizer" / "tokenizer.pkl") for name in CHECKPOINTS}


@pytest.mark.parametrize("name", list(CHECKPOINTS))
@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=80)
       | st.text(alphabet="abc XYZ 012'\n\t.,!?<|>é中😀", max_size=80))
def test_tokenizer_is_byte_exact_with_tiktoken(imported, name, text):
    import tiktoken

    state = ENCODINGS[name]
    reference = tiktoken.Encoding(name=state["name"], pat_str=state["pat_str"],
                                  mergeable_ranks=state["mergeable_ranks"], special_tokens=state["special_tokens"])
    tokenizer = tokenizer_of(imported[name])
    ids = tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    assert ids == reference.encode_ordinary(text)
    assert tokenizer.decode(ids) == reference.decode(ids)


_TOKENIZERS = {}


def tokenizer_of(folder):
    if folder not in _TOKENIZERS:
        _TOKENIZERS[folder] = AutoTokenizer.from_pretrained(folder)
    return _TOKENIZERS[folder]


# A fresh interpreter that cannot import hfchat: the saved remote code alone, on the transformers it is given.
CHILD = REFUSE_HFCHAT + r"""
import json, torch, transformers
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer
folder, fixture, messages = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
facts, tensors = json.load(open(fixture + "/expected.json")), load_file(fixture + "/expected.safetensors")
model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True).eval()
tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
with torch.no_grad():
    difference = (model(tensors["input_ids"]).logits - tensors["logits"]).abs().max().item()
prompt = facts["prompt_ids"]
greedy = model.generate(torch.tensor([prompt]), max_new_tokens=len(facts["greedy_ids"]) - len(prompt),
                        do_sample=False)[0].tolist()
marked = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
print(json.dumps({"transformers": transformers.__version__, "difference": difference, "greedy": greedy,
                  "ids": list(marked["input_ids"]), "mask": list(marked["assistant_masks"])}))
"""


@pytest.mark.parametrize("release", ["4.57", "newest"])
def test_remote_code_without_hfchat(imported, release, request):
    facts, _ = expected("d4")
    # Control-token strings in content are hfchat's to escape; the template itself is what is checked here.
    messages = json.loads(json.dumps(facts["conversation"]["messages"]).replace("<|assistant_start|>", "[start]"))
    ids, mask = encode_chat_with_mask(tokenizer_of(imported["d4"]), messages)
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(side_transformers(release, request))}
    result = subprocess.run([sys.executable, "-c", CHILD, str(imported["d4"]), str(FIXTURES / "d4"),
                             json.dumps(messages)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    child = json.loads(result.stdout.strip().splitlines()[-1])
    version = child["transformers"]
    assert release == "newest" or version.startswith(release)
    assert child["difference"] < 1e-5, f"transformers {version}: max |logit difference| {child['difference']:.2e}"
    assert child["greedy"][: len(facts["greedy_ids"])] == facts["greedy_ids"], f"transformers {version}"
    assert (child["ids"], child["mask"]) == (ids, mask), f"transformers {version}"


def test_engine_batches_long_prompts_past_the_sliding_window(imported):
    """The serving engine (requests joining a running batch, the cache rebuilt between calls) against `generate`,
    with prompts longer than the short window (129 keys), so the sliding layers' caches are shorter than the rest."""
    from hfchat.inference import Engine, SamplingParams

    facts, tensors = expected("d4")
    model, tokenizer = load(imported["d4"])
    prompts = [tensors["input_ids"][0, :150].tolist(), facts["prompt_ids"], tensors["input_ids"][1, :135].tolist()]
    want = [model.generate(torch.tensor([p]), max_new_tokens=30, do_sample=False, eos_token_id=None)[0, len(p):]
            .tolist() for p in prompts]
    engine = Engine(model, tokenizer)
    try:
        engine.end_ids = frozenset()  # a random model: compare 30 tokens whatever they are
        first = engine.submit(prompts[0], SamplingParams(max_new_tokens=30))
        later = []
        for count, _ in enumerate(first, start=1):
            if count == 5:
                later = [engine.submit(p, SamplingParams(max_new_tokens=30)) for p in prompts[1:]]
        got = [[t.id for t in stream.tokens] for stream in [first] + [s.result() for s in later]]
    finally:
        engine.close()
    assert got == want


def test_chat_eval_and_push_run_on_the_imported_model(imported, tmp_path):
    folder = imported["d4"]
    chat = subprocess.run([HFCHAT, "chat", "--model", str(folder), "-p", "Hello!", "--max-new-tokens", "8",
                           "--temperature", "0"], capture_output=True, text=True, timeout=300)
    assert chat.returncode == 0 and "Traceback" not in chat.stderr, chat.stderr
    from hfchat.evaluation.runner import evaluate

    summary = evaluate(str(folder), "builtin_preference", limit=4, batch_size=2, output_dir=tmp_path / "eval")
    assert summary["results"]["builtin_preference"]["n"] == 4
    push = subprocess.run([HFCHAT, "push", "--model", str(folder), "--repo-id", "user/nanochat-d4", "--dry-run",
                           str(tmp_path / "upload")], capture_output=True, text=True, timeout=300)
    assert push.returncode == 0, push.stderr
    assert {"model.safetensors", "modeling_hfchat.py", "tokenizer.json", "README.md"} <= set(push.stdout.split())


def test_sft_continues_from_the_imported_model(imported, tmp_path):
    from tests.helpers import run_recipe
    from tests.post_training.test_post_training import write_config

    rows = tmp_path / "chat.jsonl"
    rows.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"What is {i} + {i}?"},
                                                     {"role": "assistant", "content": f"{i} + {i} = {2 * i}."}]})
                            + "\n" for i in range(16)))
    out = tmp_path / "sft"
    config = write_config(tmp_path, "sft", imported["d4"], out, datasets=[{"path": "json", "data_files": str(rows)}],
                          packing=False, max_steps=3, save_steps=3)
    run_recipe("sft", config)
    before = load_file(imported["d4"] / "model.safetensors")
    after = load_file(out / "model.safetensors")
    assert any(not torch.equal(before[name], after[name]) for name in before)
    model, tokenizer = load(out)
    assert tokenizer.eos_token == "<|assistant_end|>"
    assert model.generation_config.eos_token_id[0] == tokenizer.convert_tokens_to_ids("<|assistant_end|>")


def test_export_refuses_what_llama_cpp_cannot_run(imported, tmp_path):
    for target, output in (("gguf", tmp_path / "m.gguf"), ("llama", tmp_path / "llama")):
        result = subprocess.run([HFCHAT, "export", "--model", str(imported["d4"]), "--to", target, "--output",
                                 str(output)], capture_output=True, text=True, timeout=300)
        assert result.returncode == 2, result.stderr
        assert "relu2" in result.stderr
        assert not output.exists()


def copy_fixture(tmp_path, name="d4"):
    """A writable copy of a fixture: (checkpoint folder, tokenizer folder)."""
    import shutil

    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root)
    return root / "base_checkpoints" / CHECKPOINTS[name].name, root / "tokenizer"


def test_compiled_prefixes_and_bfloat16_tensors_import(tmp_path):
    checkpoint, tokenizer = copy_fixture(tmp_path)
    path = checkpoint / "model_000100.pt"
    state = torch.load(path, weights_only=True)
    torch.save({f"_orig_mod.{k}": v.bfloat16() for k, v in state.items()}, checkpoint / "model_000200.pt")
    (checkpoint / "meta_000200.json").write_text((checkpoint / "meta_000100.json").read_text())
    folder = import_nanochat(checkpoint, tokenizer, tmp_path / "out")  # the latest step: 200
    model, _ = load(folder)
    _, tensors = expected("d4")
    with torch.no_grad():
        difference = (model(tensors["input_ids"]).logits - tensors["logits"]).abs().max().item()
    assert 0 < difference < 0.02  # bfloat16 weights: close, not equal
    older = import_nanochat(checkpoint, tokenizer, tmp_path / "older", step=100)
    with torch.no_grad():
        assert (load(older)[0](tensors["input_ids"]).logits - tensors["logits"]).abs().max().item() < 1e-5


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch EXPLOITED",))


def test_bad_input_is_named_and_nothing_is_written(tmp_path, monkeypatch):
    checkpoint, tokenizer = copy_fixture(tmp_path)
    out = tmp_path / "out"

    def refused(message, **kwargs):
        with pytest.raises(NanochatFormatError, match=message):
            import_nanochat(kwargs.pop("checkpoint", checkpoint), kwargs.pop("tokenizer", tokenizer), out, **kwargs)
        assert not out.exists()

    refused("--step 7: .* has the steps 100", step=7)
    refused("no tokenizer.pkl there", tokenizer=tmp_path)
    refused("no model_<step>.pt in it", checkpoint=tokenizer)
    meta = checkpoint / "meta_000100.json"
    original = json.loads(meta.read_text())
    meta.write_text(json.dumps({"step": 100}))
    refused("no `model_config` object")
    meta.write_text(json.dumps({**original, "model_config": {**original["model_config"], "n_mtp_heads": 2}}))
    refused(r"model_config.n_mtp_heads is not a field this importer knows")
    meta.write_text(json.dumps(original))
    refused("model_config.vocab_size is 640 but .* has 600 tokens: not this model's tokenizer",
            tokenizer=FIXTURES / "classic-d3" / "tokenizer")
    meta.unlink()
    refused("meta_000100.json is missing")
    meta.write_text(json.dumps(original))

    # A pickle that would run a command when unpickled: refused by name, and the command never runs.
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "tokenizer.pkl").write_bytes(pickle.dumps(Exploit()))
    monkeypatch.chdir(tmp_path)
    refused(r"names posix.system|names os.system", tokenizer=evil)
    assert not (tmp_path / "EXPLOITED").exists()
    state = torch.load(checkpoint / "model_000100.pt", weights_only=True)
    torch.save({**state, "mtp_head.weight": torch.zeros(2)}, checkpoint / "model_000100.pt")
    refused("holds 'mtp_head.weight', which this importer does not know")
