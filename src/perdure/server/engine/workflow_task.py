"""The workflow task lifecycle: schedule, start, fail, time out.

A run has at most one workflow task. Its first attempt writes WorkflowTaskScheduled when
scheduled and WorkflowTaskStarted when a worker polls it. After a failure the next
attempts are transient: their scheduled/started events are only shown to the worker and
written when an attempt completes, so a crash-looping workflow keeps a short history.
Completion (commands) lives in engine/completion.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.enums.v1 import failed_cause_pb2 as causes
from temporalio.api.enums.v1 import task_queue_pb2 as tq_enums
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.failure.v1 import message_pb2 as failure_pb2
from temporalio.api.history.v1 import message_pb2 as history_pb2
from temporalio.api.taskqueue.v1 import message_pb2 as tq_pb2

from perdure.server.engine.deadlines import TimerKind, TimerRef, workflow_task_key
from perdure.server.engine.execution import Execution, HistoryEvent
from perdure.server.engine.outputs import TaskKind
from perdure.server.engine.retry import duration
from perdure.server.engine.state import Nanos, WorkflowTaskInfo, WorkflowTaskKind
from perdure.server.errors import NotFound

DEFAULT_WORKFLOW_TASK_TIMEOUT: Nanos = 10 * 1_000_000_000
MAX_WORKFLOW_TASK_TIMEOUT: Nanos = 120 * 1_000_000_000


class StaleTask(Exception):
    """A task row or timer refers to something that has moved on; drop it."""


def _task_queue_proto(ex: Execution, task_queue: str, sticky: bool) -> tq_pb2.TaskQueue:
    if sticky:
        return tq_pb2.TaskQueue(
            name=task_queue,
            kind=tq_enums.TASK_QUEUE_KIND_STICKY,
            normal_name=ex.state.task_queue,
        )
    return tq_pb2.TaskQueue(name=task_queue, kind=tq_enums.TASK_QUEUE_KIND_NORMAL)


def _scheduled_attributes(
    ex: Execution, task_queue: str, sticky: bool, timeout: Nanos, attempt: int
) -> history_pb2.WorkflowTaskScheduledEventAttributes:
    return history_pb2.WorkflowTaskScheduledEventAttributes(
        task_queue=_task_queue_proto(ex, task_queue, sticky),
        start_to_close_timeout=duration(timeout),
        attempt=attempt,
    )


def schedule(
    ex: Execution, *, attempt: int = 1, allow_sticky: bool = True, speculative: bool = False
) -> WorkflowTaskInfo:
    """Schedule the run's next workflow task (unless one is pending already).

    A speculative task (for an update) writes no event until it proves needed; one that
    is still only scheduled becomes a normal task when the workflow gets a new event. A
    transient attempt (after a failure) writes its events only when it completes. Both go
    through the same applier as a written task, with an event that is not written yet.
    """
    st = ex.state
    pending = st.workflow_task
    if pending is not None:
        if not speculative and pending.kind == WorkflowTaskKind.SPECULATIVE and not pending.started:
            _make_normal(ex, pending)
        return pending
    sticky = allow_sticky and bool(st.sticky_task_queue)
    task_queue = st.sticky_task_queue if sticky else st.task_queue
    attrs = _scheduled_attributes(ex, task_queue, sticky, st.workflow_task_timeout, attempt)
    written = attempt == 1 and not speculative
    if written:
        ex.append(et.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, attrs)
    else:
        ex.apply_unwritten(et.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, attrs, st.next_event_id)
    wt = st.workflow_task
    assert wt is not None
    wt.scheduled_event_written = written
    if speculative:
        wt.kind = WorkflowTaskKind.SPECULATIVE
    ex.add_task(
        workflow_task_key(st.run_id, wt.seq),
        TaskKind.WORKFLOW,
        wt.task_queue,
        wt.scheduled_event_id,
    )
    if sticky and st.sticky_schedule_to_start_timeout > 0:
        ex.add_timer(
            TimerRef(TimerKind.WORKFLOW_TASK_SCHEDULE_TO_START, wt.seq),
            ex.now + st.sticky_schedule_to_start_timeout,
        )
    return wt


def _make_normal(ex: Execution, wt: WorkflowTaskInfo) -> None:
    """A scheduled speculative task is needed after all: record it."""
    wt.kind = WorkflowTaskKind.NORMAL
    if wt.attempt == 1 and not wt.scheduled_event_written:
        attrs = _scheduled_attributes(
            ex, wt.task_queue, wt.sticky, wt.start_to_close_timeout, wt.attempt
        )
        ex.append(et.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, attrs)


@dataclass(frozen=True, slots=True)
class StartedWorkflowTask:
    """What the poll response needs, besides the stored history."""

    info: WorkflowTaskInfo
    previous_started_event_id: int
    transient_events: list[HistoryEvent]
    """Scheduled and started events of a transient attempt, shown but not written."""


def start(
    ex: Execution, seq: int, *, identity: str, request_id: str, build_id: str = ""
) -> StartedWorkflowTask:
    """A worker polled workflow task `seq`: record it as started (with the build id the
    worker polled with, so a later build can tell which build ran each task)."""
    st = ex.state
    wt = st.workflow_task
    if not st.running or wt is None or wt.seq != seq or wt.started:
        raise StaleTask(f"workflow task {seq} of {st.workflow_id}/{st.run_id} is gone")
    ex.claim_task(workflow_task_key(st.run_id, seq))
    if wt.sticky:
        ex.remove_timer(TimerRef(TimerKind.WORKFLOW_TASK_SCHEDULE_TO_START, seq))
    attrs = history_pb2.WorkflowTaskStartedEventAttributes(
        scheduled_event_id=wt.scheduled_event_id,
        identity=identity,
        request_id=request_id,
        history_size_bytes=st.history_size_bytes,
    )
    _suggest_continue_as_new(ex, attrs)
    if build_id:
        attrs.worker_version.build_id = build_id
    transient: list[HistoryEvent] = []
    if not wt.scheduled_event_written:
        # Ids are assigned now: nothing can be written while the task runs (events buffer).
        wt.scheduled_event_id = attrs.scheduled_event_id = st.next_event_id
        ex.apply_unwritten(et.EVENT_TYPE_WORKFLOW_TASK_STARTED, attrs, st.next_event_id + 1)
        wt.started_event_written = False  # the applier's view is "written"; not yet
        transient = transient_events(ex, wt)
    else:
        ex.append(et.EVENT_TYPE_WORKFLOW_TASK_STARTED, attrs)
    ex.add_timer(
        TimerRef(TimerKind.WORKFLOW_TASK_START_TO_CLOSE, seq), ex.now + wt.start_to_close_timeout
    )
    return StartedWorkflowTask(wt, st.last_workflow_task_started_event_id, transient)


def _suggest_continue_as_new(
    ex: Execution, attrs: history_pb2.WorkflowTaskStartedEventAttributes
) -> None:
    """Temporal's hint to the workflow: its history (as the task starts, before the
    started event) has grown past the server's thresholds, so it should continue as new."""
    st, settings = ex.state, ex.settings
    if st.history_size_bytes >= settings.suggest_continue_as_new_bytes:
        attrs.suggest_continue_as_new_reasons.append(
            wf_enums.SUGGEST_CONTINUE_AS_NEW_REASON_HISTORY_SIZE_TOO_LARGE
        )
    if st.next_event_id - 1 >= settings.suggest_continue_as_new_events:
        attrs.suggest_continue_as_new_reasons.append(
            wf_enums.SUGGEST_CONTINUE_AS_NEW_REASON_TOO_MANY_HISTORY_EVENTS
        )
    attrs.suggest_continue_as_new = bool(attrs.suggest_continue_as_new_reasons)


