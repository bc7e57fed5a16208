"""Perdure server timers."""
