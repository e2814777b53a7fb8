"""Fetching only the shards a run needs, from a local folder laid out like a Hub dataset repository (fineweb-edu)."""

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hfchat.data.shards import ShardFetcher, bytes_per_token, list_shards, select_shards, shards_of_rank
from tests.helpers import REPO_ROOT

WORDS = "the students read about rivers and mountains while a teacher explained how water shapes the land".split()
SHARDS = 6
README = """---
configs:
- config_name: sample-10BT
  data_files:
  - split: train
    path: sample/10BT/*
- config_name: CC-MAIN-2024-10
  data_files:
  - split: train
    path: data/CC-MAIN-2024-10/*
---
# A local folder laid out like HuggingFaceFW/fineweb-edu
"""


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    """Six real parquet shards of 300-800 documents under sample/10BT/, as fineweb-edu keeps them."""
    root = tmp_path_factory.mktemp("fineweb-edu")
    (root / "README.md").write_text(README)
    folder = root / "sample" / "10BT"
    folder.mkdir(parents=True)
    rng = random.Random(0)
    for shard in range(SHARDS):
        texts = [f"shard {shard} document {i}: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 200)))
                 for i in range(rng.randint(300, 800))]
        table = pa.table({"text": texts, "id": [f"{shard}-{i}" for i in range(len(texts))]})
        pq.write_table(table, folder / f"{shard:03d}_00000.parquet", row_group_size=100)
    return root


class SlowSource:
    """A local file read with a pause per chunk, as a slow network would deliver it."""

    pause = 0.02

    def __init__(self, url):
        self.file = open(url, "rb")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def seek(self, offset):
        self.file.seek(offset)

    def read(self, size):
        time.sleep(self.pause)
        return self.file.read(size)


def documents(folder):
    files = sorted(str(p) for p in folder.rglob("*.parquet"))
    return datasets.load_dataset("parquet", data_files=files, split="train")["id"]


def test_shards_are_listed_in_order_with_their_sizes(repository):
    shards = list_shards(str(repository), "sample-10BT")
    assert [s.name for s in shards] == [f"sample/10BT/{i:03d}_00000.parquet" for i in range(SHARDS)]
    assert all(s.size == (repository / s.name).stat().st_size for s in shards)
    with pytest.raises(ValueError, match="sample-99BT"):
        list_shards(str(repository), "sample-99BT")
    with pytest.raises(ValueError, match="no 'validation' split"):
        list_shards(str(repository), "sample-10BT", split="validation")


def test_bytes_per_token_from_the_first_shard_predicts_the_others(repository, tiny_tokenizer):
    shards = list_shards(str(repository), "sample-10BT")
    estimate = bytes_per_token(repository / shards[0].name, tiny_tokenizer, sample_documents=200)
    estimated, counted = 0.0, 0
    for shard in shards[1:]:
        texts = pq.read_table(repository / shard.name, columns=["text"]).column("text").to_pylist()
        tokens = sum(len(ids) + 1 for ids in tiny_tokenizer(texts, add_special_tokens=False)["input_ids"])
        assert shard.size / estimate == pytest.approx(tokens, rel=0.2), shard.name  # tiny shards: parquet overhead
        estimated, counted = estimated + shard.size / estimate, counted + tokens
    assert estimated == pytest.approx(counted, rel=0.1)  # within the selection's margin


def test_the_selection_holds_the_budget_and_a_margin_dealt_evenly(repository):
    shards = list_shards(str(repository), "sample-10BT")
    per_token = 2.0
    held = [s.size / per_token for s in shards]
    budget = int(held[0] + held[1] * 0.5)  # about one and a half shards
    one = select_shards(shards, budget, per_token, world_size=1, margin=0.1)
    assert sum(held[: len(one)]) >= budget * 1.1 > sum(held[: len(one) - 1])
    two = select_shards(shards, budget, per_token, world_size=2, margin=0.1)
    assert len(two) == len(one) + len(one) % 2  # rounded up so both processes get as many
    ranks = [shards_of_rank(two, rank, 2) for rank in range(2)]
    assert not set(ranks[0]) & set(ranks[1]) and sorted(ranks[0] + ranks[1], key=shards.index) == two
    assert select_shards(shards, 10**12, per_token) == shards  # not enough: everything, with a warning
    with pytest.raises(ValueError, match="cannot feed 8 processes"):
        select_shards(shards, 1, per_token, world_size=8)


