"""ExecuteMultiOperation as update-with-start: start (or find) the run, then update it.

A failure names the operation that failed and reports the other as aborted
(MultiOperationExecutionFailure), as Temporal does.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.errordetails.v1 import message_pb2 as details_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import ServiceError
from perdure.server.history.api.start_workflow import start_workflow
from perdure.server.history.api.update_workflow import update_workflow
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace

START, UPDATE = 0, 1
"""The operations' places in the request (and in a failure's statuses)."""
OPERATION_COUNT = 2


class MultiOperationFailed(ServiceError):
    """ExecuteMultiOperation: one operation failed, the others were aborted."""

    def __init__(self, failed_index: int, error: ServiceError, count: int) -> None:
        super().__init__("MultiOperation could not be executed.")
        self.code = error.code
        self.failed_index = failed_index
        self.error = error
        self.count = count

    def details(self) -> details_pb2.MultiOperationExecutionFailure:
        out = details_pb2.MultiOperationExecutionFailure()
        for i in range(self.count):
            status = out.statuses.add()
            if i == self.failed_index:
                status.code = self.error.code.value[0]
                status.message = self.error.message
                detail = self.error.details()
                if detail is not None:
                    packed = any_pb2.Any()
                    packed.Pack(detail)
                    status.details.append(packed)
            else:
                status.code = grpc.StatusCode.ABORTED.value[0]
                status.message = "Operation was aborted."
        return out


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
        )
    )
    resp.responses.add().update_workflow.CopyFrom(update_resp)
    return resp
