"""Client-facing workflow RPCs: start, signal, cancel, terminate, describe, history.

Each handler resolves the namespace, validates the request and checks its limits, then
calls the history operation (server/history/api/) that does the work, and shapes its
response.
"""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server import links
from perdure.server.errors import InvalidArgument
from perdure.server.frontend.context import FrontendContext
from perdure.server.frontend.deadline import Deadline, remaining_seconds
from perdure.server.frontend.limits import check_payloads
from perdure.server.frontend.tasks import workflow_task_response
from perdure.server.history.api.describe_workflow import describe_workflow
from perdure.server.history.api.get_workflow_history import (
    get_workflow_history,
    get_workflow_history_reverse,
)
from perdure.server.history.api.request_cancel_workflow import request_cancel_workflow
from perdure.server.history.api.reset_sticky_task_queue import reset_sticky_task_queue
from perdure.server.history.api.signal_workflow import signal_workflow
from perdure.server.history.api.start_workflow import start_workflow
from perdure.server.history.api.terminate_workflow import terminate_workflow
from perdure.server.namespaces import Namespace

HISTORY_LONG_POLL_SECONDS = 20.0


class WorkflowRpcs(FrontendContext):
    # ------------------------------------------------------------------ start

    async def StartWorkflowExecution(
        self, request: rr.StartWorkflowExecutionRequest, deadline: Deadline
    ) -> rr.StartWorkflowExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        self.check_start(ns, request)
        result = await start_workflow(
            self.history, ns, request, eager=request.request_eager_execution
        )
        resp = rr.StartWorkflowExecutionResponse(
            run_id=result.run_id,
            started=result.started,
            status=wf_enums.WORKFLOW_EXECUTION_STATUS_RUNNING,
            first_execution_run_id=result.first_execution_run_id,
            link=links.started_event(ns.name, request.workflow_id, result.run_id),
        )
        if result.eager is not None:
            task = workflow_task_response(result.eager.run, result.eager.task)
            task.history.events.extend(result.eager.run.out.events)
            resp.eager_workflow_task.CopyFrom(task)
        return resp

    async def SignalWithStartWorkflowExecution(
        self, request: rr.SignalWithStartWorkflowExecutionRequest, deadline: Deadline
    ) -> rr.SignalWithStartWorkflowExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        self.check_start(ns, request)
        if not request.signal_name:
            raise InvalidArgument("SignalName is not set on request.")
        check_payloads(request.signal_input, "signal input", self.limits)
        result = await start_workflow(self.history, ns, request, signal_with_start=True)
        return rr.SignalWithStartWorkflowExecutionResponse(
            run_id=result.run_id, started=result.started
        )

    # ------------------------------------------------------------------ requests

    async def SignalWorkflowExecution(
        self, request: rr.SignalWorkflowExecutionRequest, deadline: Deadline
    ) -> rr.SignalWorkflowExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        _require_workflow_id(request.workflow_execution.workflow_id)
        if not request.signal_name:
            raise InvalidArgument("SignalName is not set on request.")
        check_payloads(request.input, "signal input", self.limits)
        return await signal_workflow(self.history, ns, request)

    async def RequestCancelWorkflowExecution(
        self, request: rr.RequestCancelWorkflowExecutionRequest, deadline: Deadline
    ) -> rr.RequestCancelWorkflowExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        _require_workflow_id(request.workflow_execution.workflow_id)
        return await request_cancel_workflow(self.history, ns, request)

    async def TerminateWorkflowExecution(
        self, request: rr.TerminateWorkflowExecutionRequest, deadline: Deadline
    ) -> rr.TerminateWorkflowExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        _require_workflow_id(request.workflow_execution.workflow_id)
        check_payloads(request.details, "details", self.limits)
        return await terminate_workflow(self.history, ns, request)

    async def ResetStickyTaskQueue(
        self, request: rr.ResetStickyTaskQueueRequest, deadline: Deadline
    ) -> rr.ResetStickyTaskQueueResponse:
        ns = await self.namespaces.get(request.namespace)
        _require_workflow_id(request.execution.workflow_id)
        return await reset_sticky_task_queue(self.history, ns, request)

    # ------------------------------------------------------------------ reads

    async def DescribeWorkflowExecution(
        self, request: rr.DescribeWorkflowExecutionRequest, deadline: Deadline
    ) -> rr.DescribeWorkflowExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        _require_workflow_id(request.execution.workflow_id)
        resp = await describe_workflow(self.history, ns, request)
        self.annotate_search_attributes(ns, resp.workflow_execution_info)
        return resp

    def annotate_search_attributes(self, ns: Namespace, info: Any) -> None:
        """Describe and list return search attributes with their registered types."""
        if info.HasField("search_attributes"):
            from perdure.server.visibility import annotate_types

            info.search_attributes.CopyFrom(
                annotate_types(info.search_attributes, ns.search_attribute_aliases)
            )

    async def GetWorkflowExecutionHistory(
        self, request: rr.GetWorkflowExecutionHistoryRequest, deadline: Deadline
    ) -> rr.GetWorkflowExecutionHistoryResponse:
        ns = await self.namespaces.get(request.namespace)
        _require_workflow_id(request.execution.workflow_id)
        return await get_workflow_history(
            self.history, ns, request,
            wait_seconds=remaining_seconds(deadline, HISTORY_LONG_POLL_SECONDS),
        )  # fmt: skip

    async def GetWorkflowExecutionHistoryReverse(
        self, request: rr.GetWorkflowExecutionHistoryReverseRequest, deadline: Deadline
    ) -> rr.GetWorkflowExecutionHistoryReverseResponse:
        ns = await self.namespaces.get(request.namespace)
        _require_workflow_id(request.execution.workflow_id)
        return await get_workflow_history_reverse(self.history, ns, request)


def _require_workflow_id(workflow_id: str) -> None:
    if not workflow_id:
        raise InvalidArgument("WorkflowId is not set on request.")
    if len(workflow_id) > 1000:
        raise InvalidArgument("WorkflowId exceeds length limit.")
