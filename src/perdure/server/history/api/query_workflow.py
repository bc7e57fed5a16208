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

from perdure.server.engine.state import ExecutionState
from perdure.server.errors import DeadlineExceeded, QueryFailed
from perdure.server.history.service import HistoryService
from perdure.server.matching.queries import QueryRegistry, QueryTask
from perdure.server.matching.query_routing import QueryRouter
from perdure.server.namespaces import Namespace

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

    def route(st: ExecutionState) -> int:
        if rejected(st, request.query_reject_condition):
            return st.status
        router.route(ns, st, task)
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
