"""Where QueryRouter sends a query, by the state of the run's workflow task."""

from __future__ import annotations

import time

from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.query.v1 import message_pb2 as query_pb2

from perdure.server.engine.execution import Execution
from perdure.server.engine.state import ExecutionState, WorkflowTaskInfo
from perdure.server.errors import WorkflowNotReady
from perdure.server.matching.queries import QueryRegistry, QueryTask
from perdure.server.matching.query_routing import QueryRouter
from perdure.server.matching.queues import Matching, TaskQueue
from perdure.server.namespaces import Namespace, new_namespace
from perdure.server.store.base import TaskKind


def _setup() -> tuple[QueryRouter, QueryRegistry, Matching, Namespace]:
    queries = QueryRegistry()
    matching = Matching(store=None)  # type: ignore[arg-type]  # no backlog is read here
    ns = new_namespace("default")
    return QueryRouter(queries, matching), queries, matching, ns


def _state(ns: Namespace, task: WorkflowTaskInfo | None, *, completed: int = 4) -> ExecutionState:
    """A run whose last completed workflow task started at event `completed` (0: none)."""
    st = ExecutionState(ns.id, "wf", "run", "run", "Flow", "tq", "req", 0, 0, 0)
    st.workflow_task = task
    st.last_completed_workflow_task_event_id = completed
    return st


def _query(ns: Namespace, query_id: str = "q") -> QueryTask:
    return QueryTask(query_id, ns.id, "wf", "run", query_pb2.WorkflowQuery(query_type="q"))


def _pending(started: bool) -> WorkflowTaskInfo:
    return WorkflowTaskInfo(1, 2, 1, "tq", False, 10, 0, started_event_id=3 if started else 0)


def _queued(matching: Matching, ns: Namespace) -> list[str]:
    queue = matching.find(ns.id, "tq", TaskKind.WORKFLOW)
    assert queue is None or isinstance(queue, TaskQueue)
    return [] if queue is None else [q.query_id for q in queue._queries]


async def test_a_query_rides_on_a_pending_workflow_task() -> None:
    router, queries, matching, ns = _setup()
    router.route(ns, _state(ns, _pending(started=False)), _query(ns))
    assert [t.query_id for t in queries.take_for_task(ns.id, "run")] == ["q"]
    assert _queued(matching, ns) == []


async def test_a_query_waits_for_a_running_task_then_goes_to_the_queue() -> None:
    router, queries, matching, ns = _setup()
    st = _state(ns, _pending(started=True))
    router.route(ns, st, _query(ns))
    assert queries.has_waiting(ns.id, "run") and _queued(matching, ns) == []
    ex = Execution(st, 0, ns.name)
    router.reroute_waiting(ns, ex)
    assert queries.has_waiting(ns.id, "run"), "the task still runs"
    st.workflow_task = None
    router.reroute_waiting(ns, ex)
    assert not queries.has_waiting(ns.id, "run")
    assert _queued(matching, ns) == ["q"]


async def test_without_a_workflow_task_a_query_goes_to_the_normal_queue() -> None:
    router, _, matching, ns = _setup()
    st = _state(ns, None)
    st.sticky_task_queue = "sticky"
    router.route(ns, st, _query(ns))
    assert _queued(matching, ns) == ["q"], "no live sticky worker: the normal queue"


async def test_a_closed_runs_query_skips_its_sticky_worker() -> None:
    # Its worker evicted the run when it closed: the query goes with full history to the
    # normal queue, as on Temporal (two such queries on the sticky queue made the official
    # SDK drop the second; found by difftest).
    router, _, matching, ns = _setup()
    sticky = matching.queue(ns.id, "sticky", TaskKind.WORKFLOW)
    assert isinstance(sticky, TaskQueue)
    sticky.last_poll_time = time.monotonic()
    st = _state(ns, None)
    st.sticky_task_queue = "sticky"
    router.route(ns, st, _query(ns, "open"))
    st.status = wf_enums.WORKFLOW_EXECUTION_STATUS_COMPLETED
    router.route(ns, st, _query(ns, "closed"))
    assert [q.query_id for q in sticky._queries] == ["open"]
    assert _queued(matching, ns) == ["closed"]


async def test_a_query_riding_a_task_of_a_run_that_closes_before_any_completed_is_refused() -> None:
    # Terminated while its first task ran (difftest, Perdure-SDK profile): Temporal retries
    # the query once that task's completion is refused, and the closed run answers with
    # WorkflowNotReady; Perdure left it waiting for an answer that never came.
    router, queries, _, ns = _setup()
    st = _state(ns, _pending(started=False), completed=0)
    query = _query(ns)
    router.route(ns, st, query)
    assert queries.take_for_task(ns.id, "run") == [query]  # the first task starts with it
    st.workflow_task = None
    st.status = wf_enums.WORKFLOW_EXECUTION_STATUS_TERMINATED
    router.reroute_waiting(ns, Execution(st, 0, ns.name))
    answer = query.answer.result()
    assert isinstance(answer.refusal, WorkflowNotReady)
    assert answer.refusal.message == "Workflow execution closed before WorkflowTaskStarted event"


async def test_a_query_riding_a_task_that_timed_out_rides_the_next_attempt() -> None:
    router, queries, _, ns = _setup()
    st = _state(ns, _pending(started=False))
    query = _query(ns)
    router.route(ns, st, query)
    assert queries.take_for_task(ns.id, "run") == [query]
    st.workflow_task = _pending(started=False)  # the next attempt, after the timeout
    router.reroute_waiting(ns, Execution(st, 0, ns.name))
    assert queries.take_for_task(ns.id, "run") == [query]
