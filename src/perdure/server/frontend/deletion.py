"""DeleteWorkflowExecution: terminate the run if it still runs, then remove it.

Validation here; the deletion itself is history/api/delete_workflow.py.
"""

from __future__ import annotations

from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import InvalidArgument
from perdure.server.frontend.context import FrontendContext
from perdure.server.frontend.deadline import Deadline
from perdure.server.history.api.delete_workflow import delete_workflow


class DeletionRpcs(FrontendContext):
    async def DeleteWorkflowExecution(
        self, request: rr.DeleteWorkflowExecutionRequest, deadline: Deadline
    ) -> rr.DeleteWorkflowExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        if not request.workflow_execution.workflow_id:
            raise InvalidArgument("WorkflowId is not set on request.")
        return await delete_workflow(self.history, ns, request)
