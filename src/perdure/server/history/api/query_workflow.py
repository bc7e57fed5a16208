"""QueryWorkflow: route the query to a worker, or answer at once, and wait for the answer.

Under the workflow id's lock (so that the run's pending workflow task cannot start
meanwhile) the run's state decides: a query the reject condition refuses is answered at
once with the run's status; one no worker can answer yet fails at once, as on Temporal
(WorkflowNotReady: the run closed or waits before its first task, or its task keeps
failing); otherwise it rides the pending workflow task, waits for the one in flight to
end, or becomes a query task of its own on the sticky queue (when its worker still polls)
or the normal one. Queries live only in memory (matching/queries.py).

A query task that no worker takes fails shortly before the caller's deadline, as
Temporal's matching does: FAILED_PRECONDITION "no poller seen ..." when its queue has not
been polled within `QUERY_POLLER_WINDOW_SECONDS`, else the deadline error.
"""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import query_pb2 as query_enums
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine.state import ExecutionState
from perdure.server.errors import DeadlineExceeded, FailedPrecondition, QueryFailed
from perdure.server.history.service import HistoryService
from perdure.server.matching.queries import QueryAnswer, QueryRegistry, QueryTask
from perdure.server.matching.query_routing import QueryRouter
from perdure.server.matching.queues import TaskQueue
from perdure.server.namespaces import Namespace

_RUNNING = wf_enums.WORKFLOW_EXECUTION_STATUS_RUNNING
_COMPLETED = wf_enums.WORKFLOW_EXECUTION_STATUS_COMPLETED
QUERY_POLLER_WINDOW_SECONDS = 20.0
"""Temporal's matching.queryPollerUnavailableWindow."""
NO_POLLER_CHECK_SECONDS = 0.5
"""How long before the end of the wait the queue is checked for a recent poller (with
the frontend's margin, a second before the caller's deadline, as in Temporal)."""
NO_RECENT_POLLER = "no poller seen for task queue recently, worker may be down"


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
    router: QueryRouter,
    ns: Namespace,
    request: rr.QueryWorkflowRequest,
    *,
    wait_seconds: float,
) -> rr.QueryWorkflowResponse:
    """Send the query on its way and wait up to `wait_seconds` for a worker's answer."""
    workflow_id = request.execution.workflow_id
    run_id = await history.resolve_run_id(ns, workflow_id, request.execution.run_id)
    task = QueryTask(history.new_id(), ns.id, workflow_id, run_id, request.query)

    routed: list[TaskQueue] = []

    def route(st: ExecutionState) -> int:
        if rejected(st, request.query_reject_condition):
            return st.status
        queue = router.route(ns, st, task)
        if queue is not None:
            routed.append(queue)
        return 0

    rejected_status = await history.read(ns, workflow_id, run_id, route)
    if rejected_status:
        resp = rr.QueryWorkflowResponse()
        resp.query_rejected.status = rejected_status  # type: ignore[assignment]
        return resp
    try:
        answer = await _wait_answer(task, wait_seconds, routed[0] if routed else None)
    finally:
        queries.discard(task)
    if answer.refusal is not None:
        raise answer.refusal
    if not answer.answered:
        raise QueryFailed(answer.error_message or "query failed", answer.failure)
    resp = rr.QueryWorkflowResponse()
    if answer.result is not None:
        resp.query_result.CopyFrom(answer.result)
    return resp


async def _wait_answer(
    task: QueryTask, wait_seconds: float, queue: TaskQueue | None
) -> QueryAnswer:
    """The worker's answer; shortly before the wait ends, a query task whose queue no
    worker polls recently fails with Temporal's cause instead of the deadline error."""
    first = max(wait_seconds - NO_POLLER_CHECK_SECONDS, 0.0)
    try:
        return await asyncio.wait_for(asyncio.shield(task.answer), first)
    except TimeoutError:
        pass
    if queue is not None and not await queue.poller_seen_recently(QUERY_POLLER_WINDOW_SECONDS):
        task.answer.cancel()
        raise FailedPrecondition(NO_RECENT_POLLER)
    try:
        return await asyncio.wait_for(task.answer, wait_seconds - first)
    except TimeoutError:
        raise DeadlineExceeded("query timed out before a worker answered it") from None