def transient_events(ex: Execution, wt: WorkflowTaskInfo) -> list[HistoryEvent]:
    """The scheduled and started events of a transient attempt, with their future ids."""
    scheduled = HistoryEvent(
        event_id=wt.scheduled_event_id,
        event_type=et.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        workflow_task_scheduled_event_attributes=_scheduled_attributes(
            ex, wt.task_queue, wt.sticky, wt.start_to_close_timeout, wt.attempt
        ),
    )
    scheduled.event_time.FromNanoseconds(wt.scheduled_time)
    started = HistoryEvent(
        event_id=wt.started_event_id,
        event_type=et.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        workflow_task_started_event_attributes=history_pb2.WorkflowTaskStartedEventAttributes(
            scheduled_event_id=wt.scheduled_event_id,
            identity=wt.identity,
            request_id=wt.request_id,
            history_size_bytes=ex.state.history_size_bytes,
        ),
    )
    _suggest_continue_as_new(ex, started.workflow_task_started_event_attributes)
    if wt.build_id:
        started.workflow_task_started_event_attributes.worker_version.build_id = wt.build_id
    started.event_time.FromNanoseconds(wt.started_time)
    return [scheduled, started]


def write_transient_events(ex: Execution, wt: WorkflowTaskInfo) -> None:
    """A transient attempt is completing: its scheduled/started events become history."""
    if wt.scheduled_event_written:
        return
    for event in transient_events(ex, wt):
        ex.state.history_size_bytes += event.ByteSize()
        ex.out.events.append(event)
        ex.state.next_event_id = event.event_id + 1
    wt.scheduled_event_written = True
    wt.started_event_written = True


