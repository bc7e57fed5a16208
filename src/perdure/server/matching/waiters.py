"""The pollers waiting on one task queue, and the one way an item reaches them.

Both queue kinds (local, queues.py; shared database, shared.py) keep their waiting
pollers here. An item goes to the first poller still waiting (`hand`), or a poller is
taken out for a task that a commit starts for it (`take_idle`). A poller that leaves
(its wait times out, or its call is cancelled) just as an item was handed to it gives
the item back through `requeue`, so nothing handed over is lost.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class _WorkerShutDown(Exception):
    """Set on a waiter whose worker shut down: its poll answers empty."""


class WaitingPollers(Generic[T]):
    def __init__(self) -> None:
        self._waiters: collections.deque[asyncio.Future[T]] = collections.deque()
        self._identities: dict[asyncio.Future[T], str] = {}
        """The identity of each waiting poller (a task started for it records it)."""
        self._build_ids: dict[asyncio.Future[T], str] = {}
        """The build id each waiting poller polled with (recorded on what it starts)."""
        self._workers: dict[asyncio.Future[T], str] = {}
        """The worker instance key of each waiting poller that sent one (ShutdownWorker)."""

    def idle(self) -> int:
        """How many pollers are waiting."""
        return sum(1 for w in self._waiters if not w.done())

    def waiting_identities(self) -> set[str]:
        """The identities of the pollers waiting now."""
        return {i for w, i in self._identities.items() if not w.done()}

    def hand(self, item: T) -> bool:
        """Give `item` to the longest-waiting poller; False if none waits."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return True
        return False

    def take_idle(self) -> tuple[asyncio.Future[T], str] | None:
        """A waiting poller (and its identity), out of line until given an item or back."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                return waiter, self._identities.get(waiter, "")
        return None

    def build_id(self, waiter: asyncio.Future[T]) -> str:
        """The build id of a waiting (or just taken) poller."""
        return self._build_ids.get(waiter, "")

    def give_back(self, waiter: asyncio.Future[T]) -> None:
        """A poller from `take_idle` waits on, first in line."""
        if not waiter.done():
            self._waiters.appendleft(waiter)

    async def wait(
        self,
        timeout: float,
        identity: str,
        *,
        requeue: Callable[[T], None],
        waiting: Callable[[], None] | None = None,
        worker_key: str = "",
        build_id: str = "",
    ) -> T | None:
        """Wait up to `timeout` seconds for an item (None: none came, or the poller's
        worker shut down). `waiting` runs once this poller is in line (a shared queue
        then claims for it); `requeue` takes back an item that was handed over as the
        poller left."""
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._identities[waiter] = identity
        if worker_key:
            self._workers[waiter] = worker_key
        if build_id:
            self._build_ids[waiter] = build_id
        if waiting is not None:
            waiting()
        try:
            return await asyncio.wait_for(waiter, timeout)
        except _WorkerShutDown:
            return None
        except TimeoutError:
            self._give_back_item(waiter, requeue)
            return None
        except asyncio.CancelledError:
            self._give_back_item(waiter, requeue)
            raise
        finally:
            self._identities.pop(waiter, None)
            self._workers.pop(waiter, None)
            self._build_ids.pop(waiter, None)
            if not waiter.done():
                waiter.cancel()

    @staticmethod
    def _give_back_item(waiter: asyncio.Future[T], requeue: Callable[[T], None]) -> None:
        if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
            requeue(waiter.result())

    def release_worker(self, worker_key: str) -> int:
        """ShutdownWorker: the polls of that worker instance answer empty at once."""
        released = 0
        for waiter, key in list(self._workers.items()):
            if key == worker_key and not waiter.done():
                waiter.set_exception(_WorkerShutDown())
                released += 1
        return released

    def wake_all(self) -> None:
        """Release every waiting poller empty-handed (shutdown, a sticky queue closing)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.cancel()
