"""The pretraining stream: documents -> tokens -> BOS-aligned packed rows, sharded over processes, resumable.

How it works, from a document source with a ``text`` column (a `datasets.Dataset`, an `IterableDataset` streamed
from the Hub or local files, or `ShardedDocuments`: this process's own parquet shards as they arrive, whose blocks
are all this process's, in the order `hfchat.data.shards` gives them):

1. Each epoch the documents are shuffled with ``seed + epoch`` (a streamed source through a shuffle buffer) and cut
   into *blocks* of ``block_size`` documents. Block ``b`` belongs to process ``b % world_size``, so no two processes
   train on the same document and each only tokenises its own share (with a streamed source every process reads
   the stream and skips the other processes' blocks).
2. A block is tokenised in batches with the fast tokenizer, every document prefixed with BOS, and packed into rows
   of ``seq_len + 1`` tokens by best fit (`pack_documents`): each row starts at a document boundary, holds no padding,
   and is filled with the largest documents that still fit; when none fits, the shortest remaining document is cropped
   to fill the row and its tail is dropped. What is dropped (the cropped tails and the block's last, incomplete row)
   is counted in ``cropped_tokens``.
3. Rows of a block are shuffled with a seeded generator and handed out ``batch_size`` at a time; with ``epochs``
   set, the stream ends after that many passes (a last incomplete batch is not returned).
4. With ``prefetch`` set, a background thread does steps 1-3 up to that many batches ahead of the consumer (with
   its own copy of the tokenizer), so that the training step does not wait for tokenisation; the batches and their
   order are the same.

The position (epoch, block, rows already taken from it) is all it takes to resume on exactly the next batch: the
block is re-tokenised and re-packed identically and the rows already used are skipped. Save it with `state_dict`.
"""

import collections
import copy
import itertools
import queue
import random
import threading
from collections.abc import Iterator

import datasets
import torch

from .shards import ShardedDocuments


def pack_documents(documents: list[list[int]], row_length: int) -> tuple[list[list[int]], int]:
    """Pack token lists into rows of exactly ``row_length`` tokens, each starting at a document start.

    Best fit: fill each row with the longest document that fits the space left; when none fits, crop the shortest
    one to the space left (its tail is dropped). A final row that cannot be filled is dropped too.
    Returns the rows and the number of tokens dropped.

    >>> pack_documents([[1, 2, 3], [1, 4], [1, 5, 6, 7, 8]], row_length=4)
    ([[1, 2, 3, 1], [1, 5, 6, 7]], 2)
    """
    pending = sorted(documents, key=len)  # ascending: the best fit is the last one that fits
    rows, dropped = [], 0
    while pending:
        row: list[int] = []
        while len(row) < row_length and pending:
            space = row_length - len(row)
            index = _last_fitting(pending, space)
            if index is None:  # nothing fits: crop the shortest document to the space left
                document = pending.pop(0)
                row.extend(document[:space])
                dropped += len(document) - space
            else:
                row.extend(pending.pop(index))
        if len(row) == row_length:
            rows.append(row)
        else:
            dropped += len(row)
    return rows, dropped


def _last_fitting(sorted_documents: list[list[int]], space: int) -> int | None:
    """Index of the longest document no longer than ``space`` in an ascending list (binary search)."""
    lo, hi = 0, len(sorted_documents)
    while lo < hi:
        mid = (lo + hi) // 2
        if len(sorted_documents[mid]) <= space:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1 if lo > 0 else None


