"""Client interceptors: wrap every client call (mirrors ``temporalio.client``'s).

An :py:class:`Interceptor` given to ``Client.connect(interceptors=[...])`` returns an
:py:class:`OutboundInterceptor` that sees each call's ``*Input`` and passes it (changed
or not) to ``self.next``; the innermost one talks to the server. Inputs are mutable
dataclasses so an interceptor can, e.g., add ``headers`` for context propagation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as ws

from perdure.common import (
    Priority,
    QueryRejectCondition,
    RetryPolicy,
    SearchAttributes,
    TypedSearchAttributes,
    VersioningOverride,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from perdure.converter import DataConverter

if TYPE_CHECKING:
    from perdure.client._activity import AsyncActivityIDReference
    from perdure.client._executions import (
        WorkflowExecutionAsyncIterator,
        WorkflowExecutionCount,
        WorkflowExecutionDescription,
        WorkflowHistoryEventAsyncIterator,
        WorkflowHistoryEventFilterType,
    )
    from perdure.client._schedule import Schedule, ScheduleBackfill, ScheduleOverlapPolicy
    from perdure.client._schedule_info import (
        ScheduleAsyncIterator,
        ScheduleDescription,
        ScheduleHandle,
        ScheduleUpdate,
        ScheduleUpdateInput,
    )
    from perdure.client._workflow import WorkflowHandle, WorkflowUpdateHandle, WorkflowUpdateStage

Headers = Mapping[str, common_pb.Payload]
RpcMetadata = Mapping[str, str | bytes]


@dataclass
class StartWorkflowInput:
    """Input for :py:meth:`OutboundInterceptor.start_workflow`."""

    workflow: str
    args: Sequence[Any]
    id: str
    task_queue: str
    execution_timeout: timedelta | None
    run_timeout: timedelta | None
    task_timeout: timedelta | None
    id_reuse_policy: WorkflowIDReusePolicy
    id_conflict_policy: WorkflowIDConflictPolicy
    retry_policy: RetryPolicy | None
    cron_schedule: str
    memo: Mapping[str, Any] | None
    search_attributes: SearchAttributes | TypedSearchAttributes | None
    start_delay: timedelta | None
    headers: Headers
    start_signal: str | None
    start_signal_args: Sequence[Any]
    static_summary: str | None
    static_details: str | None
    ret_type: Any
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None
    request_eager_start: bool
    priority: Priority
    versioning_override: VersioningOverride | None = None


@dataclass
class CancelWorkflowInput:
    """Input for :py:meth:`OutboundInterceptor.cancel_workflow`."""

    id: str
    run_id: str | None
    first_execution_run_id: str | None
    reason: str
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class DescribeWorkflowInput:
    """Input for :py:meth:`OutboundInterceptor.describe_workflow`."""

    id: str
    run_id: str | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class FetchWorkflowHistoryEventsInput:
    """Input for :py:meth:`OutboundInterceptor.fetch_workflow_history_events`."""

    id: str
    run_id: str | None
    page_size: int | None
    next_page_token: bytes | None
    wait_new_event: bool
    event_filter_type: WorkflowHistoryEventFilterType
    skip_archival: bool
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class ListWorkflowsInput:
    """Input for :py:meth:`OutboundInterceptor.list_workflows`."""

    query: str | None
    page_size: int
    next_page_token: bytes | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None
    limit: int | None


@dataclass
class CountWorkflowsInput:
    """Input for :py:meth:`OutboundInterceptor.count_workflows`."""

    query: str | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class QueryWorkflowInput:
    """Input for :py:meth:`OutboundInterceptor.query_workflow`."""

    id: str
    run_id: str | None
    query: str
    args: Sequence[Any]
    reject_condition: QueryRejectCondition | None
    headers: Headers
    ret_type: Any
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class SignalWorkflowInput:
    """Input for :py:meth:`OutboundInterceptor.signal_workflow`."""

    id: str
    run_id: str | None
    signal: str
    args: Sequence[Any]
    headers: Headers
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class TerminateWorkflowInput:
    """Input for :py:meth:`OutboundInterceptor.terminate_workflow`."""

    id: str
    run_id: str | None
    first_execution_run_id: str | None
    args: Sequence[Any]
    reason: str | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class StartWorkflowUpdateInput:
    """Input for :py:meth:`OutboundInterceptor.start_workflow_update`."""

    id: str
    run_id: str | None
    first_execution_run_id: str | None
    update_id: str | None
    update: str
    args: Sequence[Any]
    wait_for_stage: WorkflowUpdateStage
    headers: Headers
    ret_type: Any
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class UpdateWithStartUpdateWorkflowInput:
    """The update half of :py:class:`StartWorkflowUpdateWithStartInput`."""

    update_id: str | None
    update: str
    args: Sequence[Any]
    wait_for_stage: WorkflowUpdateStage
    headers: Headers
    ret_type: Any


@dataclass
class UpdateWithStartStartWorkflowInput:
    """The start half of :py:class:`StartWorkflowUpdateWithStartInput`."""

    workflow: str
    args: Sequence[Any]
    id: str
    task_queue: str
    execution_timeout: timedelta | None
    run_timeout: timedelta | None
    task_timeout: timedelta | None
    id_reuse_policy: WorkflowIDReusePolicy
    id_conflict_policy: WorkflowIDConflictPolicy
    retry_policy: RetryPolicy | None
    cron_schedule: str
    memo: Mapping[str, Any] | None
    search_attributes: SearchAttributes | TypedSearchAttributes | None
    start_delay: timedelta | None
    headers: Headers
    static_summary: str | None
    static_details: str | None
    ret_type: Any
    priority: Priority
    versioning_override: VersioningOverride | None = None


@dataclass
class StartWorkflowUpdateWithStartInput:
    """Input for :py:meth:`OutboundInterceptor.start_update_with_start_workflow`.

    ``rpc_metadata`` and ``rpc_timeout`` apply to the one ``ExecuteMultiOperation`` call.
    """

    start_workflow_input: UpdateWithStartStartWorkflowInput
    update_workflow_input: UpdateWithStartUpdateWorkflowInput
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None
    _on_start: Callable[[ws.StartWorkflowExecutionResponse], None]
    _on_start_error: Callable[[BaseException], None]


@dataclass
class HeartbeatAsyncActivityInput:
    """Input for :py:meth:`OutboundInterceptor.heartbeat_async_activity`."""

    id_or_token: AsyncActivityIDReference | bytes
    details: Sequence[Any]
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None
    data_converter_override: DataConverter | None = None


@dataclass
class CompleteAsyncActivityInput:
    """Input for :py:meth:`OutboundInterceptor.complete_async_activity`."""

    id_or_token: AsyncActivityIDReference | bytes
    result: Any | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None
    data_converter_override: DataConverter | None = None


@dataclass
class FailAsyncActivityInput:
    """Input for :py:meth:`OutboundInterceptor.fail_async_activity`."""

    id_or_token: AsyncActivityIDReference | bytes
    error: Exception
    last_heartbeat_details: Sequence[Any]
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None
    data_converter_override: DataConverter | None = None


@dataclass
class ReportCancellationAsyncActivityInput:
    """Input for :py:meth:`OutboundInterceptor.report_cancellation_async_activity`."""

    id_or_token: AsyncActivityIDReference | bytes
    details: Sequence[Any]
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None
    data_converter_override: DataConverter | None = None


@dataclass
class CreateScheduleInput:
    """Input for :py:meth:`OutboundInterceptor.create_schedule`."""

    id: str
    schedule: Schedule
    trigger_immediately: bool
    backfill: Sequence[ScheduleBackfill]
    memo: Mapping[str, Any] | None
    search_attributes: SearchAttributes | TypedSearchAttributes | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class ListSchedulesInput:
    """Input for :py:meth:`OutboundInterceptor.list_schedules`."""

    page_size: int
    next_page_token: bytes | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None
    query: str | None = None


@dataclass
class BackfillScheduleInput:
    """Input for :py:meth:`OutboundInterceptor.backfill_schedule`."""

    id: str
    backfills: Sequence[ScheduleBackfill]
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class DeleteScheduleInput:
    """Input for :py:meth:`OutboundInterceptor.delete_schedule`."""

    id: str
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class DescribeScheduleInput:
    """Input for :py:meth:`OutboundInterceptor.describe_schedule`."""

    id: str
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class PauseScheduleInput:
    """Input for :py:meth:`OutboundInterceptor.pause_schedule`."""

    id: str
    note: str | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class TriggerScheduleInput:
    """Input for :py:meth:`OutboundInterceptor.trigger_schedule`."""

    id: str
    overlap: ScheduleOverlapPolicy | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class UnpauseScheduleInput:
    """Input for :py:meth:`OutboundInterceptor.unpause_schedule`."""

    id: str
    note: str | None
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


@dataclass
class UpdateScheduleInput:
    """Input for :py:meth:`OutboundInterceptor.update_schedule`."""

    id: str
    updater: Callable[
        [ScheduleUpdateInput], ScheduleUpdate | Awaitable[ScheduleUpdate | None] | None
    ]
    rpc_metadata: RpcMetadata
    rpc_timeout: timedelta | None


class Interceptor:
    """Base for client interceptors; override :py:meth:`intercept_client`."""

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        """Return the interceptor for calls of a client, wrapping ``next``."""
        return next


class OutboundInterceptor:
    """Sees every client call; each method's default passes the input to ``self.next``."""

    def __init__(self, next: OutboundInterceptor) -> None:
        """Wrap ``next``, the following interceptor in the chain."""
        self.next = next

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        """``Client.start_workflow`` (and ``execute_workflow``)."""
        return await self.next.start_workflow(input)

    async def cancel_workflow(self, input: CancelWorkflowInput) -> None:
        """``WorkflowHandle.cancel``."""
        await self.next.cancel_workflow(input)

    async def describe_workflow(self, input: DescribeWorkflowInput) -> WorkflowExecutionDescription:
        """``WorkflowHandle.describe``."""
        return await self.next.describe_workflow(input)

    def fetch_workflow_history_events(
        self, input: FetchWorkflowHistoryEventsInput
    ) -> WorkflowHistoryEventAsyncIterator:
        """``WorkflowHandle.fetch_history_events`` (and result waits)."""
        return self.next.fetch_workflow_history_events(input)

    def list_workflows(self, input: ListWorkflowsInput) -> WorkflowExecutionAsyncIterator:
        """``Client.list_workflows``."""
        return self.next.list_workflows(input)

    async def count_workflows(self, input: CountWorkflowsInput) -> WorkflowExecutionCount:
        """``Client.count_workflows``."""
        return await self.next.count_workflows(input)

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        """``WorkflowHandle.query``."""
        return await self.next.query_workflow(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        """``WorkflowHandle.signal``."""
        await self.next.signal_workflow(input)

    async def terminate_workflow(self, input: TerminateWorkflowInput) -> None:
        """``WorkflowHandle.terminate``."""
        await self.next.terminate_workflow(input)

    async def start_workflow_update(
        self, input: StartWorkflowUpdateInput
    ) -> WorkflowUpdateHandle[Any]:
        """``WorkflowHandle.start_update`` and ``execute_update``."""
        return await self.next.start_workflow_update(input)

    async def start_update_with_start_workflow(
        self, input: StartWorkflowUpdateWithStartInput
    ) -> WorkflowUpdateHandle[Any]:
        """``Client.start_update_with_start_workflow`` (and ``execute_...``)."""
        return await self.next.start_update_with_start_workflow(input)

    async def heartbeat_async_activity(self, input: HeartbeatAsyncActivityInput) -> None:
        """``AsyncActivityHandle.heartbeat``."""
        await self.next.heartbeat_async_activity(input)

    async def complete_async_activity(self, input: CompleteAsyncActivityInput) -> None:
        """``AsyncActivityHandle.complete``."""
        await self.next.complete_async_activity(input)

    async def fail_async_activity(self, input: FailAsyncActivityInput) -> None:
        """``AsyncActivityHandle.fail``."""
        await self.next.fail_async_activity(input)

    async def report_cancellation_async_activity(
        self, input: ReportCancellationAsyncActivityInput
    ) -> None:
        """``AsyncActivityHandle.report_cancellation``."""
        await self.next.report_cancellation_async_activity(input)

    async def create_schedule(self, input: CreateScheduleInput) -> ScheduleHandle:
        """``Client.create_schedule``."""
        return await self.next.create_schedule(input)

    def list_schedules(self, input: ListSchedulesInput) -> ScheduleAsyncIterator:
        """``Client.list_schedules``."""
        return self.next.list_schedules(input)

    async def backfill_schedule(self, input: BackfillScheduleInput) -> None:
        """``ScheduleHandle.backfill``."""
        await self.next.backfill_schedule(input)

    async def delete_schedule(self, input: DeleteScheduleInput) -> None:
        """``ScheduleHandle.delete``."""
        await self.next.delete_schedule(input)

    async def describe_schedule(self, input: DescribeScheduleInput) -> ScheduleDescription:
        """``ScheduleHandle.describe``."""
        return await self.next.describe_schedule(input)

    async def pause_schedule(self, input: PauseScheduleInput) -> None:
        """``ScheduleHandle.pause``."""
        await self.next.pause_schedule(input)

    async def trigger_schedule(self, input: TriggerScheduleInput) -> None:
        """``ScheduleHandle.trigger``."""
        await self.next.trigger_schedule(input)

    async def unpause_schedule(self, input: UnpauseScheduleInput) -> None:
        """``ScheduleHandle.unpause``."""
        await self.next.unpause_schedule(input)

    async def update_schedule(self, input: UpdateScheduleInput) -> None:
        """``ScheduleHandle.update``."""
        await self.next.update_schedule(input)
