import collections
import itertools
import random
import threading
import time

import datasets
import pytest

from hfchat.data.stream import PretrainingStream, in_background, pack_documents

WORDS = "the cat sat on a mat and then ran to see the big red dog who was very happy today".split()


def make_documents(n=300, seed=0):
    rng = random.Random(seed)
    texts = [f"doc{i} " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 60))) for i in range(n)]
    return datasets.Dataset.from_dict({"text": texts})


@pytest.mark.parametrize("seed", range(5))
def test_packing_invariants(seed):
    rng = random.Random(seed)
    documents = [[0] + [rng.randint(1, 99) for _ in range(rng.randint(0, 40))] for _ in range(rng.randint(1, 60))]
    rows, dropped = pack_documents(documents, row_length=33)
    assert all(len(row) == 33 for row in rows)
    assert all(row[0] == 0 for row in rows)  # every row starts at a document start (BOS)
    assert sum(map(len, rows)) + dropped == sum(map(len, documents))
    # Each document appears whole or as a prefix, in at most one row.
    starts = collections.Counter(len(doc) for doc in documents)
    assert sum(row.count(0) for row in rows) <= sum(starts.values())


def test_packing_takes_the_best_fit_then_crops_the_shortest():
    rows, dropped = pack_documents([[0, 1, 2], [0, 3], [0, 4, 5, 6, 7], [0, 8]], row_length=4)
    # Row 1: the longest fitting document [0, 1, 2], then [0, 3] cropped to one token.
    # Row 2: [0, 8] fits, then nothing does: [0, 4, 5, 6, 7] is cropped to two tokens.
    assert rows == [[0, 1, 2, 0], [0, 8, 0, 4]]
    assert dropped == 1 + 3


def test_two_ranks_neither_lose_nor_repeat_a_token(tiny_tokenizer):
    documents = make_documents()
    kwargs = dict(seq_len=31, batch_size=1, block_size=16, seed=3, epochs=1)
    single = list(itertools.chain.from_iterable(
        b.tolist() for b in PretrainingStream(documents, tiny_tokenizer, world_size=1, **kwargs)
    ))  # fmt: skip
    shards = [
        [row for b in PretrainingStream(documents, tiny_tokenizer, rank=r, world_size=2, **kwargs) for row in b.tolist()]
        for r in range(2)
    ]
    assert shards[0] and shards[1]
    assert not set(map(tuple, shards[0])) & set(map(tuple, shards[1]))
    # Together the two ranks hand out exactly the rows one process would, each once.
    assert collections.Counter(map(tuple, shards[0] + shards[1])) == collections.Counter(map(tuple, single))
    # And those rows hold every document's tokens but the cropped ones.
    encoded = tiny_tokenizer(list(documents["text"]), add_special_tokens=False)["input_ids"]
    tokenized = [[tiny_tokenizer.bos_token_id, *ids] for ids in encoded]
    stream = PretrainingStream(documents, tiny_tokenizer, world_size=1, **kwargs)
    list(stream)
    assert sum(map(len, single)) + stream.cropped_tokens == sum(map(len, tokenized))


def test_order_is_deterministic_and_changes_with_the_seed(tiny_tokenizer):
    documents = make_documents()

    def first_batches(seed):
        stream = PretrainingStream(documents, tiny_tokenizer, seq_len=31, batch_size=4, block_size=32, seed=seed)
        return [b.tolist() for b in itertools.islice(stream, 5)]

    assert first_batches(1) == first_batches(1)
    assert first_batches(1) != first_batches(2)


@pytest.mark.parametrize("prefetch", [0, 5])
@pytest.mark.parametrize("stop_after", [1, 7, 23])
def test_resume_continues_on_exactly_the_next_batch(tiny_tokenizer, stop_after, prefetch):
    """With a background thread packing ahead too: the same batches, and the position is the consumer's."""
    documents = make_documents()
    kwargs = dict(seq_len=31, batch_size=3, block_size=16, seed=5, rank=1, world_size=2)
    reference = [b.tolist() for b in itertools.islice(PretrainingStream(documents, tiny_tokenizer, **kwargs), 40)]
    first = PretrainingStream(documents, tiny_tokenizer, prefetch=prefetch, **kwargs)
    consumed = [b.tolist() for b in itertools.islice(iter(first), stop_after)]
    resumed = PretrainingStream(documents, tiny_tokenizer, prefetch=prefetch, **kwargs)
    resumed.load_state_dict(first.state_dict())
    rest = [b.tolist() for b in itertools.islice(iter(resumed), 40 - stop_after)]
    assert consumed + rest == reference


