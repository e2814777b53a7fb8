"""Data: named text sources (hub ids, local files, `builtin:` sets shipped in the package) and the pretraining stream."""
