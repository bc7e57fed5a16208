"""The caller's deadline: the one thing handlers need of a call besides its request.

Every frontend handler is `async def Rpc(self, request, deadline)`. The gRPC adapter
(rpc.py) reads the deadline off the ServicerContext; embedded mode (perdure.service's
"embedded://" transport) passes its own call's. Both then run the same validation and
handler code, so they fail alike.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeAlias, TypeVar

from perdure.server.errors import DeadlineExceeded, FailedPrecondition

T = TypeVar("T")

Deadline: TypeAlias = float | None
"""When the caller stops waiting, on `time.monotonic()`'s clock; None: it never does."""


def deadline_after(seconds: float | None) -> Deadline:
    """The deadline of a call with `seconds` left (None: no deadline)."""
    return None if seconds is None else time.monotonic() + seconds


LONG_POLL_TAIL_ROOM = 1.0
"""Task polls and history waits answer empty this long before the caller's deadline, as
Temporal's do, so that the answer arrives in time."""
MIN_TASK_POLL_SECONDS = 2.0
"""Temporal refuses a task poll whose caller allows it less than this."""


def remaining_seconds(deadline: Deadline, cap: float, margin: float = LONG_POLL_TAIL_ROOM) -> float:
    """How long a long poll may wait: up to `cap`, ending `margin` before the deadline."""
    if deadline is None:
        return cap
    return max(min(cap, deadline - time.monotonic() - margin), 0.0)


def task_poll_seconds(deadline: Deadline, cap: float) -> float:
    """How long a task poll may wait. Like Temporal's: a caller's deadline under 2 s is
    refused; else the poll answers empty 1 s before it (or after `cap`)."""
    if deadline is not None and deadline - time.monotonic() < MIN_TASK_POLL_SECONDS:
        raise FailedPrecondition("Context timeout is too short.")
    return remaining_seconds(deadline, cap)


async def within_deadline(deadline: Deadline, waiting: Awaitable[T]) -> T:
    """Run a wait that ends by the server's own interval (update waits), never early for
    the caller's deadline: when the deadline comes first, the caller's deadline error."""
    if deadline is None:
        return await waiting
    try:
        async with asyncio.timeout_at(
            asyncio.get_running_loop().time() + deadline - time.monotonic()
        ):
            return await waiting
    except TimeoutError:
        raise DeadlineExceeded("context deadline exceeded") from None
