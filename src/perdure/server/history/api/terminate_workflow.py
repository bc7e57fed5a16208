"""TerminateWorkflowExecution: end the run now, failing a workflow task in flight.

`first_execution_run_id`, when set, must name the chain the run belongs to. Without a
reason, the event carries Temporal's default one.
"""

from __future__ import annotations

from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import requests
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace

DEFAULT_REASON = "terminated by user via frontend"


async def terminate_workflow(
    history: HistoryService, ns: Namespace, request: rr.TerminateWorkflowExecutionRequest
) -> rr.TerminateWorkflowExecutionResponse:
    execution = request.workflow_execution
    details = request.details if request.HasField("details") else None
    await history.update(
        ns,
        execution.workflow_id,
        execution.run_id,
        lambda ex: requests.terminate(
            ex, reason=request.reason or DEFAULT_REASON, details=details, identity=request.identity
        ),
        first_execution_run_id=request.first_execution_run_id,
    )
    return rr.TerminateWorkflowExecutionResponse()
