"""Time for the server: the real clock, or a virtual one that tests can move (time skipping).

Everything that needs "now" or waits for a deadline goes through a `Clock`, so the engine's
timers fire the same way whether time is real or skipped.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Nanoseconds since the Unix epoch."""

    async def sleep_until(self, deadline_ns: int, wake: asyncio.Event) -> None:
        """Return at `deadline_ns`, or earlier when `wake` is set."""


class RealClock:
    """Wall-clock time."""

    def now_ns(self) -> int:
        return time.time_ns()

    async def sleep_until(self, deadline_ns: int, wake: asyncio.Event) -> None:
        delay = (deadline_ns - time.time_ns()) / 1e9
        if delay <= 0:
            return
        try:
            await asyncio.wait_for(wake.wait(), delay)
        except TimeoutError:
            pass


class VirtualClock:
    """Wall-clock time plus an offset that time skipping moves forward.

    Time keeps flowing at real speed; `advance_to` jumps ahead (never back) and wakes
    every sleeper so that it checks its deadline against the new time, which is how
    the timer queue fires a skipped-to timer at once.
    """

    def __init__(self, start_ns: int | None = None) -> None:
        self._offset = 0 if start_ns is None else start_ns - time.time_ns()
        self._sleepers: set[asyncio.Event] = set()

    def now_ns(self) -> int:
        return time.time_ns() + self._offset

    def advance_to(self, target_ns: int) -> bool:
        """Jump to `target_ns` if it is ahead; returns whether time moved."""
        delta = target_ns - self.now_ns()
        if delta <= 0:
            return False
        self._offset += delta
        for wake in list(self._sleepers):
            wake.set()
        return True

    async def sleep_until(self, deadline_ns: int, wake: asyncio.Event) -> None:
        delay = (deadline_ns - self.now_ns()) / 1e9
        if delay <= 0:
            return
        self._sleepers.add(wake)
        try:
            async with asyncio.timeout(delay):
                await wake.wait()
        except TimeoutError:
            pass
        finally:
            self._sleepers.discard(wake)
