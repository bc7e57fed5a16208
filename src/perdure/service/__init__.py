"""Perdure service."""
