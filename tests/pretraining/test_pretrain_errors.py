"""Bad pretraining input fails fast, names the field, file or column, and changes nothing on disk."""

import json

import pytest
from accelerate.state import AcceleratorState

from hfchat import HFChatConfig, HFChatForCausalLM
from hfchat.training import PretrainConfig, pretrain


@pytest.fixture(autouse=True)
def fresh_accelerator_state():
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.fixture
def corpus(tmp_path, tiny_tokenizer):
    from hfchat import save_tokenizer

    data = tmp_path / "corpus.jsonl"
    data.write_text("".join(json.dumps({"text": f"document number {i} says hello"}) + "\n" for i in range(200)))
    save_tokenizer(tiny_tokenizer, tmp_path / "tokenizer")
    return data, tmp_path / "tokenizer"


def config(corpus, output_dir, **overrides):
    data, tokenizer = corpus
    fields = dict(
        output_dir=str(output_dir), datasets=[str(data)], tokenizer_name_or_path=str(tokenizer), depth=2, head_dim=32,
        seq_len=32, per_device_train_batch_size=2, total_batch_size=64, max_steps=2, eval_steps=0,
    )  # fmt: skip
    fields.update(overrides)
    return PretrainConfig(**fields)


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


def test_missing_file_names_the_source(corpus, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match="missing.jsonl.*no such file"):
        pretrain(config(corpus, out, datasets=[str(tmp_path / "missing.jsonl")]))
    assert not out.exists()


def test_wrong_column_names_it_and_lists_the_columns(corpus, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"no column 'body'; it has columns \['text'\]"):
        pretrain(config(corpus, out, datasets=[{"path": str(corpus[0]), "column": "body"}]))
    assert not out.exists()


def test_seq_len_above_max_position_embeddings_is_refused(corpus, tmp_path):
    with pytest.raises(ValueError, match=r"seq_len \(64\) is above max_position_embeddings \(32\)"):
        config(corpus, tmp_path / "out", seq_len=64, max_position_embeddings=32)
    model_dir = tmp_path / "model"
    HFChatForCausalLM(HFChatConfig.from_depth(1, vocab_size=512, head_dim=32, max_position_embeddings=16)).save_pretrained(
        model_dir
    )
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"seq_len \(32\) is above max_position_embeddings \(16\)"):
        pretrain(config(corpus, out, depth=None, model_name_or_path=str(model_dir)))
    assert not out.exists()


def test_batch_size_that_does_not_divide_names_the_fields(corpus, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"total_batch_size \(100\) must be a multiple of per_device_train_batch_size"):
        pretrain(config(corpus, out, total_batch_size=100))
    assert not out.exists()


def test_output_dir_of_another_run_is_left_alone(corpus, tmp_path):
    out = tmp_path / "out"
    (out / "checkpoint-5").mkdir(parents=True)
    (out / "checkpoint-5" / "trainer_state.json").write_text('{"step": 5, "world_size": 1, "tokens": 0}')
    (out / "metrics.jsonl").write_text('{"step": 5, "loss": 1.0}\n')
    before = snapshot(out)
    with pytest.raises(ValueError, match="already holds checkpoints.*--resume_from_checkpoint latest"):
        pretrain(config(corpus, out))
    assert snapshot(out) == before


def test_resume_from_a_folder_that_is_no_checkpoint_names_it(corpus, tmp_path):
    with pytest.raises(FileNotFoundError, match="resume_from_checkpoint.*not a complete checkpoint"):
        pretrain(config(corpus, tmp_path / "out", resume_from_checkpoint=str(tmp_path)))


@pytest.mark.parametrize(
    "overrides, field",
    [
        (dict(optimizer="sgd"), "optimizer"),
        (dict(depth=None), "depth"),
        (dict(report_to=["mlflow2"]), "report_to"),
        (dict(warmdown_ratio=1.5), "warmdown_ratio"),
        (dict(per_device_train_batch_size=0), "per_device_train_batch_size"),
        (dict(per_device_train_batch_size="eight"), "per_device_train_batch_size"),
        (dict(stream_prefetch=-1), "stream_prefetch"),
        (dict(datasets=[{"path": "x", "weights": 2}]), "unknown keys"),
    ],
)
def test_bad_fields_are_named(corpus, tmp_path, overrides, field):
    with pytest.raises(ValueError, match=field):
        config(corpus, tmp_path / "out", **overrides)
