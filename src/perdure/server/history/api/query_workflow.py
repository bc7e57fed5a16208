"""QueryWorkflow: route the query to a worker, or answer at once, and wait for the answer.

Under the workflow id's lock (so that the run's pending workflow task cannot start
meanwhile) the run's state decides: a query the reject condition refuses is answered at
once with the run's status; otherwise it rides the pending workflow task, waits for the
one in flight to end, or becomes a query task of its own on the sticky queue (when its
worker still polls) or the normal one. Queries live only in memory (matching/queries.py).
"""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import query_pb2 as query_enums
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine.execution import Execution
from perdure.server.engine.state import ExecutionState
from perdure.server.errors import DeadlineExceeded, QueryFailed
from perdure.server.history.service import HistoryService
from perdure.server.matching.queries import QueryRegistry, QueryTask
from perdure.server.matching.queues import Matching
from perdure.server.namespaces import Namespace
from perdure.server.store.base import TaskKind

_RUNNING = wf_enums.WORKFLOW_EXECUTION_STATUS_RUNNING
_COMPLETED = wf_enums.WORKFLOW_EXECUTION_STATUS_COMPLETED


def rejected(st: ExecutionState, condition: int) -> bool:
    """The query's reject condition refuses a run in this state."""
    if condition == query_enums.QUERY_REJECT_CONDITION_NOT_OPEN:
        return st.status != _RUNNING
    if condition == query_enums.QUERY_REJECT_CONDITION_NOT_COMPLETED_CLEANLY:
        return st.status not in (_RUNNING, _COMPLETED)
    return False


async def query_workflow(
    history: HistoryService,
    queries: QueryRegistry,
    matching: Matching,
    ns: Namespace,
    request: rr.QueryWorkflowRequest,
    *,
    wait_seconds: float,
) -> rr.QueryWorkflowResponse:
    """Send the query on its way and wait up to `wait_seconds` for a worker's answer."""
    workflow_id = request.execution.workflow_id
    run_id = await history.resolve_run_id(ns, workflow_id, request.execution.run_id)
    task = QueryTask(history.new_id(), ns.id, workflow_id, run_id, request.query)

    def route(st: ExecutionState) -> int:
        if rejected(st, request.query_reject_condition):
            return st.status
        route_query(queries, matching, ns, st, task)
        return 0

    rejected_status = await history.read(ns, workflow_id, run_id, route)
    if rejected_status:
        resp = rr.QueryWorkflowResponse()
        resp.query_rejected.status = rejected_status  # type: ignore[assignment]
        return resp
    try:
        answer = await asyncio.wait_for(task.answer, wait_seconds)
    except TimeoutError:
        raise DeadlineExceeded("query timed out before a worker answered it") from None
    finally:
        queries.discard(task)
    if not answer.answered:
        raise QueryFailed(answer.error_message or "query failed", answer.failure)
    resp = rr.QueryWorkflowResponse()
    if answer.result is not None:
        resp.query_result.CopyFrom(answer.result)
    return resp


def route_query(
    queries: QueryRegistry, matching: Matching, ns: Namespace, st: ExecutionState, task: QueryTask
) -> None:
    """Send a query the way that sees everything the workflow has been sent."""
    wt = st.workflow_task
    if st.running and wt is not None:
        if wt.started:
            queries.wait_for_task_end(task)
        else:
            queries.ride_next_task(task)
        return
    queries.add(task)
    sticky = st.sticky_task_queue and matching.find(ns.id, st.sticky_task_queue, TaskKind.WORKFLOW)
    name = st.sticky_task_queue if sticky and sticky.alive else st.task_queue
    matching.queue(ns.id, name, TaskKind.WORKFLOW).offer_query(task)


def reroute_waiting_queries(
    queries: QueryRegistry, matching: Matching, ns: Namespace, ex: Execution
) -> None:
    """After a commit: once the in-flight task of a run with waiting queries has ended,
    route them again."""
    st = ex.state
    if not queries.has_waiting(ns.id, st.run_id):
        return
    wt = st.workflow_task
    if wt is not None and wt.started:
        return
    for task in queries.take_waiting(ns.id, st.run_id):
        route_query(queries, matching, ns, st, task)
