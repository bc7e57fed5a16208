"""Perdure server visibility."""
