"""What each history event does to a run's state: one applier per event type.

This is the only place that says it. The live transitions build an event and hand it to
`Execution.append` (or `append_external`), which writes it and applies it here;
engine/rebuild.py replays a stored history through the same `APPLIERS` table (reset,
cache loss). So a state rebuilt from history equals the live one, except for what
history does not record: `NOT_REBUILT` names those fields with the reason, and the live
transitions set them outside the appliers.

WorkflowExecutionStarted is the one event that makes a state instead of changing one
(`initial_state`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from google.protobuf.message import Message
from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.enums.v1 import task_queue_pb2 as tq_enums
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.history.v1 import message_pb2 as history_pb2

from perdure.server.engine import build_ids, reset_points
from perdure.server.engine.retry import nanos
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

HistoryEvent = history_pb2.HistoryEvent
Applier = Callable[[ExecutionState, HistoryEvent], None]
M = TypeVar("M", bound=Message)

REMEMBERED_SIGNAL_REQUEST_IDS = 1_000
"""The newest signal request ids kept for deduplication."""

STATUS_BY_CLOSE_EVENT: dict[int, int] = {
    et.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: wf_enums.WORKFLOW_EXECUTION_STATUS_COMPLETED,
    et.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: wf_enums.WORKFLOW_EXECUTION_STATUS_FAILED,
    et.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: wf_enums.WORKFLOW_EXECUTION_STATUS_CANCELED,
    et.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: wf_enums.WORKFLOW_EXECUTION_STATUS_TERMINATED,
    et.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: wf_enums.WORKFLOW_EXECUTION_STATUS_TIMED_OUT,
    et.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: (
        wf_enums.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW
    ),
}

NOT_REBUILT: dict[str, str] = {
    "ExecutionState.start_request_id": "request ids are not written in the started event",
    "ExecutionState.request_ids": "request ids of starts and signal-with-starts, likewise",
    "ExecutionState.cancel_request_id": "the cancellation request's id, likewise",
    "ExecutionState.user_metadata": "the start's user metadata is kept in state only",
    "ExecutionState.root_run_id": (
        "after continue-as-new the root is the chain's first run, which the started event "
        "of a top-level workflow does not name"
    ),
    "ExecutionState.wft_seq": "counts transient attempts and sticky-task moves too",
    "ExecutionState.sticky_task_queue": "set by each completion's sticky attributes",
    "ExecutionState.sticky_schedule_to_start_timeout": "likewise",
    "ExecutionState.state_transition_count": "counts commits (server/history), not events",
    "ExecutionState.new_execution_run_id": (
        "a run terminated to make room for a new run (TERMINATE_EXISTING) names it; "
        "its WorkflowExecutionTerminated event cannot"
    ),
    "ExecutionState.reset_run_id": "written when a later reset replaces this run",
    "ExecutionState.original_start_time": "of a reset run: the base run's start",
    "ExecutionState.last_reset_time": "of a reset run: when the reset happened",
    "ExecutionState.start_time (reset run)": (
        "a reset run starts at the reset; its started event is the base run's"
    ),
    "ExecutionState.execution_time (reset run)": "likewise",
    "ExecutionState.run_expiration_time (reset run)": "likewise",
    "ExecutionState.workflow_task (unwritten)": (
        "a transient attempt or a speculative task writes its events only when it completes"
    ),
    "ExecutionState.updates (not accepted)": (
        "admitted and rejected updates leave no event (Temporal writes none either), but "
        "for those a reset reapplied (WorkflowExecutionUpdateAdmitted)"
    ),
    "WorkflowTaskInfo.seq": "names task rows and timers; counts unwritten tasks too",
    "WorkflowTaskInfo.original_scheduled_time": "spans a chain of force-created tasks",
    "ActivityInfo.attempt": "retried attempts write no event until the activity closes",
    "ActivityInfo.state": "ActivityTaskStarted is written only when the activity closes",
    "ActivityInfo.scheduled_time": "of the current attempt, likewise",
    "ActivityInfo.started_time": "likewise",
    "ActivityInfo.started_identity": "likewise",
    "ActivityInfo.started_request_id": "likewise",
    "ActivityInfo.started_build_id": "likewise",
    "ActivityInfo.last_failure": "failures of retried attempts, likewise",
    "ActivityInfo.last_worker_identity": "likewise",
    "ActivityInfo.last_heartbeat_time": "heartbeats write no events",
    "ActivityInfo.heartbeat_details": "likewise",
    "ActivityInfo.paused": "pausing writes no event",
    "ActivityInfo.pause_time": "likewise",
    "ActivityInfo.pause_identity": "likewise",
    "ActivityInfo.pause_reason": "likewise",
    "ActivityInfo.reset_requested": "resetting writes no event",
    "ChildInfo.run_id": (
        "a child that starts after its parent closed is noted in state only (a closed run "
        "writes no events); ChildWorkflowExecutionStarted records the others"
    ),
    "ChildInfo.create_request_id": "the request id that starts the child exactly once",
    "ExternalRequestInfo.request_id": "the request id that delivers the request exactly once",
    "UpdateInfo.admitted_time": "admission writes no event",
    "UpdateInfo.delivered_to_task": "delivery writes no event",
    "UpdateInfo.aborted": "an update aborted before acceptance leaves no event",
}
"""Fields of the state that no event records, with the reason ("Class.field")."""


class HistoryMismatch(Exception):
    """An event that does not fit the state: not a history the engine could have written."""


def apply(st: ExecutionState, event: HistoryEvent) -> None:
    """What `event` does to the run's state (event counters are the writer's business)."""
    applier = APPLIERS.get(event.event_type)
    if applier is None:
        name = et.EventType.Name(event.event_type)  # type: ignore[arg-type]
        raise HistoryMismatch(f"event {event.event_id}: no applier for {name}")
    applier(st, event)


def _copy(message: M) -> M:
    copied = type(message)()
    copied.CopyFrom(message)
    return copied


def _time(event: HistoryEvent) -> int:
    return int(event.event_time.ToNanoseconds())


# ---------------------------------------------------------------------------- the run


def initial_state(
    event: HistoryEvent, *, namespace_id: str, workflow_id: str, run_id: str
) -> ExecutionState:
    """The state a WorkflowExecutionStarted event makes (before it is counted as written)."""
    if event.event_type != et.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        raise HistoryMismatch("a history starts with WorkflowExecutionStarted")
    a = event.workflow_execution_started_event_attributes
    start = _time(event)
    backoff = nanos(a.first_workflow_task_backoff)
    run_timeout = nanos(a.workflow_run_timeout)
    st = ExecutionState(
        namespace_id=namespace_id,
        workflow_id=workflow_id,
        run_id=run_id,
        first_execution_run_id=a.first_execution_run_id or run_id,
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
    st.auto_reset_points.CopyFrom(a.prev_auto_reset_points)
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
        st.root_workflow_id, st.root_run_id = workflow_id, run_id
    if backoff > 0:
        st.pending_first_workflow_task = True
        # A start delay, which a signal cuts short: not a retry, cron or continued run.
        st.first_task_backoff_is_delay = (
            not a.continued_execution_run_id and not a.initiator and not a.cron_schedule
        )
    return st


def _closed(st: ExecutionState, event: HistoryEvent) -> None:
    attrs = getattr(event, event.WhichOneof("attributes") or "")
    st.status = STATUS_BY_CLOSE_EVENT[event.event_type]
    st.close_time = _time(event)
    st.close_event_id = event.event_id
    st.new_execution_run_id = getattr(attrs, "new_execution_run_id", "")
    st.workflow_task = None
    # Pending activities stay as they were at the close: describe lists them, as Temporal
    # does; every request about one checks that the run is still open.
    st.timers.clear()
    st.pending_first_workflow_task = False
    if event.event_type == et.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        completed = event.workflow_execution_completed_event_attributes
        if completed.HasField("result"):
            st.last_completion_result = _copy(completed.result)


# ---------------------------------------------------------------------------- workflow tasks


def _workflow_task_scheduled(st: ExecutionState, event: HistoryEvent) -> None:
    a = event.workflow_task_scheduled_event_attributes
    wt = st.workflow_task
    if wt is not None and not wt.scheduled_event_written:
        # A speculative task turned out to be needed: only now is its event written.
        wt.scheduled_event_id = event.event_id
        wt.scheduled_event_written = True
        return
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
    if sticky:
        st.sticky_task_queue = a.task_queue.name
    st.pending_first_workflow_task = False


def _workflow_task_started(st: ExecutionState, event: HistoryEvent) -> None:
    a = event.workflow_task_started_event_attributes
    wt = st.workflow_task
    if wt is None or wt.scheduled_event_id != a.scheduled_event_id:
        raise HistoryMismatch(f"event {event.event_id} starts a workflow task that is not pending")
    wt.started_event_id = event.event_id
    wt.started_time = _time(event)
    wt.identity = a.identity
    wt.request_id = a.request_id
    wt.build_id = a.worker_version.build_id
    wt.started_event_written = True


def _workflow_task_completed(st: ExecutionState, event: HistoryEvent) -> None:
    a = event.workflow_task_completed_event_attributes
    st.last_workflow_task_started_event_id = a.started_event_id
    st.last_completed_workflow_task_event_id = event.event_id
    st.workflow_task = None
    reset_points.add_from_completion(st, event)
    build_ids.add_from_completion(st, event)


def _workflow_task_ended(st: ExecutionState, event: HistoryEvent) -> None:
    """Failed or timed out: the next task goes to the normal queue (the worker may be gone)."""
    st.workflow_task = None
    st.sticky_task_queue = ""


# ---------------------------------------------------------------------------- activities


def _activity_scheduled(st: ExecutionState, event: HistoryEvent) -> None:
    a = event.activity_task_scheduled_event_attributes
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


def _activity_started(st: ExecutionState, event: HistoryEvent) -> None:
    a = event.activity_task_started_event_attributes
    info = st.activities.get(a.scheduled_event_id)
    if info is None:
        raise HistoryMismatch(f"event {event.event_id} starts an activity that is not pending")
    info.state = ActivityState.STARTED
    info.attempt = a.attempt or 1
    info.started_time = _time(event)
    info.started_identity = a.identity
    info.started_request_id = a.request_id
    info.started_build_id = a.worker_version.build_id
    if a.HasField("last_failure"):
        info.last_failure = _copy(a.last_failure)


def _activity_closed(st: ExecutionState, event: HistoryEvent) -> None:
    attrs = getattr(event, event.WhichOneof("attributes") or "")
    st.activities.pop(attrs.scheduled_event_id, None)


def _activity_cancel_requested(st: ExecutionState, event: HistoryEvent) -> None:
    a = event.activity_task_cancel_requested_event_attributes
    info = st.activities.get(a.scheduled_event_id)
    if info is not None:
        info.cancel_requested = True
        info.cancel_requested_event_id = event.event_id


# ---------------------------------------------------------------------------- timers


def _timer_started(st: ExecutionState, event: HistoryEvent) -> None:
    a = event.timer_started_event_attributes
    expiry = _time(event) + nanos(a.start_to_fire_timeout)
    st.timers[a.timer_id] = TimerInfo(a.timer_id, event.event_id, expiry)


def _timer_fired(st: ExecutionState, event: HistoryEvent) -> None:
    st.timers.pop(event.timer_fired_event_attributes.timer_id, None)


def _timer_canceled(st: ExecutionState, event: HistoryEvent) -> None:
    st.timers.pop(event.timer_canceled_event_attributes.timer_id, None)


# ---------------------------------------------------------------------------- requests


def _signaled(st: ExecutionState, event: HistoryEvent) -> None:
    request_id = event.workflow_execution_signaled_event_attributes.request_id
    st.signal_count += 1
    if request_id:
        st.signal_request_ids.append(request_id)
        del st.signal_request_ids[:-REMEMBERED_SIGNAL_REQUEST_IDS]


def _cancel_requested(st: ExecutionState, event: HistoryEvent) -> None:
    st.cancel_requested = True


def is_removal(payload: common_pb2.Payload) -> bool:
    """A null value in an upsert removes the key (memo and search attributes)."""
    encoding = payload.metadata.get("encoding", b"")
    return encoding == b"binary/null" or not payload.data or payload.data in (b"null", b"[]")


def _merge(target: object, updates: object) -> None:
    """Upsert `updates` into `target` (both proto maps of str -> Payload)."""
    for key, payload in updates.items():  # type: ignore[attr-defined]
        if is_removal(payload):
            target.pop(key, None)  # type: ignore[attr-defined]
        else:
            target[key].CopyFrom(payload)  # type: ignore[index]


def _search_attributes_upserted(st: ExecutionState, event: HistoryEvent) -> None:
    upserted = event.upsert_workflow_search_attributes_event_attributes.search_attributes
    _merge(st.search_attributes.indexed_fields, upserted.indexed_fields)


def _properties_modified(st: ExecutionState, event: HistoryEvent) -> None:
    _merge(st.memo.fields, event.workflow_properties_modified_event_attributes.upserted_memo.fields)


def _no_state(st: ExecutionState, event: HistoryEvent) -> None:
    """The event is a record for the worker only (markers)."""


# ---------------------------------------------------------------------------- children


def _child_initiated(st: ExecutionState, event: HistoryEvent) -> None:
    a = event.start_child_workflow_execution_initiated_event_attributes
    st.children[event.event_id] = ChildInfo(
        initiated_event_id=event.event_id,
        workflow_id=a.workflow_id,
        workflow_type=a.workflow_type.name,
        namespace=a.namespace,
        namespace_id=a.namespace_id,
        parent_close_policy=a.parent_close_policy,
    )


def _child_started(st: ExecutionState, event: HistoryEvent) -> None:
    a = event.child_workflow_execution_started_event_attributes
    child = st.children.get(a.initiated_event_id)
    if child is None:
        raise HistoryMismatch(f"event {event.event_id} starts a child that was not initiated")
    child.run_id = a.workflow_execution.run_id
    # 0 while the event is buffered: Execution.flush_buffered sets it when it is written.
    child.started_event_id = event.event_id
    child.namespace_id = a.namespace_id or child.namespace_id


def _child_ended(st: ExecutionState, event: HistoryEvent) -> None:
    attrs = getattr(event, event.WhichOneof("attributes") or "")
    st.children.pop(attrs.initiated_event_id, None)


# ---------------------------------------------------------------------------- external requests


def _signal_initiated(st: ExecutionState, event: HistoryEvent) -> None:
    a = event.signal_external_workflow_execution_initiated_event_attributes
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


def _cancel_initiated(st: ExecutionState, event: HistoryEvent) -> None:
    a = event.request_cancel_external_workflow_execution_initiated_event_attributes
    st.external_cancels[event.event_id] = ExternalRequestInfo(
        initiated_event_id=event.event_id,
        namespace=a.namespace,
        namespace_id=a.namespace_id,
        workflow_id=a.workflow_execution.workflow_id,
        run_id=a.workflow_execution.run_id,
        request_id="",
        child_workflow_only=a.child_workflow_only,
    )


def _signal_ended(st: ExecutionState, event: HistoryEvent) -> None:
    attrs = getattr(event, event.WhichOneof("attributes") or "")
    st.external_signals.pop(attrs.initiated_event_id, None)


def _cancel_ended(st: ExecutionState, event: HistoryEvent) -> None:
    attrs = getattr(event, event.WhichOneof("attributes") or "")
    st.external_cancels.pop(attrs.initiated_event_id, None)


# ---------------------------------------------------------------------------- updates


def _update_admitted(st: ExecutionState, event: HistoryEvent) -> None:
    """An update admitted durably (reapplied by a reset); others are admitted without an
    event."""
    a = event.workflow_execution_update_admitted_event_attributes
    update_id = a.request.meta.update_id
    st.updates[update_id] = UpdateInfo(
        update_id,
        request=a.request.SerializeToString(),
        admitted_time=_time(event),
        admitted_event_id=event.event_id,
    )


def _update_accepted(st: ExecutionState, event: HistoryEvent) -> None:
    update_id = event.workflow_execution_update_accepted_event_attributes.protocol_instance_id
    info = st.updates.setdefault(update_id, UpdateInfo(update_id))
    info.accepted_event_id = event.event_id
    info.request = b""


def _update_completed(st: ExecutionState, event: HistoryEvent) -> None:
    update_id = event.workflow_execution_update_completed_event_attributes.meta.update_id
    info = st.updates.setdefault(update_id, UpdateInfo(update_id))
    info.completed_event_id = event.event_id


APPLIERS: dict[int, Applier] = {
    # The run's end (WorkflowExecutionStarted: see `initial_state`).
    et.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: _closed,
    et.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: _closed,
    et.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: _closed,
    et.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: _closed,
    et.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: _closed,
    et.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: _closed,
    # Workflow tasks.
    et.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED: _workflow_task_scheduled,
    et.EVENT_TYPE_WORKFLOW_TASK_STARTED: _workflow_task_started,
    et.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: _workflow_task_completed,
    et.EVENT_TYPE_WORKFLOW_TASK_FAILED: _workflow_task_ended,
    et.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT: _workflow_task_ended,
    # Activities.
    et.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: _activity_scheduled,
    et.EVENT_TYPE_ACTIVITY_TASK_STARTED: _activity_started,
    et.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: _activity_closed,
    et.EVENT_TYPE_ACTIVITY_TASK_FAILED: _activity_closed,
    et.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: _activity_closed,
    et.EVENT_TYPE_ACTIVITY_TASK_CANCELED: _activity_closed,
    et.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED: _activity_cancel_requested,
    # Timers.
    et.EVENT_TYPE_TIMER_STARTED: _timer_started,
    et.EVENT_TYPE_TIMER_FIRED: _timer_fired,
    et.EVENT_TYPE_TIMER_CANCELED: _timer_canceled,
    # Requests from outside, and the workflow's own records.
    et.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: _signaled,
    et.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED: _cancel_requested,
    et.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: _search_attributes_upserted,
    et.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED: _properties_modified,
    et.EVENT_TYPE_MARKER_RECORDED: _no_state,
    # Child workflows.
    et.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: _child_initiated,
    et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED: _child_started,
    et.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED: _child_ended,
    et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED: _child_ended,
    et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED: _child_ended,
    et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED: _child_ended,
    et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT: _child_ended,
    et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED: _child_ended,
    # Signals and cancellation requests sent to other workflows.
    et.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: _signal_initiated,
    et.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED: _signal_ended,
    et.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED: _signal_ended,
    et.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: _cancel_initiated,
    et.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED: _cancel_ended,
    et.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED: _cancel_ended,
    # Updates.
    et.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED: _update_admitted,
    et.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: _update_accepted,
    et.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED: _update_completed,
}
"""Event type -> what it does to the state; every event type the engine writes is here."""
