"""Command attributes exactly as the official SDK puts them on the wire, and Info from history.

Every builder here sets the same fields temporalio (through sdk-core) sets: explicit task
queues with kind NORMAL, an empty ``header`` and ``priority``, ``use_workflow_build_id`` /
``inherit_build_id`` when the target is this worker's task queue, timeouts only when given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.command.v1 import (
    ContinueAsNewWorkflowExecutionCommandAttributes,
    RequestCancelExternalWorkflowExecutionCommandAttributes,
    ScheduleActivityTaskCommandAttributes,
    SignalExternalWorkflowExecutionCommandAttributes,
    StartChildWorkflowExecutionCommandAttributes,
)
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import TaskQueueKind
from temporalio.api.history.v1 import WorkflowExecutionStartedEventAttributes

import perdure.common
import perdure.converter
from perdure.workflow import Info, ParentInfo, RootInfo, VersioningIntent

_NORMAL = TaskQueueKind.TASK_QUEUE_KIND_NORMAL


def _use_compatible(intent: VersioningIntent | None, target: str, own: str) -> bool:
    """sdk-core's rule: compatible intent, or no intent and the same task queue."""
    if intent is VersioningIntent.COMPATIBLE:
        return True
    if intent is VersioningIntent.DEFAULT:
        return False
    return not target or target == own


def _set_timeout(message: Any, field: str, value: timedelta | None) -> None:
    if value:
        getattr(message, field).FromTimedelta(value)


def schedule_activity(
    *,
    activity_id: str,
    activity_type: str,
    task_queue: str,
    own_task_queue: str,
    payloads: Sequence[Payload],
    headers: Mapping[str, Payload],
    schedule_to_close_timeout: timedelta | None,
    schedule_to_start_timeout: timedelta | None,
    start_to_close_timeout: timedelta | None,
    heartbeat_timeout: timedelta | None,
    retry_policy: perdure.common.RetryPolicy | None,
    versioning_intent: VersioningIntent | None,
    priority: perdure.common.Priority,
) -> ScheduleActivityTaskCommandAttributes:
    """ScheduleActivityTask attributes (eager execution is decided at completion time)."""
    attrs = ScheduleActivityTaskCommandAttributes(activity_id=activity_id)
    attrs.activity_type.name = activity_type
    attrs.task_queue.name = task_queue
    attrs.task_queue.kind = _NORMAL
    attrs.header.SetInParent()
    for key, value in headers.items():
        attrs.header.fields[key].CopyFrom(value)
    if payloads:
        attrs.input.payloads.extend(payloads)
    _set_timeout(attrs, "schedule_to_close_timeout", schedule_to_close_timeout)
    _set_timeout(attrs, "schedule_to_start_timeout", schedule_to_start_timeout)
    _set_timeout(attrs, "start_to_close_timeout", start_to_close_timeout)
    _set_timeout(attrs, "heartbeat_timeout", heartbeat_timeout)
    if retry_policy is not None:
        retry_policy.apply_to_proto(attrs.retry_policy)
    attrs.use_workflow_build_id = _use_compatible(versioning_intent, task_queue, own_task_queue)
    attrs.priority.CopyFrom(priority._to_proto())
    return attrs


def start_child_workflow(
    *,
    namespace: str,
    workflow_id: str,
    workflow_type: str,
    task_queue: str,
    own_task_queue: str,
    payloads: Sequence[Payload],
    headers: Mapping[str, Payload],
    execution_timeout: timedelta | None,
    run_timeout: timedelta | None,
    task_timeout: timedelta | None,
    parent_close_policy: int,
    id_reuse_policy: int,
    retry_policy: perdure.common.RetryPolicy | None,
    cron_schedule: str,
    memo: Mapping[str, Payload],
    search_attributes: perdure.common.SearchAttributes
    | perdure.common.TypedSearchAttributes
    | None,
    versioning_intent: VersioningIntent | None,
    priority: perdure.common.Priority,
) -> StartChildWorkflowExecutionCommandAttributes:
    """StartChildWorkflowExecution attributes."""
    attrs = StartChildWorkflowExecutionCommandAttributes(
        namespace=namespace,
        workflow_id=workflow_id,
        parent_close_policy=parent_close_policy,  # type: ignore[arg-type]
        workflow_id_reuse_policy=id_reuse_policy,  # type: ignore[arg-type]
        cron_schedule=cron_schedule,
    )
    attrs.workflow_type.name = workflow_type
    attrs.task_queue.name = task_queue
    attrs.task_queue.kind = _NORMAL
    if payloads:
        attrs.input.payloads.extend(payloads)
    _set_timeout(attrs, "workflow_execution_timeout", execution_timeout)
    _set_timeout(attrs, "workflow_run_timeout", run_timeout)
    _set_timeout(attrs, "workflow_task_timeout", task_timeout)
    if retry_policy is not None:
        retry_policy.apply_to_proto(attrs.retry_policy)
    attrs.header.SetInParent()
    for key, value in headers.items():
        attrs.header.fields[key].CopyFrom(value)
    attrs.memo.SetInParent()
    for key, value in memo.items():
        attrs.memo.fields[key].CopyFrom(value)
    if search_attributes:
        perdure.converter.encode_search_attributes(search_attributes, attrs.search_attributes)
    attrs.inherit_build_id = _use_compatible(versioning_intent, task_queue, own_task_queue)
    attrs.priority.CopyFrom(priority._to_proto())
    return attrs


