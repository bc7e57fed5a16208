"""DeleteWorkflowExecution: terminate the run if it still runs, then remove it."""

from __future__ import annotations

from typing import TypeAlias

import grpc
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import InvalidArgument
from perdure.server.frontend.context import FrontendContext
from perdure.server.history.deletion import delete_workflow_execution

Ctx: TypeAlias = grpc.aio.ServicerContext


class DeletionRpcs(FrontendContext):
    async def DeleteWorkflowExecution(
        self, request: rr.DeleteWorkflowExecutionRequest, context: Ctx
    ) -> rr.DeleteWorkflowExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        execution = request.workflow_execution
        if not execution.workflow_id:
            raise InvalidArgument("WorkflowId is not set on request.")
        await delete_workflow_execution(
            self.history, ns, execution.workflow_id, execution.run_id, identity="history-service"
        )
        return rr.DeleteWorkflowExecutionResponse()
