"""Evaluation: language-modelling metrics (loss, perplexity, bits per byte) and, later, task suites."""
