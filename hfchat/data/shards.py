"""Only the parquet shards a run needs, fetched in parallel in the background, each process its own.

A Hub dataset such as ``HuggingFaceFW/fineweb-edu`` is stored as parquet shards of ~2 GB; its ``sample-100BT``
config is ~300 GB, while d20's 11.3B training tokens are about a ninth of it. Here:

1. `list_shards` resolves a dataset and config to its parquet files and their sizes, the way `datasets` does
   (``configs`` in the repository's README, or its folder layout): a Hub id, or a local folder laid out like one.
2. `bytes_per_token` reads the first shard and measures how many bytes of parquet hold one token of the tokenizer.
3. `select_shards` takes shards in the repository's order until they hold the token budget plus validation plus a
   margin (``DEFAULT_MARGIN``, 10%: the estimate comes from one shard), rounded up to a multiple of the number of
   processes; `shards_of_rank` deals them out round-robin, so ranks are disjoint and together hold the selection.
4. `ShardFetcher` fetches a list of shards with a pool of threads, in order, while the caller goes on
   (`ShardFetcher.path` waits for one shard only, so a reader can start on the first). A shard is written to
   ``<name>.incomplete`` and renamed once its size equals the listed size and its parquet footer reads; an
   interrupted run resumes from the bytes already there (Hub files through `huggingface_hub`'s own resumable
   download), and every failure is retried with backoff. A shard that is not a complete parquet file is refused
   with its name. A progress bar (shards, GB, ETA) on the main process.

Example (a local folder laid out like a Hub dataset repository):

    >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
    >>> repo = Path(tempfile.mkdtemp())
    >>> for i in range(4):
    ...     (repo / "data").mkdir(exist_ok=True)
    ...     pq.write_table(pa.table({"text": [f"document {i}.{j}" for j in range(50)]}), repo / f"data/{i:03d}.parquet")
    >>> shards = list_shards(str(repo))
    >>> [s.name for s in shards_of_rank(select_shards(shards, tokens=1, bytes_per_token=1.0, world_size=2), 1, 2)]
    ['data/001.parquet']
"""

from __future__ import annotations

import logging
import math
import os
import random
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import datasets
import pyarrow.parquet as pq
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

DEFAULT_MARGIN = 0.1
HUB_PREFIX = "hf://datasets/"
COPY_CHUNK = 8 * 1024 * 1024
SAMPLE_DOCUMENTS = 1000


@dataclass(frozen=True)
class Shard:
    """One parquet file of a dataset: ``url`` a local path or ``hf://datasets/<repo>@<revision>/<file>``."""

    url: str
    name: str  # the path inside the repository, which is also its path under a fetcher's folder
    size: int


def list_shards(path: str, name: str | None = None, split: str = "train") -> list[Shard]:
    """The parquet files of ``split`` of dataset ``path`` (Hub id or local folder), config ``name``, in order."""
    try:
        builder = datasets.load_dataset_builder(path, name)
    except Exception as error:
        raise ValueError(f"dataset {path!r} (config {name!r}): cannot list its files: {error}") from error
    files = (builder.config.data_files or {}).get(split)
    if not files:
        raise ValueError(f"dataset {path!r} (config {name!r}) has no {split!r} split; it has "
                         f"{sorted(builder.config.data_files or {})}")
    parquet = [str(f) for f in files if str(f).endswith(".parquet")]
    if len(parquet) != len(files):
        raise ValueError(f"dataset {path!r} (config {name!r}): split {split!r} is not all parquet files")
    if parquet[0].startswith(HUB_PREFIX):
        return _hub_shards(parquet)
    root = Path(path).expanduser().resolve()
    return [Shard(url=f, name=Path(f).resolve().relative_to(root).as_posix(), size=os.path.getsize(f))
            for f in parquet]


def _split_hub_url(url: str) -> tuple[str, str, str]:
    """``hf://datasets/owner/name@rev/a/b.parquet`` -> (``owner/name``, ``rev``, ``a/b.parquet``)."""
    parts = url[len(HUB_PREFIX):].split("/")
    owner, name_and_revision, filename = parts[0], parts[1], "/".join(parts[2:])
    name, _, revision = name_and_revision.partition("@")
    return f"{owner}/{name}", revision or "main", filename


