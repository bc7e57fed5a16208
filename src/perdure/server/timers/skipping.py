"""Time skipping: move a virtual clock to the next deadline whenever nothing is running.

This is the behaviour of Temporal's time-skipping test server. Time is locked by
default and flows at real speed; callers unlock it (a client waiting for a workflow's
result, a test sleeping in virtual time). While it is unlocked and no workflow or
activity task is scheduled or running anywhere, nothing can happen before the next
stored deadline, so the clock jumps to it and the timer queue fires it at once. The
workers (ours in process, or any SDK over gRPC) see the jump in event times.

"Running" is read from each committed execution's state (`InFlight`); retention
deletions are never jumped to, as they are no work a test waits for.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging

from perdure.server.clock import VirtualClock
from perdure.server.engine.deadlines import TimerKind, TimerRef
from perdure.server.engine.execution import Execution
from perdure.server.engine.state import ActivityState, ExecutionState
from perdure.server.errors import FailedPrecondition
from perdure.server.namespaces import Namespace
from perdure.server.store.base import Store
from perdure.server.timers.queue import TimerQueue

log = logging.getLogger(__name__)

RECHECK_SECONDS = 0.02
"""How soon to look again while a timer fires or is due: its end may not commit."""
PEEK_TIMERS = 64
FAR_FUTURE_NS = 200 * 365 * 24 * 3600 * 1_000_000_000


def has_task_in_flight(st: ExecutionState) -> bool:
    """A workflow task, or an activity attempt, scheduled or started and not closed."""
    if not st.running:
        return False
    if st.workflow_task is not None:
        return True
    return any(
        info.state != ActivityState.BACKOFF and not info.paused for info in st.activities.values()
    )


class InFlight:
    """The runs that have a task in flight, kept up to date from every commit."""

    def __init__(self) -> None:
        self._runs: set[tuple[str, str]] = set()

    def update(self, st: ExecutionState) -> None:
        key = (st.namespace_id, st.run_id)
        if has_task_in_flight(st):
            self._runs.add(key)
        else:
            self._runs.discard(key)

    def __len__(self) -> int:
        return len(self._runs)


class TimeSkipper:
    """Locks, unlocks and virtual sleeps, and the loop that skips time."""

    def __init__(self, clock: VirtualClock, store: Store, timers: TimerQueue) -> None:
        self.clock = clock
        self.in_flight = InFlight()
        self._store = store
        self._timers = timers
        self._locks = 1
        """Locked at start, as Temporal's test server is: time moves when unlocked."""
        self._sleeps: list[tuple[int, int]] = []
        self._order = itertools.count()
        self._poke = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ wiring

    def on_commit(self, ns: Namespace, ex: Execution) -> None:
        """History commit listener: track in-flight tasks, re-check after every change."""
        self.in_flight.update(ex.state)
        self._poke.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    # ------------------------------------------------------------------ locking

    @property
    def locked(self) -> bool:
        return self._locks > 0

    def lock(self) -> None:
        self._locks += 1

    def unlock(self) -> None:
        if self._locks == 0:
            raise FailedPrecondition("time skipping is already unlocked")
        self._locks -= 1
        self._poke.set()

    async def sleep_until(self, deadline_ns: int, *, unlock: bool) -> None:
        """Return once virtual time reaches `deadline_ns`, which is a point time may
        skip to; with `unlock`, time is unlocked meanwhile (and locked again after)."""
        entry = (deadline_ns, next(self._order))
        heapq.heappush(self._sleeps, entry)
        self._poke.set()
        if unlock:
            self.unlock()
        try:
            wake = asyncio.Event()
            while self.clock.now_ns() < deadline_ns:
                wake.clear()
                await self.clock.sleep_until(deadline_ns, wake)
        finally:
            self._sleeps.remove(entry)
            heapq.heapify(self._sleeps)
            if unlock:
                self.lock()
            self._poke.set()

    # ------------------------------------------------------------------ skipping

    async def _next_deadline(self) -> int | None:
        """The earliest stored timer (retention deletions aside) or virtual sleep."""
        candidates = [self._sleeps[0][0]] if self._sleeps else []
        rows = await self._store.get_timers(FAR_FUTURE_NS, PEEK_TIMERS)
        for row in rows:
            if TimerRef.decode(row.data).kind != TimerKind.DELETE_EXECUTION:
                candidates.append(row.fire_time)
                break
        else:
            if len(rows) == PEEK_TIMERS:
                candidates.append(rows[-1].fire_time)  # only deletions ahead: pass them
        return min(candidates) if candidates else None

    async def skip_once(self) -> bool:
        """Jump to the next deadline if nothing runs.

        Returns whether to look again soon without being told: a timer is firing or
        due, which may end without a commit (a stale timer, a deleted run).
        """
        if self.locked or self.in_flight:
            return False
        if not self._timers.idle():
            return True
        target = await self._next_deadline()
        if target is None or self.locked or self.in_flight:
            return False  # nothing to skip to, or something started while we looked
        if not self._timers.idle():
            return True
        if self.clock.advance_to(target):
            log.debug("time skipped to %d", target)
        return True

    async def _run(self) -> None:
        while True:
            self._poke.clear()
            try:
                recheck = await self.skip_once()
            except Exception:
                log.exception("time skipping failed; retrying")
                recheck = True
            try:
                # asyncio.timeout, not wait_for: wait_for (3.11) may swallow a cancel
                # that arrives as the poke does, and the loop would never stop.
                async with asyncio.timeout(RECHECK_SECONDS if recheck else None):
                    await self._poke.wait()
            except TimeoutError:
                pass
