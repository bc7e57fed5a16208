"""Benchmarks of Perdure against the real Temporal server, run on demand (never by pytest)."""
