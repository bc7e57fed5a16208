"""Heartbeat throttling for one running activity, as temporalio's core does it.

The first heartbeat goes to the server at once. Heartbeats recorded in the next
throttle interval only replace the pending details; when the interval ends, the
latest details go out and a new interval starts. An interval with nothing recorded
ends the cycle, so the next heartbeat is sent at once again. The interval is 80 % of
the activity's heartbeat timeout (or a default when it has none), capped by a maximum.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from temporalio.api.common.v1 import Payload

SendHeartbeat = Callable[[Sequence[Payload]], Awaitable[None]]


def throttle_interval(
    heartbeat_timeout: timedelta | None,
    *,
    default_interval: timedelta,
    max_interval: timedelta,
) -> float:
    """Seconds between heartbeat RPCs for an activity with this heartbeat timeout."""
    if heartbeat_timeout is None or heartbeat_timeout <= timedelta(0):
        interval = default_interval
    else:
        interval = heartbeat_timeout * 0.8
    return min(interval, max_interval).total_seconds()


class HeartbeatThrottler:
    """Sends the latest recorded details at most once per interval."""

    def __init__(self, send: SendHeartbeat, interval: float) -> None:
        """`send` performs one RecordActivityTaskHeartbeat; `interval` is in seconds."""
        self._send = send
        self._interval = interval
        self._pending: Sequence[Payload] | None = None
        self._task: asyncio.Task[None] | None = None
        self._sleeping = False
        self._closed = False

    def record(self, details: Sequence[Payload]) -> None:
        """Record new details; they replace any not yet sent."""
        if self._closed:
            return
        self._pending = details
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            while self._pending is not None and not self._closed:
                details, self._pending = self._pending, None
                await self._send(details)
                if self._closed:
                    break  # close() is waiting for this send; no throttle sleep after it
                self._sleeping = True
                try:
                    await asyncio.sleep(self._interval)
                finally:
                    self._sleeping = False
        finally:
            self._task = None

    async def close(self, *, flush: bool) -> None:
        """Stop throttling; with `flush`, send details still held back by the throttle.

        Failures and cancellations flush so that the next attempt sees the latest
        details; a heartbeat RPC already in flight is awaited, never cut short.
        """
        self._closed = True
        pending, self._pending = self._pending, None
        task = self._task
        if task is not None:
            if self._sleeping:
                task.cancel()
            await asyncio.wait([task])
        if flush and pending is not None:
            await self._send(pending)
