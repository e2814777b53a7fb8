"""hfchat's metrics as local `evaluate` modules, loadable offline (Hub-hosted metric scripts are not):

>>> from hfchat.evaluation import metrics
>>> round(metrics.load("pass_at_k").compute(correct=[3, 0], samples=[10, 10], k=[1])["pass@1"], 6)
0.15

- ``pass_at_k``: the unbiased pass@k estimate from per-problem sample and pass counts;
- ``bits_per_byte``: bits per byte, loss and perplexity from per-chunk summed nats, bytes and tokens;
- ``centered_accuracy``: accuracy and accuracy centred on a random baseline (CORE, ChatCORE).

Each module's arithmetic is `hfchat.evaluation.scoring` / `language_modeling.summarize`, the functions the
``hfchat eval`` tasks use, so a metric module and ``results.json`` agree.
"""

from pathlib import Path

METRICS_DIR = Path(__file__).resolve().parent
NAMES = ("pass_at_k", "bits_per_byte", "centered_accuracy")


def path(name: str) -> str:
    """The script path to hand to `evaluate.load` (``evaluate.load(path("pass_at_k"))``)."""
    if name not in NAMES:
        raise ValueError(f"unknown hfchat metric {name!r}; choose from {', '.join(NAMES)}")
    return str(METRICS_DIR / name / f"{name}.py")


def load(name: str):
    """`evaluate.load` of one of hfchat's metric modules."""
    import evaluate

    return evaluate.load(path(name))