def require_started(ex: Execution, seq: int, started_event_id: int) -> WorkflowTaskInfo:
    """The workflow task a completion or failure names, or NotFound as Temporal says it."""
    st = ex.state
    wt = st.workflow_task
    if (
        not st.running
        or wt is None
        or wt.seq != seq
        or not wt.started
        or wt.started_event_id != started_event_id
    ):
        raise NotFound("Workflow task not found.")
    return wt


def finish(ex: Execution, wt: WorkflowTaskInfo) -> None:
    """Drop the deadline of the started task that is ending (its event forgets the task)."""
    ex.remove_timer(TimerRef(TimerKind.WORKFLOW_TASK_START_TO_CLOSE, wt.seq))


def fail(
    ex: Execution,
    wt: WorkflowTaskInfo,
    *,
    cause: int,
    failure: failure_pb2.Failure | None = None,
    identity: str = "",
    binary_checksum: str = "",
    reschedule: bool = True,
) -> None:
    """A started workflow task failed: record it (first attempt only) and retry it.

    Failures of transient attempts leave no events; buffered events are written after the
    failure, and then the next attempt is scheduled.
    """
    st = ex.state
    finish(ex, wt)
    attrs = history_pb2.WorkflowTaskFailedEventAttributes(
        scheduled_event_id=wt.scheduled_event_id,
        started_event_id=wt.started_event_id,
        cause=cause,  # type: ignore[arg-type]
        identity=identity,
        binary_checksum=binary_checksum,
    )
    if failure is not None:
        attrs.failure.CopyFrom(failure)
    _append_or_apply(ex, wt.started_event_written, et.EVENT_TYPE_WORKFLOW_TASK_FAILED, attrs)
    flushed = ex.flush_buffered()
    if not reschedule or not st.running:
        return
    if cause == causes.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND or (
        flushed and cause != causes.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR
    ):
        # New events for the worker: a fresh (recorded) attempt.
        schedule(ex, attempt=1)
    else:
        schedule(ex, attempt=wt.attempt + 1)


def _append_or_apply(ex: Execution, written: bool, event_type: int, attrs: Message) -> None:
    """End a task with its event: written if the task's events are, else only applied
    (a transient attempt's failure leaves no trace in history)."""
    if written:
        ex.append(event_type, attrs)
    else:
        ex.apply_unwritten(event_type, attrs, 0)


def time_out(ex: Execution, ref: TimerRef) -> None:
    """A workflow task deadline fired (stale ones are ignored)."""
    st = ex.state
    wt = st.workflow_task
    ex.claim_timer(ref)
    if not st.running or wt is None or wt.seq != ref.target_id:
        return
    if ref.kind == TimerKind.WORKFLOW_TASK_START_TO_CLOSE:
        if not wt.started:
            return
        finish(ex, wt)
        _append_or_apply(
            ex,
            wt.started_event_written,
            et.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
            history_pb2.WorkflowTaskTimedOutEventAttributes(
                scheduled_event_id=wt.scheduled_event_id,
                started_event_id=wt.started_event_id,
                timeout_type=wf_enums.TIMEOUT_TYPE_START_TO_CLOSE,
            ),
        )
        ex.flush_buffered()
        schedule(ex, attempt=wt.attempt + 1)
    elif ref.kind == TimerKind.WORKFLOW_TASK_SCHEDULE_TO_START:
        if wt.started or not wt.sticky:
            return
        # Nobody polled the sticky queue in time: move the task to the normal queue.
        ex.remove_task(workflow_task_key(st.run_id, wt.seq))
        _append_or_apply(
            ex,
            wt.scheduled_event_written,
            et.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
            history_pb2.WorkflowTaskTimedOutEventAttributes(
                scheduled_event_id=wt.scheduled_event_id,
                timeout_type=wf_enums.TIMEOUT_TYPE_SCHEDULE_TO_START,
            ),
        )
        schedule(ex, attempt=wt.attempt, allow_sticky=False)


def clear_stickiness(ex: Execution) -> None:
    """ResetStickyTaskQueue / ShutdownWorker: later tasks go to the normal queue.

    A task already scheduled (not started) on the sticky queue moves there at once.
    """
    st = ex.state
    st.sticky_task_queue = ""
    wt = st.workflow_task
    if wt is not None and wt.sticky and not wt.started:
        ex.remove_task(workflow_task_key(st.run_id, wt.seq))
        ex.remove_timer(TimerRef(TimerKind.WORKFLOW_TASK_SCHEDULE_TO_START, wt.seq))
        st.wft_seq += 1
        wt.seq = st.wft_seq
        wt.sticky = False
        wt.task_queue = st.task_queue
        ex.add_task(
            workflow_task_key(st.run_id, wt.seq),
            TaskKind.WORKFLOW,
            wt.task_queue,
            wt.scheduled_event_id,
        )
