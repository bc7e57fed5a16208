"""Runnable example applications; each one runs with ``python -m examples.<name>``."""
