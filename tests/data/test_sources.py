import json

import datasets
import pytest

from hfchat.data.sources import TextSource, load_text_mixture, load_text_source


@pytest.fixture
def files(tmp_path):
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"body": f"json {i}", "id": i}) + "\n" for i in range(6)))
    (tmp_path / "b.txt").write_text("text one\ntext two\ntext three\n")
    datasets.Dataset.from_dict({"text": [f"parquet {i}" for i in range(4)]}).to_parquet(tmp_path / "c.parquet")
    folder = tmp_path / "folder"
    folder.mkdir()
    for i in range(2):
        (folder / f"part{i}.txt").write_text(f"part {i} line a\npart {i} line b\n")
    return tmp_path


def test_local_files_and_folders_become_a_text_column(files):
    assert load_text_source({"path": str(files / "a.jsonl"), "column": "body"})["text"][:2] == ["json 0", "json 1"]
    assert list(load_text_source(str(files / "b.txt"))["text"]) == ["text one", "text two", "text three"]
    assert len(load_text_source(str(files / "c.parquet"))) == 4
    assert sorted(load_text_source(str(files / "folder"))["text"])[0] == "part 0 line a"


def test_streaming_gives_an_iterable_dataset_with_the_same_rows(files):
    spec = {"path": str(files / "a.jsonl"), "column": "body"}
    streamed = load_text_source(spec, streaming=True)
    assert isinstance(streamed, datasets.IterableDataset)
    assert [row["text"] for row in streamed] == list(load_text_source(spec)["text"])


def test_builtin_sources_load_by_name_and_split():
    assert load_text_source("builtin:stories", split="validation").column_names == ["text"]
    assert load_text_source({"path": "builtin:math", "split": "test", "column": "answer"}).column_names == ["text"]


def test_mixture_interleaves_by_weight(files):
    mixture = load_text_mixture(
        [{"path": str(files / "b.txt"), "weight": 1.0}, {"path": str(files / "c.parquet"), "weight": 3.0}], seed=0
    )
    texts = list(mixture["text"])
    assert {t.split()[0] for t in texts} == {"text", "parquet"}
    assert sum(t.startswith("parquet") for t in texts) > sum(t.startswith("text") for t in texts)


@pytest.mark.parametrize("streaming", [False, True])
def test_missing_column_names_the_source_and_lists_its_columns(files, streaming):
    with pytest.raises(ValueError, match=r"a.jsonl'?: no column 'text'; it has columns \['body', 'id'\]"):
        load_text_source(str(files / "a.jsonl"), streaming=streaming)


def test_bad_specs_are_clear_errors(files):
    with pytest.raises(FileNotFoundError, match="nope.jsonl.*no such file"):
        load_text_source(str(files / "nope.jsonl"))
    (files / "mixed").mkdir()
    (files / "mixed" / "x.txt").write_text("x\n")
    (files / "mixed" / "y.jsonl").write_text('{"text": "y"}\n')
    with pytest.raises(ValueError, match="mixes file types"):
        load_text_source(str(files / "mixed"))
    with pytest.raises(ValueError, match="only the split 'train'"):
        load_text_source({"path": str(files / "b.txt"), "split": "test"})
    with pytest.raises(ValueError, match="unknown keys"):
        TextSource.parse({"path": "x", "colum": "text"})
    with pytest.raises(ValueError, match="weight"):
        TextSource.parse({"path": "x", "weight": 0})
    with pytest.raises(ValueError, match="at least one source"):
        load_text_mixture([])
