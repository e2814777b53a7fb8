"""pass@k: the unbiased estimate (Chen et al., 2021, "Evaluating Large Language Models Trained on Code") of the chance
that at least one of k samples passes, from n samples per problem of which c pass, averaged over problems."""

import datasets
import evaluate

from hfchat.evaluation.scoring import pass_at_k

_DESCRIPTION = __doc__
_KWARGS = """
Args:
    correct (list of int): how many samples of each problem pass.
    samples (list of int): how many samples each problem has.
    k (list of int, default [1, 10]): the k values to report; each at most the smallest sample count.
Returns:
    dict: ``{"pass@k": value}`` for each k.
Example:
    >>> metric = evaluate.load("hfchat/evaluation/metrics/pass_at_k/pass_at_k.py")
    >>> scores = metric.compute(correct=[3, 0], samples=[10, 10], k=[1, 5])
    >>> {name: round(value, 3) for name, value in scores.items()}
    {'pass@1': 0.15, 'pass@5': 0.458}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class PassAtK(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_KWARGS,
            features=datasets.Features({"correct": datasets.Value("int64"), "samples": datasets.Value("int64")}))

    def _compute(self, correct, samples, k=(1, 10)):
        for c, n in zip(correct, samples):
            if not 0 <= c <= n:
                raise ValueError(f"correct must be between 0 and samples, got correct={c}, samples={n}")
        return {f"pass@{kk}": sum(pass_at_k(n, c, kk) for c, n in zip(correct, samples)) / max(len(correct), 1)
                for kk in k}
