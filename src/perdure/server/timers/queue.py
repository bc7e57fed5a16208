"""The durable timer queue: fires stored deadlines into their executions when due.

Rows due within a horizon are kept in a heap; timers committed by this process join it at
once (and leave it when a commit removes them), others are found by rescanning the store
every half horizon. On a database shared by several server processes, the rescan claims
rows (store/shared.py): a process fires the timers it wrote or claimed, and takes over
those of a process that died once their lease lapses. Firing is a transition
of the timer's execution that claims the row in the same commit, so a timer fires once
even if two scanners see it. A fire that fails (database unavailable) is retried shortly.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence

from perdure.server.clock import Clock
from perdure.server.store.base import Store, TimerRow
from perdure.server.store.shared import SharedStore

log = logging.getLogger(__name__)

SECOND = 1_000_000_000
HORIZON = 60 * SECOND
RETRY_DELAY = SECOND
LOAD_BATCH = 5_000
SHARED_RESCAN = 5 * SECOND

FireTimer = Callable[[TimerRow], Awaitable[None]]


class TimerQueue:
    def __init__(self, store: Store, clock: Clock, *, concurrency: int = 256) -> None:
        self._store = store
        self._shared = store if isinstance(store, SharedStore) else None
        """Several processes share the database: scan with claims (leases), often enough
        to take over the timers of a process that died soon after they are due."""
        self._clock = clock
        self._heap: list[tuple[int, int, TimerRow]] = []
        self._order = itertools.count()
        self._pending: dict[str, int] = {}
        """Key -> fire time of the heap entry that counts; other entries are stale."""
        self._loaded_until = 0
        self._next_scan = 0
        self._wake = asyncio.Event()
        self._stopped = False
        self._slots = asyncio.Semaphore(concurrency)
        self._running: set[asyncio.Task[None]] = set()

    def add(self, rows: Sequence[TimerRow]) -> None:
        """Timers committed by this process."""
        earliest = self._heap[0][0] if self._heap else None
        for row in rows:
            if row.fire_time <= self._loaded_until and self._pending.get(row.key) != row.fire_time:
                self._push(row)
        if self._heap and (earliest is None or self._heap[0][0] < earliest):
            self._wake.set()

    def remove(self, keys: Sequence[str]) -> None:
        """Timers a commit of this process removed: their heap entries go stale."""
        for key in keys:
            self._pending.pop(key, None)

    def _push(self, row: TimerRow) -> None:
        self._pending[row.key] = row.fire_time
        heapq.heappush(self._heap, (row.fire_time, next(self._order), row))

    async def _scan(self, now: int) -> None:
        until = now + HORIZON
        if self._shared is not None:
            rows = await self._shared.claim_timers(until, LOAD_BATCH)
        else:
            rows = await self._store.get_timers(until, LOAD_BATCH)
        for row in rows:
            if self._pending.get(row.key) != row.fire_time:
                self._push(row)
        # With a full batch there may be more before `until`: stop where the batch did.
        self._loaded_until = rows[-1].fire_time if len(rows) == LOAD_BATCH else until
        self._next_scan = now + (SHARED_RESCAN if self._shared is not None else HORIZON // 2)

    async def run(self, fire: FireTimer) -> None:
        """Fire due timers through `fire` (timers/dispatch.py) until `stop`. The queue
        takes commits' timers before this starts, so the history service that `fire`
        commits through can be built with the queue among its effects."""
        while not self._stopped:
            now = self._clock.now_ns()
            if now >= self._next_scan:
                try:
                    await self._scan(now)
                except Exception:
                    log.exception("timer scan failed; retrying")
                    self._next_scan = now + RETRY_DELAY
            now = self._clock.now_ns()
            while self._heap and self._heap[0][0] <= now:
                _, _, row = heapq.heappop(self._heap)
                if self._pending.get(row.key) != row.fire_time:
                    continue  # removed or re-armed since it was pushed
                # Not pending while it fires: its commit may re-arm the same key (a
                # heartbeat deadline pushed back), which `add` must take in.
                del self._pending[row.key]
                await self._slots.acquire()
                task = asyncio.create_task(self._fire_one(fire, row))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            next_due = self._heap[0][0] if self._heap else self._next_scan
            self._wake.clear()
            await self._clock.sleep_until(min(next_due, self._next_scan), self._wake)

    async def _fire_one(self, fire: FireTimer, row: TimerRow) -> None:
        try:
            await fire(row)
        except Exception:
            log.exception("firing timer %s failed; retrying", row.key)
            retry = TimerRow(
                row.key, row.namespace_id, row.workflow_id, row.run_id,
                self._clock.now_ns() + RETRY_DELAY, row.data,
            )  # fmt: skip
            if retry.key not in self._pending:
                self._push(retry)
                self._wake.set()
        finally:
            self._slots.release()

    def next_fire_time(self) -> int | None:
        """The earliest known due time (for time skipping)."""
        return self._heap[0][0] if self._heap else None

    def idle(self) -> bool:
        return not self._running

    async def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
