"""Perdure server store."""
