"""A scripted stand-in for WorkflowService's activity RPCs, for unit tests."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from google.protobuf.message import Message
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceResponse,
    PollActivityTaskQueueRequest,
    PollActivityTaskQueueResponse,
    RecordActivityTaskHeartbeatRequest,
    RecordActivityTaskHeartbeatResponse,
    RespondActivityTaskCanceledResponse,
    RespondActivityTaskCompletedResponse,
    RespondActivityTaskFailedResponse,
    ShutdownWorkerResponse,
)

from perdure.service import RPCError, RPCStatusCode

_RESPONSES = ("completed", "failed", "canceled")


class FakeService:
    """Hands out queued tasks to polls and records every other call."""

    def __init__(self) -> None:
        self.tasks: asyncio.Queue[PollActivityTaskQueueResponse] = asyncio.Queue()
        self.polls: list[PollActivityTaskQueueRequest] = []
        self.calls: list[tuple[str, Message]] = []
        self.heartbeat_response = RecordActivityTaskHeartbeatResponse()
        self.heartbeat_not_found = False
        self.responded = asyncio.Event()
        self.poll_error: RPCError | None = None
        self.namespace_missing = False

    async def describe_namespace(self, req: Message, **_: Any) -> DescribeNamespaceResponse:
        self.calls.append(("describe_namespace", req))
        if self.namespace_missing:
            raise RPCError("Namespace nope is not found.", RPCStatusCode.NOT_FOUND, b"")
        return DescribeNamespaceResponse()

    async def shutdown_worker(self, req: Message, **_: Any) -> ShutdownWorkerResponse:
        self.calls.append(("shutdown_worker", req))
        return ShutdownWorkerResponse()

    async def poll_activity_task_queue(
        self, req: PollActivityTaskQueueRequest, **_: Any
    ) -> PollActivityTaskQueueResponse:
        self.polls.append(req)
        if self.poll_error is not None:
            raise self.poll_error
        return await self.tasks.get()

    async def record_activity_task_heartbeat(
        self, req: RecordActivityTaskHeartbeatRequest, **_: Any
    ) -> RecordActivityTaskHeartbeatResponse:
        self.calls.append(("heartbeat", req))
        if self.heartbeat_not_found:
            raise RPCError("not found", RPCStatusCode.NOT_FOUND, b"")
        return self.heartbeat_response

    async def respond_activity_task_completed(
        self, req: Message, **_: Any
    ) -> RespondActivityTaskCompletedResponse:
        self.calls.append(("completed", req))
        self.responded.set()
        return RespondActivityTaskCompletedResponse()

    async def respond_activity_task_failed(
        self, req: Message, **_: Any
    ) -> RespondActivityTaskFailedResponse:
        self.calls.append(("failed", req))
        self.responded.set()
        return RespondActivityTaskFailedResponse()

    async def respond_activity_task_canceled(
        self, req: Message, **_: Any
    ) -> RespondActivityTaskCanceledResponse:
        self.calls.append(("canceled", req))
        self.responded.set()
        return RespondActivityTaskCanceledResponse()

    def responses(self) -> list[tuple[str, Message]]:
        """The Respond* calls."""
        return [(kind, req) for kind, req in self.calls if kind in _RESPONSES]

    def heartbeats(self) -> list[Message]:
        return [req for kind, req in self.calls if kind == "heartbeat"]


def activity_task(
    activity_type: str,
    *,
    token: bytes = b"token-1",
    heartbeat_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    input: list[Any] | None = None,
) -> PollActivityTaskQueueResponse:
    """A task as the server would send it, with JSON-encoded input."""
    from perdure.converter import DataConverter

    task = PollActivityTaskQueueResponse(
        task_token=token,
        workflow_namespace="default",
        activity_id="1",
        attempt=1,
    )
    task.activity_type.name = activity_type
    task.workflow_type.name = "Wf"
    task.workflow_execution.workflow_id = "wf-1"
    task.workflow_execution.run_id = "run-1"
    task.scheduled_time.GetCurrentTime()
    task.started_time.GetCurrentTime()
    task.current_attempt_scheduled_time.GetCurrentTime()
    if heartbeat_timeout is not None:
        task.heartbeat_timeout.FromTimedelta(heartbeat_timeout)
    if start_to_close_timeout is not None:
        task.start_to_close_timeout.FromTimedelta(start_to_close_timeout)
    if input:
        task.input.payloads.extend(DataConverter.default.payload_converter.to_payloads(input))
    return task
