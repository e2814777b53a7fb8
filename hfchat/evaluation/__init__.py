"""Evaluation: the tasks of `hfchat eval` (`runner.TASKS`; what is known about each in `registry`), language-modelling
metrics, CORE, the chat and cloze benchmarks, and lm-eval / lighteval task definitions for comparison."""
