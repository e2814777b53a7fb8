"""Small scoring helpers shared by the tasks, the runner and the `evaluate` metric modules.

Every task turns its items into per-item detail dicts; its metrics are computed from those dicts alone, so the
same numbers come out whether one process ran every item or several processes each ran a shard and the details
were gathered.

>>> round(pass_at_k(n=10, correct=3, k=1), 3), round(pass_at_k(n=10, correct=3, k=5), 3)
(0.3, 0.917)
>>> centered(0.625, 0.25)
0.5
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

PASS_AT_K = (1, 5, 10, 20, 50, 100)


def shard_of(items: Sequence, shard: tuple[int, int] | None) -> list:
    """The ``index``-th of ``count`` contiguous, nearly equal slices of ``items`` (all of them for None), so that
    concatenating the shards in process order gives back the items in order."""
    items = list(items)
    if shard is None:
        return items
    index, count = shard
    size, extra = divmod(len(items), count)
    start = index * size + min(index, extra)
    return items[start:start + size + (index < extra)]


def shard_seed(shard: tuple[int, int] | None) -> int:
    """A sampling seed of its own for each shard (0 for a single process)."""
    return shard[0] * 1_000_003 if shard else 0


def means(details: Sequence[Mapping], fields: Mapping[str, str]) -> dict[str, float]:
    """``{metric: mean of detail[field]}`` for each ``metric: field`` (0.0 over no items)."""
    n = max(len(details), 1)
    return {metric: sum(float(d[field]) for d in details) / n for metric, field in fields.items()}


def pass_at_k(n: int, correct: int, k: int) -> float:
    """The unbiased estimate of pass@k from ``n`` samples of which ``correct`` pass (Chen et al., 2021):
    1 - C(n - c, k) / C(n, k)."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per problem, got {n}")
    if n - correct < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - correct + 1, n + 1))


def pass_at_k_metrics(details: Sequence[Mapping]) -> dict[str, float]:
    """``pass@k`` for every k in `PASS_AT_K` that all items have samples for; details hold ``samples`` and
    ``correct``."""
    if not details:
        return {"pass@1": 0.0}
    fewest = min(int(d["samples"]) for d in details)
    return {f"pass@{k}": sum(pass_at_k(int(d["samples"]), int(d["correct"]), k) for d in details) / len(details)
            for k in PASS_AT_K if k <= fewest}


def centered(value: float, baseline: float) -> float:
    """Accuracy rescaled so that guessing scores 0 and a perfect score 1: (value - baseline) / (1 - baseline)."""
    return (value - baseline) / (1.0 - baseline)


def stderr(value: float, scores: Sequence) -> float | None:
    """Standard error of a 0-1 mean (binomial), else of the mean of the items' numeric scores."""
    if 0 <= value <= 1:
        return math.sqrt(value * (1 - value) / max(len(scores), 1))
    numbers = [float(x) for x in scores if isinstance(x, (int, float))]
    if len(numbers) < 2:
        return None
    mean = sum(numbers) / len(numbers)
    return math.sqrt(sum((x - mean) ** 2 for x in numbers) / (len(numbers) - 1) / len(numbers))
