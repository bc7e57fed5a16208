"""What a history commit sets off in this server process (history/effects.py's interface).

Tasks a commit adds start at once for a poller waiting here (history/api/direct_dispatch)
or go to matching; on a shared database they are leased first (matching/shared.py).
Timers go to the timer queue; each changed run lets the queries waiting for its workflow
task go on, moves a task scheduled on a sticky queue whose worker is gone to the normal
queue, and, when time is virtual, tells the time skipper what is in flight; with metrics
on, closed runs are counted (server/metrics.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from perdure.server.engine.execution import Execution
from perdure.server.history.api.direct_dispatch import start_for_waiting_pollers
from perdure.server.matching.queries import QueryRegistry
from perdure.server.matching.query_routing import QueryRouter
from perdure.server.matching.queues import DirectDispatch, Matching
from perdure.server.matching.sticky import StickyRouting
from perdure.server.metrics import ServerMetrics
from perdure.server.namespaces import Namespace
from perdure.server.store.base import TaskRow, TimerRow
from perdure.server.timers.queue import TimerQueue
from perdure.server.timers.skipping import TimeSkipper


class ServerCommitEffects:
    def __init__(
        self,
        *,
        matching: Matching,
        timers: TimerQueue,
        queries: QueryRegistry,
        query_router: QueryRouter,
        new_id: Callable[[], str],
        skipper: TimeSkipper | None = None,
        sticky: StickyRouting | None = None,
        metrics: ServerMetrics | None = None,
    ) -> None:
        """`sticky` moves tasks off sticky queues whose worker is gone (matching/sticky.py)."""
        self._matching = matching
        self._timers = timers
        self._queries = queries
        self._query_router = query_router
        self._new_id = new_id
        self._skipper = skipper
        self._sticky = sticky
        self._metrics = metrics

    def dispatch_directly(self, ns: Namespace, ex: Execution) -> list[DirectDispatch]:
        return start_for_waiting_pollers(ex, self._matching, self._queries, self._new_id)

    def lease_tasks(self, rows: list[TaskRow]) -> list[TaskRow]:
        return self._matching.lease(rows)

    def abandon_leases(self, rows: Sequence[TaskRow]) -> None:
        self._matching.abandon(rows)

    def tasks_added(self, rows: Sequence[TaskRow]) -> None:
        self._matching.offer(rows)

    def timers_added(self, rows: Sequence[TimerRow]) -> None:
        self._timers.add(rows)

    def timers_removed(self, keys: Sequence[str]) -> None:
        self._timers.remove(keys)

    def run_committed(self, ns: Namespace, ex: Execution) -> None:
        self._query_router.reroute_waiting(ns, ex)
        if self._sticky is not None:
            self._sticky.run_committed(ns, ex)
        if self._skipper is not None:
            self._skipper.on_commit(ns, ex)
        if self._metrics is not None:
            self._metrics.run_committed(ns, ex)
