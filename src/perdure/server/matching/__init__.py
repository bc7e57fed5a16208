"""Perdure server matching."""
