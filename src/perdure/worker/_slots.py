"""How much work a worker takes on: task slots, and the activity poll rate limit.

One ``SlotPool`` per kind of task (workflow tasks, activities, local activities): a poller
takes a slot before it polls, so a worker never holds more tasks than its maximum; eager
starts and eager activities take a slot only if one is free right now (or are not
requested at all). A slot handed to a poller just as it is cancelled is passed on.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable


class SlotPool:
    """Task slots: a counting semaphore with a non-blocking acquire (asyncio's has none)."""

    def __init__(self, size: int, on_change: Callable[[int, int], None] | None = None) -> None:
        """`size` slots, all free; `on_change(free, taken)` is told of every change (the
        worker's slot gauges; a slot a poller holds while it polls counts as taken)."""
        if size < 1:
            raise ValueError("Slot count must be positive")
        self._size = size
        self._free = size
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._on_change = on_change
        if on_change is not None:
            on_change(size, 0)

    @property
    def free(self) -> int:
        """Slots free right now."""
        return self._free

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody waits for it."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            if self._on_change is not None:
                self._on_change(self._free, self._size - self._free)
            return True
        return False

    async def acquire(self) -> None:
        """Take a slot, waiting for one if needed."""
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # The slot was handed over just as we were cancelled: give it back.
                self.release()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give a slot back, handing it to the oldest waiter if any."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1
        if self._on_change is not None:
            self._on_change(self._free, self._size - self._free)


class RateLimiter:
    """Spaces events at least ``1 / per_second`` apart (None: no limit)."""

    def __init__(self, per_second: float | None) -> None:
        """Limit to `per_second` events; None or 0 disables the limit."""
        if per_second is not None and per_second < 0:
            raise ValueError("Rate must not be negative")
        self._gap = 1.0 / per_second if per_second else 0.0
        self._next_at = 0.0

    async def wait(self) -> None:
        """Wait for this event's turn."""
        if not self._gap:
            return
        now = time.monotonic()
        at = max(now, self._next_at)
        self._next_at = at + self._gap
        if at > now:
            await asyncio.sleep(at - now)
