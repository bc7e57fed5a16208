"""What a commit sets off outside the history service, as one interface.

`HistoryService` receives its `CommitEffects` at construction (the composition root,
server/app.py, builds it: server/commit_effects.py). Before a commit: tasks it adds may
start at once for pollers waiting in this process (direct dispatch, delivered once the
commit is durable) and, on a shared database, are leased to this process. After a
commit: its tasks go to matching, its timers to the timer queue, and each run it changed
is announced (queries waiting for the run's task, time skipping). If a commit fails,
leases it carried are given back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from perdure.server.engine.execution import Execution
from perdure.server.matching.queues import DirectDispatch
from perdure.server.namespaces import Namespace
from perdure.server.store.base import TaskRow, TimerRow


class CommitEffects(Protocol):
    def dispatch_directly(self, ns: Namespace, ex: Execution) -> list[DirectDispatch]:
        """Before the commit of `ex` (which added tasks): start those that a waiting
        poller here can take, in this same transition."""
        ...

    def lease_tasks(self, rows: list[TaskRow]) -> list[TaskRow]:
        """Before the commit: the rows to write (leased to this process where it will
        dispatch them itself)."""
        ...

    def abandon_leases(self, rows: Sequence[TaskRow]) -> None:
        """The commit carrying `rows` (as `lease_tasks` returned them) failed."""
        ...

    def tasks_added(self, rows: Sequence[TaskRow]) -> None:
        """After the commit: tasks for matching."""
        ...

    def timers_added(self, rows: Sequence[TimerRow]) -> None:
        """After the commit: deadlines for the timer queue."""
        ...

    def timers_removed(self, keys: Sequence[str]) -> None:
        """After the commit: deadlines that no longer fire."""
        ...

    def run_committed(self, ns: Namespace, ex: Execution) -> None:
        """After the commit: `ex`'s run changed."""
        ...


class HistoryObserver(Protocol):
    """Watches the history service's cache and commits (the server's metrics)."""

    def cache_lookup(self, hit: bool) -> None:
        """A run's state was looked up in the cache."""
        ...

    def committed(self, namespace: str, runs: int, seconds: float, ok: bool) -> None:
        """A commit of `runs` runs took `seconds`; `ok`: it was durable."""
        ...


class NoEffects:
    """A history service that only reads and writes the store (tools, unit tests)."""

    def dispatch_directly(self, ns: Namespace, ex: Execution) -> list[DirectDispatch]:
        return []

    def lease_tasks(self, rows: list[TaskRow]) -> list[TaskRow]:
        return rows

    def abandon_leases(self, rows: Sequence[TaskRow]) -> None:
        pass

    def tasks_added(self, rows: Sequence[TaskRow]) -> None:
        pass

    def timers_added(self, rows: Sequence[TimerRow]) -> None:
        pass

    def timers_removed(self, keys: Sequence[str]) -> None:
        pass

    def run_committed(self, ns: Namespace, ex: Execution) -> None:
        pass
