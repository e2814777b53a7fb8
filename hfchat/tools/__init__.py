"""Tools the model can use and the sandbox they run in (shared by inference and evaluation)."""