class PretrainingStream:
    """Batches of packed rows, shape ``(batch_size, seq_len + 1)``, for one process of ``world_size``.

    Example:
        >>> from hfchat import train_tokenizer
        >>> texts = ["a story about a cat", "the dog ran home", "one two three"] * 40
        >>> tok = train_tokenizer(texts, vocab_size=300)
        >>> docs = datasets.Dataset.from_dict({"text": texts})
        >>> stream = PretrainingStream(docs, tok, seq_len=16, batch_size=2, block_size=32)
        >>> next(iter(stream)).shape
        torch.Size([2, 17])
    """

    def __init__(
        self,
        documents: "datasets.Dataset | datasets.IterableDataset | ShardedDocuments",
        tokenizer,
        seq_len: int,
        batch_size: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        block_size: int = 1024,
        tokenize_batch_size: int = 256,
        epochs: int | None = None,
        shuffle_buffer: int = 10_000,
        prefetch: int = 0,
    ):
        columns = documents.column_names
        if columns is not None and "text" not in columns:
            raise ValueError(f"PretrainingStream: documents need a 'text' column, they have {columns}")
        if tokenizer.bos_token_id is None:
            raise ValueError("PretrainingStream: the tokenizer has no BOS token to mark document starts")
        self.streamed = isinstance(documents, datasets.IterableDataset)
        if isinstance(documents, datasets.Dataset):
            if len(documents) < world_size:
                raise ValueError(f"PretrainingStream: {len(documents)} documents cannot feed {world_size} processes")
            # Small data sets get smaller blocks so that every process still receives some.
            block_size = max(1, min(block_size, len(documents) // world_size))
        self.documents = documents
        self.tokenizer = tokenizer
        self.row_length = seq_len + 1
        self.batch_size = batch_size
        self.rank, self.world_size = rank, world_size
        self.seed = seed
        self.block_size = block_size
        self.shuffle_buffer = shuffle_buffer
        self.tokenize_batch_size = tokenize_batch_size
        self.epochs = epochs  # None: cycle forever (training); 1: one pass (evaluation)
        self.prefetch = prefetch  # batches a background thread packs ahead; 0: none, all in the caller's thread
        self.epoch, self.block, self.rows_taken = 0, rank, 0
        self.tokens_seen = 0
        self.cropped_tokens = 0
        self._shuffled: tuple[int, datasets.Dataset] | None = None
        self._cursor: list | None = None  # streamed source: [epoch, position, iterator]

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "block": self.block,
            "rows_taken": self.rows_taken,
            "rank": self.rank,
            "world_size": self.world_size,
            "seed": self.seed,
            "block_size": self.block_size,
            "row_length": self.row_length,
            "tokens_seen": self.tokens_seen,
            "cropped_tokens": self.cropped_tokens,
        }

    def load_state_dict(self, state: dict) -> None:
        for key in ("rank", "world_size", "seed", "block_size", "row_length"):
            if state[key] != getattr(self, key):
                raise ValueError(
                    f"cannot resume the data stream: the checkpoint has {key}={state[key]}, this run "
                    f"{getattr(self, key)} (resume with the same number of processes, seed, seq_len and block_size)"
                )
        self.epoch, self.block, self.rows_taken = state["epoch"], state["block"], state["rows_taken"]
        self.tokens_seen, self.cropped_tokens = state["tokens_seen"], state["cropped_tokens"]

    def _block_texts(self, epoch: int, block: int) -> list[str]:
        """The texts of one block of the epoch's order; empty once the epoch has no more documents."""
        start = block * self.block_size
        if self.streamed:
            return self._streamed_block(epoch, start)
        if not isinstance(self.documents, datasets.Dataset):  # this process's own shards: its blocks are all its
            return self.documents.block(epoch, block // self.world_size, self.block_size)
        if self._shuffled is None or self._shuffled[0] != epoch:
            self._shuffled = (epoch, self.documents.shuffle(seed=self.seed + epoch))
        return self._shuffled[1][start : start + self.block_size]["text"]

    def _streamed_block(self, epoch: int, start: int) -> list[str]:
        # One forward pass per epoch; a resume (or a new epoch) opens a new pass skipped to the block.
        if self._cursor is None or self._cursor[0] != epoch or self._cursor[1] > start:
            shuffled = self.documents.shuffle(seed=self.seed + epoch, buffer_size=self.shuffle_buffer)
            self._cursor = [epoch, start, iter(shuffled.skip(start))]
        _, position, iterator = self._cursor
        collections.deque(itertools.islice(iterator, start - position), maxlen=0)  # other processes' blocks
        texts = [row["text"] for row in itertools.islice(iterator, self.block_size)]
        self._cursor[1] = start + len(texts)
        return texts

    def _pack(self, tokenizer, texts: list[str], epoch: int, block: int) -> tuple[list[list[int]], int]:
        bos = tokenizer.bos_token_id
        tokenized = []
        for i in range(0, len(texts), self.tokenize_batch_size):
            batch = texts[i : i + self.tokenize_batch_size]
            encoded = tokenizer(batch, add_special_tokens=False, verbose=False)["input_ids"]  # no length warning
            tokenized.extend([bos, *ids] for ids in encoded)
        rows, dropped = pack_documents(tokenized, self.row_length)
        random.Random(f"{self.seed}-{epoch}-{block}").shuffle(rows)
        return rows, dropped

    def __iter__(self) -> Iterator[torch.Tensor]:
        """Batches; after each one, the attributes of `state_dict` (epoch, block, rows taken, ...) are the position
        right after it, also while a background thread (``prefetch``) has already packed batches further on."""
        batches = self._batches(copy.deepcopy(self.tokenizer) if self.prefetch else self.tokenizer)
        if self.prefetch:
            batches = in_background(batches, self.prefetch)
        try:
            for batch, position in batches:
                self.epoch, self.block, self.rows_taken, self.tokens_seen, self.cropped_tokens = position
                yield batch
        finally:
            batches.close()  # stops and joins the background thread

    def _batches(self, tokenizer) -> Iterator[tuple[torch.Tensor, tuple[int, int, int, int, int]]]:
        """Each batch with the stream's position after it: all the iteration's state is in this generator's locals,
        so it may run ahead in another thread (with its own ``tokenizer``) without moving the position."""
        epoch, block, rows_taken = self.epoch, self.block, self.rows_taken
        tokens_seen, cropped_tokens = self.tokens_seen, self.cropped_tokens
        batch: list[list[int]] = []
        while self.epochs is None or epoch < self.epochs:
            texts = self._block_texts(epoch, block)
            if not texts:  # this process has no more blocks in the epoch
                if block == self.rank:  # nor had any: with no epoch limit this would spin forever
                    if self.epochs is not None:
                        return
                    raise ValueError(
                        f"PretrainingStream: process {self.rank} of {self.world_size} gets no documents: the source "
                        f"has fewer than {self.rank + 1} blocks of block_size={self.block_size}; use a smaller block_size"
                    )
                epoch, block, rows_taken = epoch + 1, self.rank, 0
                continue
            rows, dropped = self._pack(tokenizer, texts, epoch, block)
            if rows_taken == 0:
                cropped_tokens += dropped
            for row in rows[rows_taken:]:
                batch.append(row)
                rows_taken += 1
                if len(batch) == self.batch_size:
                    tokens_seen += self.batch_size * self.row_length
                    yield torch.tensor(batch, dtype=torch.long), (epoch, block, rows_taken, tokens_seen, cropped_tokens)
                    batch = []
            block += self.world_size
            rows_taken = 0


def in_background(items: Iterator, depth: int) -> Iterator:
    """``items`` produced by a thread up to ``depth`` ahead of the consumer; the thread's exception is raised here.

    The thread stops, and is joined, when the consumer stops iterating (or closes this generator), and when the
    interpreter exits: it is not a daemon, since a daemon thread still inside `tokenizers`' Rust code when the
    interpreter finalizes aborts the process. (`tokenizers` releases the GIL while it encodes.)"""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop, end = threading.Event(), object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(end)
        except BaseException as error:  # handed to the consumer, which raises it
            put(error)

    thread = threading.Thread(target=produce, name="hfchat-pretraining-stream")
    threading._register_atexit(stop.set)  # before non-daemon threads are joined at exit (as concurrent.futures does)
    thread.start()
    try:
        while (item := ready.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
