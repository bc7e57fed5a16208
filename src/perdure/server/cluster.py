"""This server process's part in a group of processes that share one database.

On a shared store (PostgreSQL, store/shared.py) any process serves any request. What one
process commits reaches the others as notices, which this module routes: a namespace
changed (reread it), a run changed
(drop its cached state, wake history long polls and update waiters, re-route the queries
that wait for its workflow task), tasks or queries wait on a queue (wake its pollers), a
query this process asked was answered. Notices can be lost while the listening
connection is down, and the leases of a process that dies lapse without any notice, so
a fallback tick looks again every few seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from perdure.server.engine.state import ExecutionState
from perdure.server.history.service import HistoryService
from perdure.server.matching.queries import QueryRegistry
from perdure.server.matching.query_routing import QueryRouter
from perdure.server.matching.queues import Matching
from perdure.server.matching.shared import QueryBridge, SharedTaskQueue
from perdure.server.namespaces import NamespaceRegistry
from perdure.server.store.base import StoreError, TaskKind
from perdure.server.store.shared import (
    AnswerNotice,
    ExecutionNotice,
    NamespaceNotice,
    Notice,
    QueryNotice,
    SharedStore,
    TaskNotice,
    WorkerLeftNotice,
)

log = logging.getLogger(__name__)

TICK_SECONDS = 2.0
"""The fallback poll of task queues, query rows and waiting queries."""
WATCHER_TICKS = 5
"""Every so many ticks, history long polls and update waiters look again too."""
EXPIRE_TICKS = 30
"""Every so many ticks, abandoned query rows are removed."""


class Cluster:
    """Routes notices and runs the fallback tick (from `start()`)."""

    def __init__(
        self,
        *,
        store: SharedStore,
        history: HistoryService,
        namespaces: NamespaceRegistry,
        matching: Matching,
        bridge: QueryBridge,
        queries: QueryRegistry,
        query_router: QueryRouter,
    ) -> None:
        self.store = store
        self.history = history
        self.namespaces = namespaces
        self.matching = matching
        self.bridge = bridge
        self.queries = queries
        self.query_router = query_router
        self._rechecking: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Listen for the other processes' notices and run the fallback tick."""
        self.store.listen(self.on_notice, self.on_resync)
        self._spawn(self._tick_forever())

    async def stop(self) -> None:
        """Stop routing and give back every lease, so the others take over at once."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.bridge.close()
        for queue in self.matching.all_queues():
            if isinstance(queue, SharedTaskQueue):
                await queue.close()
        try:
            await self.store.release_leases()
        except StoreError as e:
            log.warning("could not give back leases at shutdown (they will lapse): %s", e)

    # ------------------------------------------------------------------ notices

    def on_notice(self, notice: Notice) -> None:
        match notice:
            case ExecutionNotice(owner, ns, run, _):
                if owner != self.store.owner:
                    self.history.remote_commit(notice)
                    self._recheck_queries(ns, run)
            case TaskNotice(ns, name, kind):
                queue = self.matching.find(ns, name, kind)
                if isinstance(queue, SharedTaskQueue):
                    queue.backlog_changed()
            case QueryNotice(ns, name):
                queue = self.matching.find(ns, name, TaskKind.WORKFLOW)
                if isinstance(queue, SharedTaskQueue):
                    queue.queries_changed()
            case AnswerNotice(origin, query_id):
                if origin == self.store.owner:
                    self.bridge.answered(query_id)
            case NamespaceNotice(namespace_id):
                self.namespaces.forget(namespace_id)
            case WorkerLeftNotice(ns, key):
                self.matching.release_worker(ns, key)

    def on_resync(self) -> None:
        """Notices may have been missed: look again at everything that waits for one."""
        self._tick()
        self.history.watchers.notify_all()
        self.bridge.resync()

    async def _tick_forever(self) -> None:
        n = 0
        while True:
            await asyncio.sleep(TICK_SECONDS)
            n += 1
            self._tick()
            if n % WATCHER_TICKS == 0:
                self.history.watchers.notify_all()
            if n % EXPIRE_TICKS == 0:
                self.bridge.expire()

    def _tick(self) -> None:
        for queue in self.matching.all_queues():
            if isinstance(queue, SharedTaskQueue):
                queue.tick()
        self.bridge.sweep()
        for ns, run in self.queries.held_runs():
            self._recheck_queries(ns, run)

    # ------------------------------------------------------------------ queries

    def _recheck_queries(self, namespace_id: str, run_id: str) -> None:
        """Queries here that wait for a workflow task of a run another process changed:
        the task they wait for may have started or ended there. Route them again."""
        if not self.queries.holds(namespace_id, run_id):
            return
        key = (namespace_id, run_id)
        if key in self._rechecking:
            return
        self._rechecking.add(key)
        self._spawn(self._reroute(namespace_id, run_id))

    async def _reroute(self, namespace_id: str, run_id: str) -> None:
        try:
            held = self.queries.held(namespace_id, run_id)
            if not held:
                return
            ns = await self.namespaces.get_by_id(namespace_id)

            def route(st: ExecutionState) -> None:
                for task in self.queries.take_held(namespace_id, run_id):
                    self.query_router.route(ns, st, task)

            await self.history.read(ns, held[0].workflow_id, run_id, route)
        finally:
            self._rechecking.discard((namespace_id, run_id))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("cluster task failed: %s", task.exception())