def test_resume_with_another_world_size_is_refused(tiny_tokenizer):
    documents = make_documents()
    one = PretrainingStream(documents, tiny_tokenizer, seq_len=31, batch_size=2, world_size=1)
    two = PretrainingStream(documents, tiny_tokenizer, seq_len=31, batch_size=2, world_size=2)
    with pytest.raises(ValueError, match="world_size=1"):
        two.load_state_dict(one.state_dict())


def test_documents_without_text_column_are_refused(tiny_tokenizer):
    with pytest.raises(ValueError, match="'text' column"):
        PretrainingStream(datasets.Dataset.from_dict({"body": ["x"]}), tiny_tokenizer, seq_len=8, batch_size=1)


def test_a_streamed_source_is_sharded_and_resumed_like_a_map_style_one(tiny_tokenizer):
    streamed = make_documents().to_iterable_dataset()
    kwargs = dict(seq_len=31, batch_size=2, block_size=16, seed=3, shuffle_buffer=64)
    one = [row for b in PretrainingStream(streamed, tiny_tokenizer, epochs=1, **kwargs) for row in b.tolist()]
    shards = [
        [row for b in PretrainingStream(streamed, tiny_tokenizer, rank=r, world_size=2, epochs=1, **kwargs)
         for row in b.tolist()]
        for r in range(2)
    ]  # fmt: skip
    assert shards[0] and shards[1]
    # Batches of 2 may leave one row behind per process at the end of the epoch.
    assert len(one) - 2 <= len(shards[0]) + len(shards[1]) <= len(one)
    assert collections.Counter(map(tuple, shards[0] + shards[1])) <= collections.Counter(map(tuple, one))

    reference = [b.tolist() for b in itertools.islice(PretrainingStream(streamed, tiny_tokenizer, **kwargs), 30)]
    first = PretrainingStream(streamed, tiny_tokenizer, **kwargs)
    consumed = [b.tolist() for b in itertools.islice(iter(first), 11)]
    resumed = PretrainingStream(streamed, tiny_tokenizer, **kwargs)
    resumed.load_state_dict(first.state_dict())
    assert consumed + [b.tolist() for b in itertools.islice(iter(resumed), 19)] == reference


def wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time limit"
        time.sleep(0.01)


def stream_threads():
    return [t for t in threading.enumerate() if t.name == "hfchat-pretraining-stream"]


def test_the_background_thread_runs_ahead_up_to_its_depth_and_stops_with_the_consumer():
    produced = []

    def items():
        for i in itertools.count():
            produced.append(i)
            yield i

    consumer = in_background(items(), depth=4)
    assert next(consumer) == 0
    # Ahead of the consumer: 4 queued and one more waiting to be put.
    wait_for(lambda: len(produced) == 6)
    time.sleep(0.2)
    assert len(produced) == 6
    assert [next(consumer) for _ in range(3)] == [1, 2, 3]
    consumer.close()
    wait_for(lambda: not stream_threads())


def test_an_error_in_the_background_reaches_the_consumer_after_the_items_before_it(tiny_tokenizer):
    def items():
        yield from (1, 2)
        raise RuntimeError("the source broke")

    consumer = in_background(items(), depth=8)
    assert [next(consumer), next(consumer)] == [1, 2]
    with pytest.raises(RuntimeError, match="the source broke"):
        next(consumer)
    # And the stream's own error, from the thread that packs for it.
    few = datasets.Dataset.from_dict({"text": ["one story", "another story"]}).to_iterable_dataset()
    # Blocks of 4 documents from 2: the second process's first block is empty.
    stream = PretrainingStream(few, tiny_tokenizer, seq_len=8, batch_size=1, block_size=4, rank=1, world_size=2,
                               prefetch=2)
    with pytest.raises(ValueError, match="process 1 of 2 gets no documents"):
        next(iter(stream))