def test_two_ranks_fetch_disjoint_shards_that_together_are_the_selection(repository, tmp_path):
    selection = select_shards(list_shards(str(repository), "sample-10BT"), 1, 1.0, world_size=2)
    for rank in range(2):
        fetcher = ShardFetcher(shards_of_rank(selection, rank, 2), tmp_path / f"rank{rank}", workers=2,
                               progress=False)
        assert fetcher.path(0).is_file()  # the first shard alone, before the rest is waited for
        fetcher.close()
    ranks = [set(documents(tmp_path / f"rank{rank}")) for rank in range(2)]
    assert ranks[0] and ranks[1] and not ranks[0] & ranks[1]
    selected = set(datasets.load_dataset("parquet", data_files=[s.url for s in selection], split="train")["id"])
    assert ranks[0] | ranks[1] == selected
    assert not list(tmp_path.rglob("*.incomplete"))


KILLED_FETCH = textwrap.dedent("""
    import sys
    from hfchat.data import shards
    from tests.data.test_shards import SlowSource

    shards.COPY_CHUNK = 4096
    repository, folder = sys.argv[1:]
    fetcher = shards.ShardFetcher(shards.list_shards(repository, "sample-10BT"), folder, workers=2, progress=False,
                                  opener=SlowSource)
    fetcher.close()
""")


