"""The history service's commit effects: what runs before a commit, after it, or instead."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace

import pytest
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.clock import RealClock
from perdure.server.engine import start
from perdure.server.engine.execution import Execution
from perdure.server.history.service import HistoryService
from perdure.server.matching.queues import DirectDispatch
from perdure.server.namespaces import Namespace, NamespaceRegistry
from perdure.server.store import open_store
from perdure.server.store.base import ConditionFailed, Store, TaskKind, TaskRow, TimerRow


@dataclass
class Recorder:
    """A CommitEffects that records its calls in order; it leases every task."""

    calls: list[str] = field(default_factory=list)
    abandoned: list[TaskRow] = field(default_factory=list)

    def dispatch_directly(self, ns: Namespace, ex: Execution) -> list[DirectDispatch]:
        self.calls.append(f"dispatch {len(ex.out.tasks_added)}")
        return []

    def lease_tasks(self, rows: list[TaskRow]) -> list[TaskRow]:
        self.calls.append(f"lease {len(rows)}")
        return [replace(row, lease_owner="me", lease_until=1) for row in rows]

    def abandon_leases(self, rows: Sequence[TaskRow]) -> None:
        self.calls.append("abandon")
        self.abandoned.extend(rows)

    def tasks_added(self, rows: Sequence[TaskRow]) -> None:
        self.calls.append(f"tasks {[row.kind.name for row in rows]}")

    def timers_added(self, rows: Sequence[TimerRow]) -> None:
        self.calls.append(f"timers {len(rows)}")

    def timers_removed(self, keys: Sequence[str]) -> None:
        self.calls.append(f"timers removed {len(keys)}")

    def run_committed(self, ns: Namespace, ex: Execution) -> None:
        self.calls.append(f"run {ex.state.workflow_id}")


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    store = await open_store(":memory:")
    try:
        yield store
    finally:
        await store.close()


def _new_run(ns: Namespace, workflow_id: str, run_id: str) -> Execution:
    request = rr.StartWorkflowExecutionRequest(workflow_id=workflow_id, request_id=workflow_id)
    request.workflow_type.name = "Flow"
    request.task_queue.name = "tq"
    request.workflow_run_timeout.FromSeconds(60)
    return start.new_run(
        request, namespace=ns.name, namespace_id=ns.id, run_id=run_id, now=RealClock().now_ns()
    )


async def test_a_commit_runs_its_effects_in_order(store: Store) -> None:
    effects = Recorder()
    history = HistoryService(store, RealClock(), effects=effects)
    ns = await NamespaceRegistry(store).ensure("default")
    await history.commit(ns, [(_new_run(ns, "wf", "run-1"), None)], current_expected=None)
    assert effects.calls == [
        "dispatch 1",
        "lease 1",
        "tasks ['WORKFLOW']",
        "timers 1",
        "run wf",
    ]
    rows = await store.get_tasks(ns.id, "tq", TaskKind.WORKFLOW, 0, 10)
    assert [row.lease_owner for row in rows] == ["me"], "the leased rows are what is written"


async def test_a_failed_commit_gives_its_leases_back_and_announces_nothing(store: Store) -> None:
    effects = Recorder()
    history = HistoryService(store, RealClock(), effects=effects)
    ns = await NamespaceRegistry(store).ensure("default")
    with pytest.raises(ConditionFailed):
        # The current-execution row must name a run that does not exist: refused.
        await history.commit(ns, [(_new_run(ns, "wf", "run-1"), None)], current_expected="other")
    assert effects.calls == ["dispatch 1", "lease 1", "abandon"]
    assert [row.lease_owner for row in effects.abandoned] == ["me"]