def _hub_shards(urls: list[str]) -> list[Shard]:
    from huggingface_hub import HfApi

    repo, revision, _ = _split_hub_url(urls[0])
    names = [_split_hub_url(url)[2] for url in urls]
    sizes = {info.path: info.size for info in HfApi().get_paths_info(repo, names, repo_type="dataset",
                                                                      revision=revision)}
    return [Shard(url=url, name=n, size=sizes[n]) for url, n in zip(urls, names)]


def bytes_per_token(shard_path: str | os.PathLike, tokenizer, column: str = "text",
                    sample_documents: int = SAMPLE_DOCUMENTS) -> float:
    """Bytes of this parquet file per token: its first ``sample_documents`` texts tokenised, scaled to all rows."""
    parquet = pq.ParquetFile(shard_path)
    rows = parquet.metadata.num_rows
    batch = next(parquet.iter_batches(batch_size=min(sample_documents, rows), columns=[column]))
    texts = batch.column(column).to_pylist()
    tokens = sum(len(ids) + 1 for ids in tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"])
    return os.path.getsize(shard_path) / (tokens / len(texts) * rows)


def select_shards(shards: Sequence[Shard], tokens: int, bytes_per_token: float, world_size: int = 1,
                  margin: float = DEFAULT_MARGIN) -> list[Shard]:
    """The first shards that hold ``tokens`` (training plus validation) with ``margin`` more, every process the same
    number of them; all of them if even that is not enough (a warning says how many tokens they hold)."""
    needed, held, count = tokens * (1 + margin), 0.0, 0
    for shard in shards:
        if held >= needed:
            break
        held += shard.size / bytes_per_token
        count += 1
    count = min(len(shards), math.ceil(count / world_size) * world_size)
    if held < needed:
        logger.warning("the %d shards hold about %.3g tokens, below the %.3g asked for (margin included): the run "
                       "repeats them", len(shards), held, needed)
    if count < world_size:
        raise ValueError(f"{len(shards)} shard(s) cannot feed {world_size} processes (one shard each at least)")
    return list(shards[:count])


def shards_of_rank(shards: Sequence[Shard], rank: int, world_size: int) -> list[Shard]:
    """Process ``rank``'s shards: every ``world_size``-th, starting at ``rank``."""
    return list(shards[rank::world_size])


def check_parquet(path: Path, shard: Shard) -> None:
    """Refuse a file that is not the whole shard: wrong size, or a parquet footer that does not read."""
    size = path.stat().st_size
    if size != shard.size:
        raise ValueError(f"shard {shard.name}: {size:,} bytes, the dataset lists {shard.size:,}")
    try:
        pq.ParquetFile(path).metadata
    except Exception as error:
        raise ValueError(f"shard {shard.name} is not a complete parquet file: {error}") from error


class ShardFetcher:
    """Fetch ``shards`` into ``folder`` with ``workers`` threads, in order, starting at once.

    ``path(i)`` waits for shard ``i`` only and returns its local path; ``close()`` waits for the rest. A shard
    already complete in ``folder`` (size and footer checked) is not fetched again.
    """

    def __init__(self, shards: Sequence[Shard], folder: str | os.PathLike, *, workers: int = 8, retries: int = 5,
                 backoff: float = 1.0, progress: bool = True,
                 opener: Callable[[str], object] | None = None):
        self.shards = list(shards)
        self.folder = Path(folder)
        self.retries, self.backoff = retries, backoff
        self.opener = opener or (lambda url: open(url, "rb"))  # local sources; tests pass failing ones
        self.fetched_bytes = 0  # bytes read from the sources by this fetcher (a resumed shard only its rest)
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        total = sum(s.size for s in self.shards)
        self._progress = tqdm(total=total, unit="B", unit_scale=True, disable=not progress, dynamic_ncols=True,
                              desc=f"shards 0/{len(self.shards)}")
        self._done = 0
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hfchat-shards")
        self._futures: list[Future] = [self._pool.submit(self._fetch, shard) for shard in self.shards]

    def path(self, index: int) -> Path:
        return self._futures[index].result()

    def cancel(self) -> None:
        """Stop: shards not started are not fetched, a copy under way stops at its next chunk (kept to resume)."""
        self._cancelled.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._progress.close()

    def close(self) -> list[Path]:
        try:
            paths = [future.result() for future in self._futures]
            shutil.rmtree(self.folder / ".download", ignore_errors=True)  # huggingface_hub's partial files
            return paths
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._progress.close()

    def _fetch(self, shard: Shard) -> Path:
        target = self.folder / shard.name
        for attempt in range(self.retries + 1):
            try:
                if target.is_file():
                    try:
                        check_parquet(target, shard)
                        self._count(shard.size)  # there already: progress, not fetched
                        break
                    except ValueError:
                        target.unlink()  # a stale or damaged copy: fetched again
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(target.name + ".incomplete")
                if shard.url.startswith(HUB_PREFIX):
                    self._download(shard, partial)
                else:
                    self._copy(shard, partial, count_present=attempt == 0)
                check_parquet(partial, shard)
                partial.replace(target)
                break
            except ValueError:
                target.with_name(target.name + ".incomplete").unlink(missing_ok=True)
                if attempt == self.retries or not shard.url.startswith(HUB_PREFIX):
                    raise  # a local source stays as it is: no use trying again
            except OSError as error:
                if attempt == self.retries:
                    raise OSError(f"shard {shard.name}: {error} (after {attempt + 1} attempts)") from error
            logger.warning("shard %s: attempt %d failed, retrying", shard.name, attempt + 1)
            time.sleep(self.backoff * 2**attempt)
        with self._lock:
            self._done += 1
            self._progress.set_description(f"shards {self._done}/{len(self.shards)}")
        return target

    def _copy(self, shard: Shard, partial: Path, count_present: bool) -> None:
        """Copy from a local source, appending to what an interrupted copy left (if not already too long); the bytes
        already there go into the progress bar on the first attempt (later ones counted them as they came)."""
        start = partial.stat().st_size if partial.is_file() else 0
        if start > shard.size:
            partial.unlink()
            start = 0
        with self.opener(shard.url) as source, open(partial, "ab") as out:
            source.seek(start)
            if count_present:
                self._count(start)
            while chunk := source.read(COPY_CHUNK):
                if self._cancelled.is_set():
                    raise CancelledError(f"shard {shard.name}: fetch cancelled")
                out.write(chunk)
                self._count(len(chunk), read=True)

    def _download(self, shard: Shard, partial: Path) -> None:
        from huggingface_hub import hf_hub_download

        repo, revision, filename = _split_hub_url(shard.url)
        # huggingface_hub resumes its own partial file under <folder>/.cache and checks the download.
        downloaded = hf_hub_download(repo, filename, repo_type="dataset", revision=revision,
                                     local_dir=self.folder / ".download")
        shutil.move(downloaded, partial)
        self._count(shard.size, read=True)

    def _count(self, size: int, read: bool = False) -> None:
        with self._lock:
            self._progress.update(size)
            if read:
                self.fetched_bytes += size


def fetch_for_budget(path: str, name: str | None, folder: str | os.PathLike, tokens: int, tokenizer, *,
                     split: str = "train", column: str = "text", world_size: int = 1, rank: int | None = None,
                     margin: float = DEFAULT_MARGIN, workers: int = 8, progress: bool = True) -> dict:
    """List, measure, select and fetch: the first shard, then the shards ``tokens`` need (``rank``'s share of them
    when given, else all), into ``folder``. Returns what was selected and fetched."""
    shards = list_shards(path, name, split)
    first = ShardFetcher(shards[:1], folder, workers=1, progress=False)
    measured = bytes_per_token(first.close()[0], tokenizer, column)
    selection = select_shards(shards, tokens, measured, world_size, margin)
    wanted = selection if rank is None else shards_of_rank(selection, rank, world_size)
    fetcher = ShardFetcher(wanted, folder, workers=workers, progress=progress)
    fetcher.close()
    return {"dataset": path, "name": name, "shards": len(shards), "selected": len(selection), "fetched": len(wanted),
            "bytes_per_token": measured, "selected_bytes": sum(s.size for s in selection),
            "fetched_bytes": sum(s.size for s in wanted), "all_bytes": sum(s.size for s in shards),
            "estimated_tokens": sum(s.size for s in selection) / measured, "tokens_asked": tokens, "margin": margin,
            "folder": str(folder)}


class ShardedDocuments:
    """One process's documents: its shards in the fetcher's order, read a block at a time as each one arrives.

    `PretrainingStream` asks for ``block(epoch, index, size)``: documents ``index * size`` onwards of the epoch's
    order, which is the fetch order in epoch 0 (so training starts on the first shard while the rest arrive) and a
    seeded permutation of the shards after. Only the row groups a block needs are read. ``skip`` leaves out the first
    rows of named shards (the validation documents).
    """

    def __init__(self, fetcher: ShardFetcher, column: str = "text", skip: dict[str, int] | None = None,
                 seed: int = 0):
        self.fetcher, self.column, self.seed = fetcher, column, seed
        self.column_names = ["text"]
        self._skip = [(skip or {}).get(shard.name, 0) for shard in fetcher.shards]
        self._files: dict[int, pq.ParquetFile] = {}
        self._group: tuple[int, int, list[str]] | None = None  # the last row group read

    def _file(self, index: int) -> pq.ParquetFile:
        if index not in self._files:
            self._files[index] = pq.ParquetFile(self.fetcher.path(index))  # waits for that shard only
        return self._files[index]

    def _rows(self, index: int) -> int:
        return self._file(index).metadata.num_rows - self._skip[index]

    def _texts(self, index: int, start: int, count: int) -> list[str]:
        """``count`` texts (or fewer, at the shard's end) from row ``start`` of shard ``index`` after its skip."""
        parquet, texts = self._file(index), []
        row, first = 0, start + self._skip[index]
        for group in range(parquet.metadata.num_row_groups):
            rows = parquet.metadata.row_group(group).num_rows
            if row + rows > first and len(texts) < count:
                if self._group is None or self._group[:2] != (index, group):
                    values = parquet.read_row_group(group, columns=[self.column]).column(self.column).to_pylist()
                    self._group = (index, group, values)
                values = self._group[2]
                texts += values[max(0, first - row) : max(0, first - row) + count - len(texts)]
            row += rows
        return texts

    def block(self, epoch: int, index: int, size: int) -> list[str]:
        order = list(range(len(self.fetcher.shards)))
        if epoch > 0:
            random.Random(self.seed + epoch).shuffle(order)
        start, texts = index * size, []
        for shard in order:
            rows = self._rows(shard)
            if start >= rows:
                start -= rows
                continue
            texts += self._texts(shard, start, size - len(texts))
            start = 0
            if len(texts) == size:
                break
        return texts


class FetchedSource:
    """A pretraining source fetched for the run (`PretrainConfig.fetch_shards_to`): its first shard first, for the
    tokenizer, the validation documents and the bytes per token; then the shards the budget needs, each process its
    own share, fetched in the background while it trains on them."""

    def __init__(self, path: str, name: str | None, split: str, column: str, folder: str | os.PathLike):
        self.shards = list_shards(path, name, split)
        self.column, self.folder = column, Path(folder)

    @property
    def first_path(self) -> Path:
        return self.folder / self.shards[0].name

    def fetch_first(self) -> Path:
        return ShardFetcher(self.shards[:1], self.folder, workers=1, progress=False).close()[0]

    def first_rows(self) -> int:
        return pq.ParquetFile(self.first_path).metadata.num_rows

    def first_texts(self, start: int = 0, stop: int | None = None):
        """Texts ``start`` to ``stop`` of the first shard, read a row group at a time."""
        row = 0
        for batch in pq.ParquetFile(self.first_path).iter_batches(columns=[self.column]):
            for text in batch.column(self.column).to_pylist():
                if stop is not None and row >= stop:
                    return
                if row >= start:
                    yield text
                row += 1

    def documents(self, tokenizer, tokens: int, rank: int, world_size: int, held_out: int, *, seed: int = 0,
                  progress: bool = True, margin: float = DEFAULT_MARGIN) -> ShardedDocuments:
        measured = bytes_per_token(self.first_path, tokenizer, self.column)
        selection = select_shards(self.shards, tokens, measured, world_size, margin)
        mine = shards_of_rank(selection, rank, world_size)
        logger.info("fetching %d of %d shards for about %.3g tokens (%.3f bytes per token, +%d%%); %d for each of %d "
                    "processes", len(selection), len(self.shards), tokens, measured, round(margin * 100), len(mine),
                    world_size)
        fetcher = ShardFetcher(mine, self.folder, progress=progress)
        return ShardedDocuments(fetcher, self.column, skip={self.shards[0].name: held_out}, seed=seed)
