"""ResetWorkflowExecution: a new run from an earlier workflow task of an old one.

Validation here; the reset itself is history/api/reset_workflow.py.
"""

from __future__ import annotations

from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import InvalidArgument
from perdure.server.frontend.context import FrontendContext
from perdure.server.frontend.deadline import Deadline
from perdure.server.history.api.reset_workflow import reset_workflow

MAX_ID_LENGTH = 1000


class ResetRpcs(FrontendContext):
    async def ResetWorkflowExecution(
        self, request: rr.ResetWorkflowExecutionRequest, deadline: Deadline
    ) -> rr.ResetWorkflowExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        if not request.workflow_execution.workflow_id:
            raise InvalidArgument("WorkflowId is not set on request.")
        if not request.request_id:
            raise InvalidArgument("RequestId is not set on request.")
        if len(request.request_id) > MAX_ID_LENGTH:
            raise InvalidArgument("RequestId length exceeds limit.")
        return await reset_workflow(self.history, ns, request)
