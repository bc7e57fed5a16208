"""Perdure server engine."""
