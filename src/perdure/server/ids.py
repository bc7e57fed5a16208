"""Identifiers the server makes up: run ids, as Temporal makes them.

Temporal gives the runs a start creates (a workflow start, a child) time-ordered UUIDv7
ids, and the runs that continue a chain (continue-as-new, retry, cron, reset) random
UUIDv4 ones; tools and users sort and read them, so Perdure does the same.
"""

from __future__ import annotations

import os
import time
import uuid

_RAND_A_BITS = 12
_RAND_B_BITS = 62


def uuid7(unix_ms: int | None = None) -> str:
    """An RFC 9562 version 7 UUID: 48 bits of Unix milliseconds, then random bits."""
    ms = (time.time_ns() // 1_000_000 if unix_ms is None else unix_ms) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a = rand >> (80 - _RAND_A_BITS)
    rand_b = rand & ((1 << _RAND_B_BITS) - 1)
    value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


def uuid4() -> str:
    return str(uuid.uuid4())
