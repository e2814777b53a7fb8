"""Accuracy centred on a random baseline: (accuracy - baseline) / (1 - baseline), so that guessing scores 0 and a
perfect score 1, as DCLM's CORE and nanochat's ChatCORE report tasks with different numbers of choices."""

import datasets
import evaluate

from hfchat.evaluation.scoring import centered

_DESCRIPTION = __doc__
_KWARGS = """
Args:
    predictions (list of int): predicted labels.
    references (list of int): gold labels.
    random_baseline (float): the accuracy of guessing, 0-1 (e.g. 0.25 for four choices).
Returns:
    dict: ``accuracy`` and ``centered_accuracy``.
Example:
    >>> metric = evaluate.load("hfchat/evaluation/metrics/centered_accuracy/centered_accuracy.py")
    >>> scores = metric.compute(predictions=[0, 1, 2, 0], references=[0, 1, 2, 3], random_baseline=0.25)
    >>> {name: round(value, 3) for name, value in scores.items()}
    {'accuracy': 0.75, 'centered_accuracy': 0.667}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class CenteredAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("int64"),
                                        "references": datasets.Value("int64")}))

    def _compute(self, predictions, references, random_baseline):
        if not 0 <= random_baseline < 1:
            raise ValueError(f"random_baseline must be in [0, 1), got {random_baseline}")
        accuracy = sum(p == r for p, r in zip(predictions, references)) / max(len(references), 1)
        return {"accuracy": accuracy, "centered_accuracy": centered(accuracy, random_baseline)}
