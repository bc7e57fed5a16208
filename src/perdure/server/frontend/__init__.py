"""Perdure server frontend."""
