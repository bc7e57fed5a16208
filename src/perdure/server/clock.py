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