def continue_as_new(
    *,
    workflow_type: str,
    task_queue: str,
    own_task_queue: str,
    payloads: Sequence[Payload],
    headers: Mapping[str, Payload],
    run_timeout: timedelta | None,
    task_timeout: timedelta | None,
    backoff_start_interval: timedelta | None,
    retry_policy: perdure.common.RetryPolicy | None,
    memo: Mapping[str, Payload] | None,
    search_attributes: perdure.common.SearchAttributes
    | perdure.common.TypedSearchAttributes
    | None,
    versioning_intent: VersioningIntent | None,
    initial_versioning_behavior: int | None,
    started: WorkflowExecutionStartedEventAttributes | None,
) -> ContinueAsNewWorkflowExecutionCommandAttributes:
    """ContinueAsNew attributes; memo, search attributes and retry policy carry over."""
    attrs = ContinueAsNewWorkflowExecutionCommandAttributes()
    attrs.workflow_type.name = workflow_type
    attrs.task_queue.name = task_queue
    attrs.task_queue.kind = _NORMAL
    if payloads:
        attrs.input.payloads.extend(payloads)
    _set_timeout(attrs, "workflow_run_timeout", run_timeout)
    _set_timeout(attrs, "workflow_task_timeout", task_timeout)
    _set_timeout(attrs, "backoff_start_interval", backoff_start_interval)
    if headers:
        for key, value in headers.items():
            attrs.header.fields[key].CopyFrom(value)
    if memo:
        for key, value in memo.items():
            attrs.memo.fields[key].CopyFrom(value)
    elif started is not None and started.memo.fields:
        attrs.memo.CopyFrom(started.memo)
    if search_attributes:
        perdure.converter.encode_search_attributes(search_attributes, attrs.search_attributes)
    elif started is not None and started.search_attributes.indexed_fields:
        attrs.search_attributes.CopyFrom(started.search_attributes)
    if retry_policy is not None:
        retry_policy.apply_to_proto(attrs.retry_policy)
    elif started is not None and started.HasField("retry_policy"):
        attrs.retry_policy.CopyFrom(started.retry_policy)
    attrs.inherit_build_id = _use_compatible(versioning_intent, task_queue, own_task_queue)
    if initial_versioning_behavior:
        attrs.initial_versioning_behavior = initial_versioning_behavior  # type: ignore[assignment]
    return attrs


def signal_external(
    *,
    namespace: str,
    workflow_id: str,
    run_id: str | None,
    signal: str,
    payloads: Sequence[Payload],
    headers: Mapping[str, Payload],
    child_workflow_only: bool,
) -> SignalExternalWorkflowExecutionCommandAttributes:
    """SignalExternalWorkflowExecution attributes."""
    attrs = SignalExternalWorkflowExecutionCommandAttributes(
        namespace=namespace, signal_name=signal, child_workflow_only=child_workflow_only
    )
    attrs.execution.workflow_id = workflow_id
    attrs.execution.run_id = run_id or ""
    if payloads:
        attrs.input.payloads.extend(payloads)
    for key, value in headers.items():
        attrs.header.fields[key].CopyFrom(value)
    return attrs


def cancel_external(
    *, namespace: str, workflow_id: str, run_id: str | None, reason: str
) -> RequestCancelExternalWorkflowExecutionCommandAttributes:
    """RequestCancelExternalWorkflowExecution attributes."""
    return RequestCancelExternalWorkflowExecutionCommandAttributes(
        namespace=namespace, workflow_id=workflow_id, run_id=run_id or "", reason=reason
    )


def _duration(message: Any, field: str) -> timedelta | None:
    if message.HasField(field):
        value: timedelta = getattr(message, field).ToTimedelta()
        return value
    return None


def info_from_start(
    attrs: WorkflowExecutionStartedEventAttributes,
    *,
    namespace: str,
    workflow_id: str,
    run_id: str,
    workflow_start_time: datetime,
    task_start_time: datetime,
) -> Info:
    """The workflow's Info from its WorkflowExecutionStarted event."""
    parent = None
    if attrs.HasField("parent_workflow_execution"):
        parent = ParentInfo(
            namespace=attrs.parent_workflow_namespace,
            run_id=attrs.parent_workflow_execution.run_id,
            workflow_id=attrs.parent_workflow_execution.workflow_id,
        )
    root = None
    if attrs.HasField("root_workflow_execution"):
        root = RootInfo(
            run_id=attrs.root_workflow_execution.run_id,
            workflow_id=attrs.root_workflow_execution.workflow_id,
        )
    return Info(
        attempt=attrs.attempt or 1,
        continued_run_id=attrs.continued_execution_run_id or None,
        cron_schedule=attrs.cron_schedule or None,
        execution_timeout=_duration(attrs, "workflow_execution_timeout"),
        first_execution_run_id=attrs.first_execution_run_id or run_id,
        headers=dict(attrs.header.fields),
        namespace=namespace,
        original_execution_run_id=attrs.original_execution_run_id or run_id,
        parent=parent,
        root=root,
        priority=perdure.common.Priority._from_proto(attrs.priority),
        raw_memo=dict(attrs.memo.fields),
        retry_policy=(
            perdure.common.RetryPolicy.from_proto(attrs.retry_policy)
            if attrs.HasField("retry_policy")
            else None
        ),
        run_id=run_id,
        run_timeout=_duration(attrs, "workflow_run_timeout"),
        search_attributes=perdure.converter.decode_search_attributes(attrs.search_attributes),
        start_time=task_start_time.replace(tzinfo=UTC),
        task_queue=attrs.task_queue.name,
        task_timeout=_duration(attrs, "workflow_task_timeout") or timedelta(seconds=10),
        typed_search_attributes=perdure.converter.decode_typed_search_attributes(
            attrs.search_attributes
        ),
        workflow_id=workflow_id,
        workflow_start_time=workflow_start_time.replace(tzinfo=UTC),
        workflow_type=attrs.workflow_type.name,
    )
