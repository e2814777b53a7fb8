"""Bits per byte: the summed cross-entropy (nats) over a text, in bits, divided by its UTF-8 bytes; with the mean
loss per token and the perplexity. Inputs are per-chunk sums, so chunks scored apart (batches, processes) add up."""

import datasets
import evaluate

from hfchat.evaluation.language_modeling import summarize

_DESCRIPTION = __doc__
_KWARGS = """
Args:
    nats (list of float): summed cross-entropy of each chunk's predicted tokens, in nats.
    bytes (list of int): UTF-8 bytes of each chunk's predicted tokens (special tokens count 0).
    tokens (list of int): predicted tokens in each chunk.
Returns:
    dict: ``bits_per_byte``, ``loss`` (nats per token), ``perplexity``.
Example:
    >>> metric = evaluate.load("hfchat/evaluation/metrics/bits_per_byte/bits_per_byte.py")
    >>> round(metric.compute(nats=[693.147], bytes=[1000], tokens=[250])["bits_per_byte"], 4)
    1.0
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class BitsPerByte(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_KWARGS,
            features=datasets.Features({"nats": datasets.Value("float64"), "bytes": datasets.Value("int64"),
                                        "tokens": datasets.Value("int64")}))

    def _compute(self, nats, bytes, tokens):
        summary = summarize(sum(nats), sum(bytes), sum(tokens))
        return {key: summary[key] for key in ("bits_per_byte", "loss", "perplexity")}
