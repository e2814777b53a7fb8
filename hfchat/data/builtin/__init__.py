"""Small built-in English datasets, generated on the fly by the seeded code in this package.

Five datasets let every stage of hfchat run offline, with nothing downloaded:

- ``stories`` (column ``text``; splits ``train``, ``validation``): short children's stories in the spirit of
  TinyStories (a hero, a problem, its resolution, often a moral; dialogue in quotes), plus one document in five of
  simple facts (animals, colours, sums with correct results, counting stories worked out as "3 + 4 = 7.").
  22,000 documents, about 14 MB of text (about 3.4 million tokens for a 4k BPE) in ``train``; 220 in
  ``validation``.
- ``chat`` (column ``messages``; ``train`` 20,000, ``test`` 500): one to three user turns of small talk, questions
  about the stories' world, story requests, identity questions ("Who made you?", answered from ``identity``), and
  arithmetic answered through a ``calculator`` tool call and its result.
- ``preference`` (``prompt``, ``chosen``, ``rejected``; 10,000 / 500): TRL's conversational preference format for
  DPO; the rejected reply has a wrong result, is off-topic or rude, or tells a story about something else.
- ``math`` (``prompt``, ``solution``, ``answer``; 10,000 / 500): first-grade addition and subtraction within 10,
  bare and as word problems, for SFT, GRPO and accuracy evals; ``solution`` is the worked sum ("7 - 3 = 4.") for
  about a third of the problems and empty for the rest.
- ``multiple_choice`` (``question``, ``choices``, ``answer``: MMLU's schema; 5,000 / 500): "Which of these is a
  number?", a number among three words (colours, animals, toys), the answer at any letter; for SFT rows trained on
  the bare letter and the ``accuracy`` that ARC and MMLU report (``--task-data mmlu=builtin:multiple_choice`` with
  the ``test`` split).

Nothing comes from an external source: the word lists (words.py) and templates (plots.yaml, the story arcs, and
the modules) are written here and combined by ``random.Random`` instances with fixed seeds, so every machine builds
the same rows in the same order (in a few seconds; each split is built once per process). Held-out splits use their own seeds and leave out anything train has.
The data is licensed like the project, Apache-2.0.

Example:
    >>> from hfchat.data.builtin import builtin_dataset
    >>> ds = builtin_dataset("math", "test")
    >>> ds.column_names
    ['prompt', 'solution', 'answer']
    >>> builtin_dataset("stories", "validation")[0]["text"][:29]
    'Once upon a time, there was a'
"""

from .builder import BUILTIN_NAMES, builtin_dataset, builtin_splits
from .chat import CALCULATOR_TOOL, DEFAULT_IDENTITY

__all__ = ["BUILTIN_NAMES", "CALCULATOR_TOOL", "DEFAULT_IDENTITY", "builtin_dataset", "builtin_splits"]
