"""Perdure server."""