@pytest.mark.slow
def test_a_fetch_killed_mid_shard_resumes_from_the_bytes_it_has(repository, tmp_path):
    folder = tmp_path / "shards"
    process = subprocess.Popen([sys.executable, "-c", KILLED_FETCH, str(repository), str(folder)], cwd=REPO_ROOT,
                               env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.time() + 60
    while not any(p.stat().st_size > 0 for p in folder.rglob("*.incomplete")):
        assert process.poll() is None, "the fetch ended before it was killed"
        assert time.time() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    left = sum(p.stat().st_size for p in folder.rglob("*.incomplete"))
    done = sum(p.stat().st_size for p in folder.rglob("*.parquet"))
    assert left > 0

    shards = list_shards(str(repository), "sample-10BT")
    fetcher = ShardFetcher(shards, folder, workers=2, progress=False)
    fetcher.close()
    assert fetcher.fetched_bytes == sum(s.size for s in shards) - left - done  # only what was missing
    for shard in shards:
        assert (folder / shard.name).read_bytes() == (repository / shard.name).read_bytes(), shard.name
    assert not list(folder.rglob("*.incomplete"))


def test_a_truncated_shard_is_refused_with_its_name(repository, tmp_path):
    broken = tmp_path / "broken"
    (broken / "sample" / "10BT").mkdir(parents=True)
    (broken / "README.md").write_text(README)
    for i in range(2):
        data = (repository / f"sample/10BT/{i:03d}_00000.parquet").read_bytes()
        (broken / f"sample/10BT/{i:03d}_00000.parquet").write_bytes(data[: len(data) // 2] if i == 1 else data)
    fetcher = ShardFetcher(list_shards(str(broken), "sample-10BT"), tmp_path / "out", progress=False, backoff=0)
    with pytest.raises(ValueError, match="shard sample/10BT/001_00000.parquet is not a complete parquet file"):
        fetcher.close()
    assert not (tmp_path / "out" / "sample/10BT/001_00000.parquet").exists()
    assert not list((tmp_path / "out").rglob("*.incomplete"))


def test_failures_are_retried_and_a_damaged_copy_is_fetched_again(repository, tmp_path):
    shards = list_shards(str(repository), "sample-10BT")[:2]
    failures = []

    def flaky(url):
        if len(failures) < 3:
            failures.append(url)
            raise ConnectionResetError("connection reset by peer")
        return open(url, "rb")

    folder = tmp_path / "shards"
    (folder / "sample" / "10BT").mkdir(parents=True)
    (folder / shards[0].name).write_bytes(b"PAR1 not a shard")  # a damaged earlier copy
    fetcher = ShardFetcher(shards, folder, workers=1, progress=False, backoff=0, opener=flaky)
    fetcher.close()
    assert len(failures) == 3
    assert all((folder / s.name).read_bytes() == (repository / s.name).read_bytes() for s in shards)

    def down(url):
        raise ConnectionRefusedError("no route to host")

    with pytest.raises(OSError, match=r"shard sample/10BT/000_00000.parquet: .*no route to host.*after 3 attempts"):
        ShardFetcher(shards, tmp_path / "never", retries=2, backoff=0, progress=False, opener=down).close()


def test_hfchat_fetch_shards_takes_a_budget_and_the_recipe_reads_the_folder(repository, tmp_path, tiny_tokenizer):
    from hfchat.data.sources import load_text_source

    tokenizer = tmp_path / "tokenizer"
    tiny_tokenizer.save_pretrained(tokenizer)
    dest = tmp_path / "fineweb-edu"
    command = [sys.executable, "-m", "hfchat.cli", "fetch-shards", str(repository), "--name", "sample-10BT",
               "--dest", str(dest), "--tokens", "100000", "--tokenizer", str(tokenizer), "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert 1 <= summary["selected"] < SHARDS and summary["estimated_tokens"] >= 100000 * 1.1
    fetched = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.parquet"))
    assert fetched == [f"sample/10BT/{i:03d}_00000.parquet" for i in range(summary["selected"])]
    assert len(load_text_source(str(dest))) == sum(pq.ParquetFile(dest / f).metadata.num_rows for f in fetched)

    bad = subprocess.run([*command[:5], "--name", "sample-99BT", *command[7:]], capture_output=True, text=True,
                         timeout=120, cwd=REPO_ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert bad.returncode == 2 and "sample-99BT" in bad.stderr


def shard_texts(repository, shard):
    return pq.read_table(repository / shard.name, columns=["text"]).column("text").to_pylist()


def test_sharded_documents_serve_blocks_in_order_and_the_first_before_the_rest_arrive(repository, tmp_path):
    shards = list_shards(str(repository), "sample-10BT")

    import hfchat.data.shards as module

    chunk, module.COPY_CHUNK = module.COPY_CHUNK, 16384
    try:
        fetcher = ShardFetcher(shards, tmp_path / "slow", workers=1, progress=False, opener=SlowSource)
        documents = module.ShardedDocuments(fetcher, skip={shards[0].name: 10}, seed=1)
        first = documents.block(0, 0, 50)
        assert not (tmp_path / "slow" / shards[-1].name).exists()  # served while the last shard is on its way
        fetcher.close()
    finally:
        module.COPY_CHUNK = chunk
    everything = shard_texts(repository, shards[0])[10:] + [t for s in shards[1:] for t in shard_texts(repository, s)]
    assert first == everything[:50]
    blocks = list(itertools.takewhile(bool, (documents.block(0, i, 97) for i in itertools.count())))
    assert [t for b in blocks for t in b] == everything  # epoch 0: the fetch order, blocks across shard ends
    later = list(itertools.takewhile(bool, (documents.block(1, i, 97) for i in itertools.count())))
    assert sorted(t for b in later for t in b) == sorted(everything) and later != blocks


def test_two_ranks_stream_their_own_shards_and_resume_exactly(repository, tmp_path, tiny_tokenizer):
    from hfchat.data.shards import ShardedDocuments
    from hfchat.data.stream import PretrainingStream

    selection = list_shards(str(repository), "sample-10BT")
    kwargs = dict(seq_len=31, batch_size=2, block_size=40, world_size=2, seed=3)

    def stream(rank, prefetch=0):
        fetcher = ShardFetcher(shards_of_rank(selection, rank, 2), tmp_path / "shards", progress=False)
        return PretrainingStream(ShardedDocuments(fetcher), tiny_tokenizer, rank=rank, prefetch=prefetch, **kwargs)

    texts = [{t for s in shards_of_rank(selection, rank, 2) for t in shard_texts(repository, s)} for rank in (0, 1)]
    assert texts[0] and texts[1] and not texts[0] & texts[1]
    reference = [b.tolist() for b in itertools.islice(stream(1), 30)]
    first = stream(1, prefetch=4)
    consumed = [b.tolist() for b in itertools.islice(iter(first), 11)]
    resumed = stream(1)
    resumed.load_state_dict(first.state_dict())
    assert consumed + [b.tolist() for b in itertools.islice(iter(resumed), 19)] == reference


def test_a_cancelled_fetch_stops_and_a_new_one_finishes_it(repository, tmp_path):
    import threading

    import hfchat.data.shards as module

    shards = list_shards(str(repository), "sample-10BT")
    chunk, module.COPY_CHUNK = module.COPY_CHUNK, 16384
    try:
        fetcher = ShardFetcher(shards, tmp_path / "shards", workers=1, progress=False, opener=SlowSource)
        fetcher.path(0)
        fetcher.cancel()
        deadline = time.time() + 10
        while any(t.name.startswith("hfchat-shards") for t in threading.enumerate()):
            assert time.time() < deadline, "the fetch threads did not stop"
            time.sleep(0.01)
    finally:
        module.COPY_CHUNK = chunk
    assert len(list((tmp_path / "shards").rglob("*.parquet"))) < SHARDS
    ShardFetcher(shards, tmp_path / "shards", progress=False).close()
    assert all((tmp_path / "shards" / s.name).read_bytes() == (repository / s.name).read_bytes() for s in shards)
