"""ExecuteMultiOperation as update-with-start: start (or find) the run, then update it.

A failure names the operation that failed and reports the other as aborted
(MultiOperationExecutionFailure), as Temporal does.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server import links
from perdure.server.errors import MultiOperationFailed, ServiceError
from perdure.server.history.api.start_workflow import start_workflow
from perdure.server.history.api.update_workflow import update_workflow
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace

START, UPDATE = 0, 1
"""The operations' places in the request (and in a failure's statuses)."""
OPERATION_COUNT = 2


async def update_with_start(
    history: HistoryService,
    ns: Namespace,
    start: rr.StartWorkflowExecutionRequest,
    update: rr.UpdateWorkflowExecutionRequest,
    *,
    wait_seconds: float,
) -> rr.ExecuteMultiOperationResponse:
    """Start as `start` says, then send `update` to the run started or found."""
    try:
        started = await start_workflow(history, ns, start)
    except ServiceError as err:
        raise MultiOperationFailed(START, err, OPERATION_COUNT) from err
    update.workflow_execution.run_id = started.run_id
    try:
        update_resp = await update_workflow(history, ns, update, wait_seconds=wait_seconds)
    except ServiceError as err:
        raise MultiOperationFailed(UPDATE, err, OPERATION_COUNT) from err
    resp = rr.ExecuteMultiOperationResponse()
    resp.responses.add().start_workflow.CopyFrom(
        rr.StartWorkflowExecutionResponse(
            run_id=started.run_id,
            started=started.started,
            status=wf_enums.WORKFLOW_EXECUTION_STATUS_RUNNING,
            first_execution_run_id=started.first_execution_run_id,
            link=links.started_event(ns.name, start.workflow_id, started.run_id),
        )
    )
    resp.responses.add().update_workflow.CopyFrom(update_resp)
    return resp
