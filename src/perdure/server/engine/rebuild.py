"""Rebuild a run's mutable state from its history events.

Reset needs the state a run had at an earlier point, and history is the only record of
it: applying the events in order, the way the live transitions recorded them, gives the
pending activities, timers, children, external requests and updates, the signal and
cancellation bookkeeping, search attributes and memo, and the event counters.

What history does not hold cannot come back: whether a pending activity's attempt had
started (ActivityTaskStarted is written when the activity closes), retry attempts, the
sticky queue, request ids of starts, children and external requests, user metadata.
The caller (engine/reset.py) takes those from the live state where it needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from google.protobuf.message import Message
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.enums.v1 import task_queue_pb2 as tq_enums
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.history.v1 import message_pb2 as history_pb2

from perdure.server.engine.commands import merge_payload_map
from perdure.server.engine.execution import ATTRIBUTES_FIELD, HistoryEvent
from perdure.server.engine.retry import nanos
from perdure.server.engine.runs import STATUS_BY_CLOSE_EVENT
from perdure.server.engine.state import (
    ActivityInfo,
    ActivityState,
    ChildInfo,
    ExecutionState,
    ExternalRequestInfo,
    ParentInfo,
    TimerInfo,
    UpdateInfo,
    WorkflowTaskInfo,
)

M = TypeVar("M", bound=Message)
_REMEMBERED_SIGNAL_REQUEST_IDS = 1_000
"""As engine/requests.py: the newest signal request ids kept for deduplication."""


class RebuildError(Exception):
    """The events do not form a history the engine could have written."""


def rebuild(
    events: Iterable[HistoryEvent], *, namespace_id: str, workflow_id: str, run_id: str
) -> ExecutionState:
    """The state of run `run_id` right after the last of `events` (which start at 1)."""
    builder = _Builder(namespace_id, workflow_id, run_id)
    for event in events:
        builder.apply(event)
    if builder.state is None:
        raise RebuildError("a history starts with WorkflowExecutionStarted")
    return builder.state


Handler = Callable[["_Builder", ExecutionState, HistoryEvent, object], None]
_HANDLERS: dict[int, Handler] = {}


def _on(*event_types: int) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for event_type in event_types:
            _HANDLERS[event_type] = handler
        return handler

    return register


class _Builder:
    def __init__(self, namespace_id: str, workflow_id: str, run_id: str) -> None:
        self.namespace_id = namespace_id
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.state: ExecutionState | None = None

    def apply(self, event: HistoryEvent) -> None:
        st = self.state
        expected = 1 if st is None else st.next_event_id
        if event.event_id != expected:
            raise RebuildError(f"event {event.event_id} where event {expected} was expected")
        if st is None:
            if event.event_type != et.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                raise RebuildError("a history starts with WorkflowExecutionStarted")
            st = self.state = self._started(event)
        else:
            handler = _HANDLERS.get(event.event_type)
            if handler is not None:
                attrs = getattr(event, ATTRIBUTES_FIELD[event.event_type])
                handler(self, st, event, attrs)
        st.next_event_id = event.event_id + 1
        st.history_size_bytes += event.ByteSize()

    def _started(self, event: HistoryEvent) -> ExecutionState:
        a = event.workflow_execution_started_event_attributes
        start = event.event_time.ToNanoseconds()
        backoff = nanos(a.first_workflow_task_backoff)
        run_timeout = nanos(a.workflow_run_timeout)
        st = ExecutionState(
            namespace_id=self.namespace_id,
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            first_execution_run_id=a.first_execution_run_id or self.run_id,
            workflow_type=a.workflow_type.name,
            task_queue=a.task_queue.name,
            start_request_id="",
            start_time=start,
            execution_time=start + backoff,
            workflow_task_timeout=nanos(a.workflow_task_timeout),
            workflow_execution_timeout=nanos(a.workflow_execution_timeout),
            workflow_run_timeout=run_timeout,
            execution_expiration_time=(
                a.workflow_execution_expiration_time.ToNanoseconds()
                if a.HasField("workflow_execution_expiration_time")
                else 0
            ),
            run_expiration_time=start + backoff + run_timeout if run_timeout else 0,
            retry_policy=_copy(a.retry_policy) if a.HasField("retry_policy") else None,
            attempt=a.attempt or 1,
            cron_schedule=a.cron_schedule,
            priority=_copy(a.priority) if a.HasField("priority") else None,
            continued_from_run_id=a.continued_execution_run_id,
            last_completion_result=(
                _copy(a.last_completion_result) if a.HasField("last_completion_result") else None
            ),
            last_failure=_copy(a.continued_failure) if a.HasField("continued_failure") else None,
        )
        st.memo.CopyFrom(a.memo)
        st.search_attributes.CopyFrom(a.search_attributes)
        if a.HasField("parent_workflow_execution"):
            st.parent = ParentInfo(
                namespace=a.parent_workflow_namespace,
                namespace_id=a.parent_workflow_namespace_id,
                workflow_id=a.parent_workflow_execution.workflow_id,
                run_id=a.parent_workflow_execution.run_id,
                initiated_event_id=a.parent_initiated_event_id,
            )
        if a.HasField("root_workflow_execution"):
            st.root_workflow_id = a.root_workflow_execution.workflow_id
            st.root_run_id = a.root_workflow_execution.run_id
        else:
            st.root_workflow_id, st.root_run_id = self.workflow_id, self.run_id
        if backoff > 0:
            st.pending_first_workflow_task = True
            # A start delay: neither a retry nor a cron run (those continue a run).
            st.first_task_backoff_is_delay = not a.continued_execution_run_id and not a.initiator
        return st


def _copy(message: M) -> M:
    copied = type(message)()
    copied.CopyFrom(message)
    return copied


def _time(event: HistoryEvent) -> int:
    return int(event.event_time.ToNanoseconds())


# ---------------------------------------------------------------------------- workflow tasks


@_on(et.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)
def _wft_scheduled(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    a: history_pb2.WorkflowTaskScheduledEventAttributes = attrs  # type: ignore[assignment]
    st.wft_seq += 1
    sticky = a.task_queue.kind == tq_enums.TASK_QUEUE_KIND_STICKY
    st.workflow_task = WorkflowTaskInfo(
        seq=st.wft_seq,
        scheduled_event_id=event.event_id,
        attempt=a.attempt or 1,
        task_queue=a.task_queue.name,
        sticky=sticky,
        start_to_close_timeout=nanos(a.start_to_close_timeout),
        scheduled_time=_time(event),
        original_scheduled_time=_time(event),
    )
    st.sticky_task_queue = a.task_queue.name if sticky else st.sticky_task_queue
    st.pending_first_workflow_task = False


@_on(et.EVENT_TYPE_WORKFLOW_TASK_STARTED)
def _wft_started(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    a: history_pb2.WorkflowTaskStartedEventAttributes = attrs  # type: ignore[assignment]
    wt = st.workflow_task
    if wt is None or wt.scheduled_event_id != a.scheduled_event_id:
        raise RebuildError(f"event {event.event_id} starts a workflow task that is not pending")
    wt.started_event_id = event.event_id
    wt.started_time = _time(event)
    wt.identity = a.identity
    wt.request_id = a.request_id
    wt.started_event_written = True


@_on(et.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
def _wft_completed(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    a: history_pb2.WorkflowTaskCompletedEventAttributes = attrs  # type: ignore[assignment]
    st.last_workflow_task_started_event_id = a.started_event_id
    st.last_completed_workflow_task_event_id = event.event_id
    st.workflow_task = None


@_on(et.EVENT_TYPE_WORKFLOW_TASK_FAILED, et.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT)
def _wft_ended(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    st.workflow_task = None
    st.sticky_task_queue = ""


# ---------------------------------------------------------------------------- activities


@_on(et.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
def _activity_scheduled(
    b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object
) -> None:
    a: history_pb2.ActivityTaskScheduledEventAttributes = attrs  # type: ignore[assignment]
    st.activities[event.event_id] = ActivityInfo(
        scheduled_event_id=event.event_id,
        activity_id=a.activity_id,
        activity_type=a.activity_type.name,
        task_queue=a.task_queue.name,
        input=a.input.SerializeToString(),
        header=a.header.SerializeToString(),
        schedule_to_close_timeout=nanos(a.schedule_to_close_timeout),
        schedule_to_start_timeout=nanos(a.schedule_to_start_timeout),
        start_to_close_timeout=nanos(a.start_to_close_timeout),
        heartbeat_timeout=nanos(a.heartbeat_timeout),
        retry_policy=_copy(a.retry_policy),
        first_scheduled_time=_time(event),
        scheduled_time=_time(event),
        priority=_copy(a.priority) if a.HasField("priority") else None,
    )


@_on(et.EVENT_TYPE_ACTIVITY_TASK_STARTED)
def _activity_started(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    a: history_pb2.ActivityTaskStartedEventAttributes = attrs  # type: ignore[assignment]
    info = st.activities.get(a.scheduled_event_id)
    if info is None:
        raise RebuildError(f"event {event.event_id} starts an activity that is not pending")
    info.state = ActivityState.STARTED
    info.attempt = a.attempt or 1
    info.started_time = _time(event)
    info.started_identity = a.identity
    info.started_request_id = a.request_id
    if a.HasField("last_failure"):
        info.last_failure = _copy(a.last_failure)


@_on(
    et.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    et.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    et.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    et.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
)
def _activity_closed(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    st.activities.pop(attrs.scheduled_event_id, None)  # type: ignore[attr-defined]


@_on(et.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED)
def _activity_cancel_requested(
    b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object
) -> None:
    info = st.activities.get(attrs.scheduled_event_id)  # type: ignore[attr-defined]
    if info is not None:
        info.cancel_requested = True
        info.cancel_requested_event_id = event.event_id


# ---------------------------------------------------------------------------- timers


@_on(et.EVENT_TYPE_TIMER_STARTED)
def _timer_started(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    a: history_pb2.TimerStartedEventAttributes = attrs  # type: ignore[assignment]
    expiry = _time(event) + nanos(a.start_to_fire_timeout)
    st.timers[a.timer_id] = TimerInfo(a.timer_id, event.event_id, expiry)


@_on(et.EVENT_TYPE_TIMER_FIRED, et.EVENT_TYPE_TIMER_CANCELED)
def _timer_ended(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    st.timers.pop(attrs.timer_id, None)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- requests


@_on(et.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
def _signaled(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    request_id = attrs.request_id  # type: ignore[attr-defined]
    st.signal_count += 1
    if request_id:
        st.signal_request_ids.append(request_id)
        del st.signal_request_ids[:-_REMEMBERED_SIGNAL_REQUEST_IDS]


@_on(et.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED)
def _cancel_requested(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    st.cancel_requested = True


@_on(et.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES)
def _upserted(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    merge_payload_map(
        st.search_attributes.indexed_fields,
        attrs.search_attributes.indexed_fields,  # type: ignore[attr-defined]
    )


@_on(et.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED)
def _modified(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    merge_payload_map(st.memo.fields, attrs.upserted_memo.fields)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- children


@_on(et.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED)
def _child_initiated(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    a: history_pb2.StartChildWorkflowExecutionInitiatedEventAttributes = attrs  # type: ignore[assignment]
    st.children[event.event_id] = ChildInfo(
        initiated_event_id=event.event_id,
        workflow_id=a.workflow_id,
        workflow_type=a.workflow_type.name,
        namespace=a.namespace,
        namespace_id=a.namespace_id,
        parent_close_policy=a.parent_close_policy,
    )


@_on(et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED)
def _child_started(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    a: history_pb2.ChildWorkflowExecutionStartedEventAttributes = attrs  # type: ignore[assignment]
    child = st.children.get(a.initiated_event_id)
    if child is None:
        raise RebuildError(f"event {event.event_id} starts a child that was not initiated")
    child.run_id = a.workflow_execution.run_id
    child.started_event_id = event.event_id
    child.namespace_id = a.namespace_id or child.namespace_id


@_on(
    et.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED,
    et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED,
    et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED,
    et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED,
    et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT,
    et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED,
)
def _child_ended(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    st.children.pop(attrs.initiated_event_id, None)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- external requests


@_on(et.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED)
def _signal_initiated(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    a: history_pb2.SignalExternalWorkflowExecutionInitiatedEventAttributes = attrs  # type: ignore[assignment]
    st.external_signals[event.event_id] = ExternalRequestInfo(
        initiated_event_id=event.event_id,
        namespace=a.namespace,
        namespace_id=a.namespace_id,
        workflow_id=a.workflow_execution.workflow_id,
        run_id=a.workflow_execution.run_id,
        request_id="",
        signal_name=a.signal_name,
        child_workflow_only=a.child_workflow_only,
    )


@_on(et.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED)
def _cancel_initiated(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    a: history_pb2.RequestCancelExternalWorkflowExecutionInitiatedEventAttributes = attrs  # type: ignore[assignment]
    st.external_cancels[event.event_id] = ExternalRequestInfo(
        initiated_event_id=event.event_id,
        namespace=a.namespace,
        namespace_id=a.namespace_id,
        workflow_id=a.workflow_execution.workflow_id,
        run_id=a.workflow_execution.run_id,
        request_id="",
        child_workflow_only=a.child_workflow_only,
    )


@_on(
    et.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED,
    et.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED,
)
def _signal_ended(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    st.external_signals.pop(attrs.initiated_event_id, None)  # type: ignore[attr-defined]


@_on(
    et.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
    et.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED,
)
def _cancel_ended(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    st.external_cancels.pop(attrs.initiated_event_id, None)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- updates


@_on(et.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED)
def _update_admitted(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    a: history_pb2.WorkflowExecutionUpdateAdmittedEventAttributes = attrs  # type: ignore[assignment]
    update_id = a.request.meta.update_id
    st.updates[update_id] = UpdateInfo(
        update_id, request=a.request.SerializeToString(), admitted_time=_time(event)
    )


@_on(et.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
def _update_accepted(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    a: history_pb2.WorkflowExecutionUpdateAcceptedEventAttributes = attrs  # type: ignore[assignment]
    info = st.updates.setdefault(a.protocol_instance_id, UpdateInfo(a.protocol_instance_id))
    info.accepted_event_id = event.event_id
    info.request = b""


@_on(et.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED)
def _update_completed(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    a: history_pb2.WorkflowExecutionUpdateCompletedEventAttributes = attrs  # type: ignore[assignment]
    info = st.updates.setdefault(a.meta.update_id, UpdateInfo(a.meta.update_id))
    info.completed_event_id = event.event_id


# ---------------------------------------------------------------------------- closing


@_on(*STATUS_BY_CLOSE_EVENT)
def _closed(b: _Builder, st: ExecutionState, event: HistoryEvent, attrs: object) -> None:
    st.status = STATUS_BY_CLOSE_EVENT[event.event_type]
    st.close_time = _time(event)
    st.close_event_id = event.event_id
    st.new_execution_run_id = getattr(attrs, "new_execution_run_id", "")
    st.workflow_task = None
    st.activities.clear()
    st.timers.clear()
    st.pending_first_workflow_task = False
    if st.status == wf_enums.WORKFLOW_EXECUTION_STATUS_COMPLETED:
        result = attrs.result  # type: ignore[attr-defined]
        if attrs.HasField("result"):  # type: ignore[attr-defined]
            st.last_completion_result = _copy(result)
