"""RequestCancelWorkflowExecution: ask the run to cancel itself (once; repeats are no-ops).

`first_execution_run_id`, when set, must name the chain the run belongs to. Asking a run
that has already closed succeeds and changes nothing, as on Temporal.
"""

from __future__ import annotations

from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import requests
from perdure.server.engine.execution import Execution
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace


async def request_cancel_workflow(
    history: HistoryService, ns: Namespace, request: rr.RequestCancelWorkflowExecutionRequest
) -> rr.RequestCancelWorkflowExecutionResponse:
    execution = request.workflow_execution

    def cancel(ex: Execution) -> None:
        if ex.state.running:
            requests.request_cancel(
                ex, request_id=request.request_id, identity=request.identity, reason=request.reason
            )

    await history.update(
        ns,
        execution.workflow_id,
        execution.run_id,
        cancel,
        first_execution_run_id=request.first_execution_run_id,
    )
    return rr.RequestCancelWorkflowExecutionResponse()
