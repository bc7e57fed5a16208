"""Perdure server history."""
