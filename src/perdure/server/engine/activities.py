"""Activity transitions: schedule, start, heartbeat, complete, fail, cancel, time out, retry.

Retries are the server's job, as in Temporal: a failed attempt that may be retried
writes no event; it waits on a retry timer and goes back to the task queue with the
attempt count raised. ActivityTaskStarted is written only when the activity closes
(with the final attempt and the last failure), right before its closing event.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.failure.v1 import message_pb2 as failure_pb2
from temporalio.api.history.v1 import message_pb2 as history_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import workflow_task
from perdure.server.engine.deadlines import (
    TimerKind,
    TimerRef,
    activity_task_key,
    first_of_equal,
)
from perdure.server.engine.execution import Execution
from perdure.server.engine.outputs import TaskKind
from perdure.server.engine.retry import RetryDecision, duration, next_retry
from perdure.server.engine.state import ActivityInfo, ActivityState, Nanos
from perdure.server.engine.tokens import ActivityTaskToken
from perdure.server.engine.workflow_task import StaleTask
from perdure.server.errors import NotFound

_TIMEOUT_NAMES: dict[int, str] = {
    wf_enums.TIMEOUT_TYPE_START_TO_CLOSE: "StartToClose",
    wf_enums.TIMEOUT_TYPE_SCHEDULE_TO_START: "ScheduleToStart",
    wf_enums.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE: "ScheduleToClose",
    wf_enums.TIMEOUT_TYPE_HEARTBEAT: "Heartbeat",
}


@dataclass(frozen=True, slots=True)
class ActivityTimeouts:
    """An activity's four timeouts, in nanoseconds (0: not set)."""

    schedule_to_close: Nanos
    schedule_to_start: Nanos
    start_to_close: Nanos
    heartbeat: Nanos


def normalized_timeouts(requested: ActivityTimeouts, run_timeout: Nanos) -> ActivityTimeouts | None:
    """The timeouts an activity gets, by Temporal's rules; None when it has neither a
    start-to-close nor a schedule-to-close timeout.

    Schedule-to-close bounds the other two (and fills them in when unset); without it, the
    run timeout stands in for schedule-to-close and schedule-to-start. None exceeds the
    run timeout, and the heartbeat timeout never exceeds start-to-close.
    """
    schedule_to_close = requested.schedule_to_close
    schedule_to_start = requested.schedule_to_start
    start_to_close = requested.start_to_close
    if schedule_to_close > 0:
        schedule_to_start = (
            min(schedule_to_start, schedule_to_close) if schedule_to_start else schedule_to_close
        )
        start_to_close = (
            min(start_to_close, schedule_to_close) if start_to_close else schedule_to_close
        )
    elif start_to_close > 0:
        schedule_to_close = run_timeout
        if not schedule_to_start:
            schedule_to_start = run_timeout
    else:
        return None
    if run_timeout > 0:
        schedule_to_close = (
            min(schedule_to_close, run_timeout) if schedule_to_close else run_timeout
        )
        schedule_to_start = (
            min(schedule_to_start, run_timeout) if schedule_to_start else run_timeout
        )
        start_to_close = min(start_to_close, run_timeout)
    heartbeat = min(requested.heartbeat, start_to_close)
    return ActivityTimeouts(schedule_to_close, schedule_to_start, start_to_close, heartbeat)


def enqueue(ex: Execution, info: ActivityInfo) -> None:
    """Make the current attempt available to workers (task row + schedule-to-start)."""
    st = ex.state
    info.state = ActivityState.SCHEDULED
    info.scheduled_time = ex.now
    ex.add_task(
        activity_task_key(st.run_id, info.scheduled_event_id, info.attempt),
        TaskKind.ACTIVITY,
        info.task_queue,
        info.scheduled_event_id,
    )
    if info.schedule_to_start_timeout > 0:
        ex.add_timer(
            TimerRef(TimerKind.ACTIVITY_SCHEDULE_TO_START, info.scheduled_event_id, info.attempt),
            ex.now + info.schedule_to_start_timeout,
        )


def start(
    ex: Execution,
    scheduled_event_id: int,
    attempt: int,
    *,
    identity: str,
    request_id: str,
    build_id: str = "",
    from_task_row: bool = True,
) -> ActivityInfo:
    """A worker took the activity (by poll, or eagerly with the workflow task response)."""
    st = ex.state
    info = st.activities.get(scheduled_event_id)
    if (
        not st.running
        or info is None
        or info.state != ActivityState.SCHEDULED
        or info.attempt != attempt
    ):
        raise StaleTask(f"activity {scheduled_event_id}/{attempt} of {st.workflow_id} is gone")
    if from_task_row:
        ex.claim_task(activity_task_key(st.run_id, scheduled_event_id, attempt))
    if info.schedule_to_start_timeout > 0:
        ex.remove_timer(TimerRef(TimerKind.ACTIVITY_SCHEDULE_TO_START, scheduled_event_id, attempt))
    info.state = ActivityState.STARTED
    info.started_time = ex.now
    info.started_identity = identity
    info.started_request_id = request_id
    info.started_build_id = build_id
    info.last_heartbeat_time = 0
    ex.add_timer(
        TimerRef(TimerKind.ACTIVITY_START_TO_CLOSE, scheduled_event_id, attempt),
        ex.now + info.start_to_close_timeout,
    )
    if info.heartbeat_timeout > 0:
        ex.add_timer(
            TimerRef(TimerKind.ACTIVITY_HEARTBEAT, scheduled_event_id, attempt),
            ex.now + info.heartbeat_timeout,
        )
    return info


def task_response(ex: Execution, info: ActivityInfo) -> rr.PollActivityTaskQueueResponse:
    """What the worker receives for a started activity."""
    st = ex.state
    token = ActivityTaskToken(
        st.namespace_id,
        st.workflow_id,
        st.run_id,
        scheduled_event_id=info.scheduled_event_id,
        attempt=info.attempt,
        activity_id=info.activity_id,
    )
    resp = rr.PollActivityTaskQueueResponse(
        task_token=token.encode(),
        workflow_namespace=ex.namespace,
        attempt=info.attempt,
        activity_id=info.activity_id,
    )
    resp.workflow_type.name = st.workflow_type
    resp.workflow_execution.workflow_id = st.workflow_id
    resp.workflow_execution.run_id = st.run_id
    resp.activity_type.name = info.activity_type
    if info.header:  # unset when the activity has none, as on Temporal
        resp.header.MergeFromString(info.header)
    if info.input:
        resp.input.MergeFromString(info.input)
    if info.heartbeat_details is not None:
        resp.heartbeat_details.CopyFrom(info.heartbeat_details)
    resp.scheduled_time.FromNanoseconds(info.first_scheduled_time)
    resp.current_attempt_scheduled_time.FromNanoseconds(info.scheduled_time)
    resp.started_time.FromNanoseconds(info.started_time)
    resp.schedule_to_close_timeout.CopyFrom(duration(info.schedule_to_close_timeout))
    resp.start_to_close_timeout.CopyFrom(duration(info.start_to_close_timeout))
    resp.heartbeat_timeout.CopyFrom(duration(info.heartbeat_timeout))
    resp.retry_policy.CopyFrom(info.retry_policy)
    if info.priority is not None:
        resp.priority.CopyFrom(info.priority)
    return resp


def require_started(ex: Execution, token: ActivityTaskToken) -> ActivityInfo:
    """The running attempt a completion names, or NotFound as Temporal reports it."""
    st = ex.state
    if not st.running:
        raise NotFound("workflow execution already completed")
    info = st.activities.get(token.scheduled_event_id)
    if (
        info is None
        or info.state != ActivityState.STARTED
        or (token.attempt and info.attempt != token.attempt)
    ):
        raise NotFound("Activity task not found.")
    return info


def find_started_by_id(ex: Execution, activity_id: str) -> ActivityInfo:
    if not ex.state.running:
        raise NotFound("workflow execution already completed")
    info = ex.state.activity_by_id(activity_id)
    if info is None or info.state != ActivityState.STARTED:
        raise NotFound("Activity task not found.")
    return info


def _drop(ex: Execution, info: ActivityInfo) -> None:
    """Drop the task row and the deadlines of an activity that closed (its closing event
    or the run's removed it from the state)."""
    run_id = ex.state.run_id
    sched = info.scheduled_event_id
    if info.state == ActivityState.SCHEDULED:
        ex.remove_task(activity_task_key(run_id, sched, info.attempt))
    for kind in (
        TimerKind.ACTIVITY_SCHEDULE_TO_START,
        TimerKind.ACTIVITY_START_TO_CLOSE,
        TimerKind.ACTIVITY_HEARTBEAT,
        TimerKind.ACTIVITY_RETRY,
    ):
        if _has_timer(info, kind):
            ex.remove_timer(TimerRef(kind, sched, info.attempt))
    if info.schedule_to_close_timeout > 0:
        ex.remove_timer(TimerRef(TimerKind.ACTIVITY_SCHEDULE_TO_CLOSE, sched))


def _has_timer(info: ActivityInfo, kind: TimerKind) -> bool:
    if kind == TimerKind.ACTIVITY_SCHEDULE_TO_START:
        return info.state == ActivityState.SCHEDULED and info.schedule_to_start_timeout > 0
    if kind == TimerKind.ACTIVITY_START_TO_CLOSE:
        return info.state == ActivityState.STARTED
    if kind == TimerKind.ACTIVITY_HEARTBEAT:
        return info.state == ActivityState.STARTED and info.heartbeat_timeout > 0
    return info.state == ActivityState.BACKOFF


def _end_attempt_timers(ex: Execution, info: ActivityInfo) -> None:
    for kind in (TimerKind.ACTIVITY_START_TO_CLOSE, TimerKind.ACTIVITY_HEARTBEAT):
        if _has_timer(info, kind):
            ex.remove_timer(TimerRef(kind, info.scheduled_event_id, info.attempt))


def _write_started(ex: Execution, info: ActivityInfo, *, by_worker: bool = True) -> int:
    """Write ActivityTaskStarted for the closing attempt; its id (0 while buffered). Like
    Temporal, it names the worker's build only when the worker completed or failed it
    (not when it timed out or was cancelled)."""
    attrs = history_pb2.ActivityTaskStartedEventAttributes(
        scheduled_event_id=info.scheduled_event_id,
        identity=info.started_identity,
        request_id=info.started_request_id,
        attempt=info.attempt,
    )
    if info.last_failure is not None:
        attrs.last_failure.CopyFrom(info.last_failure)
    if info.started_build_id and by_worker:  # Temporal writes no binary_checksum here
        attrs.worker_version.build_id = info.started_build_id
    # Written with the attempt's close (as Temporal does), dated when the worker took it.
    event = ex.append_external(
        et.EVENT_TYPE_ACTIVITY_TASK_STARTED, attrs, event_time=info.started_time or None
    )
    return event.event_id if event is not None else 0


def _closed(ex: Execution, info: ActivityInfo) -> None:
    _drop(ex, info)
    if ex.state.running:
        workflow_task.schedule(ex)


def complete(
    ex: Execution, info: ActivityInfo, result: common_pb2.Payloads | None, identity: str
) -> None:
    started_id = _write_started(ex, info)
    attrs = history_pb2.ActivityTaskCompletedEventAttributes(
        scheduled_event_id=info.scheduled_event_id, started_event_id=started_id, identity=identity
    )
    if result is not None:
        attrs.result.CopyFrom(result)
    ex.append_external(et.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, attrs)
    _closed(ex, info)


def _retry_decision(
    ex: Execution, info: ActivityInfo, failure: failure_pb2.Failure
) -> RetryDecision:
    if info.cancel_requested:
        return RetryDecision(None, wf_enums.RETRY_STATE_CANCEL_REQUESTED)
    expiration = (
        info.first_scheduled_time + info.schedule_to_close_timeout
        if info.schedule_to_close_timeout > 0
        else 0
    )
    return next_retry(info.retry_policy, info.attempt, failure, ex.now, expiration)


def fail(
    ex: Execution,
    info: ActivityInfo,
    failure: failure_pb2.Failure,
    *,
    identity: str,
    last_heartbeat_details: common_pb2.Payloads | None = None,
) -> None:
    """The worker reported a failed attempt: retry it or record the failure."""
    reset = info.reset_requested  # an operator reset it: its progress is dropped
    if not reset and last_heartbeat_details is not None and last_heartbeat_details.payloads:
        info.heartbeat_details = last_heartbeat_details
    decision = _retry_decision(ex, info, failure)
    if decision.backoff is not None:
        _schedule_retry(ex, info, failure, identity, decision.backoff)
        return
    started_id = _write_started(ex, info)
    attrs = history_pb2.ActivityTaskFailedEventAttributes(
        failure=failure,
        scheduled_event_id=info.scheduled_event_id,
        started_event_id=started_id,
        identity=identity,
        retry_state=decision.retry_state,  # type: ignore[arg-type]
    )
    ex.append_external(et.EVENT_TYPE_ACTIVITY_TASK_FAILED, attrs)
    _closed(ex, info)


def _schedule_retry(
    ex: Execution,
    info: ActivityInfo,
    failure: failure_pb2.Failure,
    identity: str,
    backoff: int,
) -> None:
    _end_attempt_timers(ex, info)
    info.last_failure = failure
    info.last_worker_identity = identity or info.started_identity
    if info.reset_requested:  # an operator reset the activity while this attempt ran
        info.reset_requested = False
        info.attempt = 1
    info.attempt += 1
    info.state = ActivityState.BACKOFF
    info.started_time = 0
    info.started_identity = ""
    info.started_request_id = ""
    info.started_build_id = ""
    ex.add_timer(
        TimerRef(TimerKind.ACTIVITY_RETRY, info.scheduled_event_id, info.attempt), ex.now + backoff
    )


def cancel_completed(
    ex: Execution, info: ActivityInfo, details: common_pb2.Payloads | None, identity: str
) -> None:
    """The worker confirmed cancellation (RespondActivityTaskCanceled)."""
    started = info.state == ActivityState.STARTED
    started_id = _write_started(ex, info, by_worker=False) if started else 0
    attrs = history_pb2.ActivityTaskCanceledEventAttributes(
        scheduled_event_id=info.scheduled_event_id,
        started_event_id=started_id,
        latest_cancel_requested_event_id=info.cancel_requested_event_id,
        identity=identity,
    )
    if details is not None:
        attrs.details.CopyFrom(details)
    ex.append_external(et.EVENT_TYPE_ACTIVITY_TASK_CANCELED, attrs)
    _closed(ex, info)


def request_cancel(ex: Execution, info: ActivityInfo, wft_completed_event_id: int) -> None:
    """The workflow asked to cancel: immediate if not running, else via heartbeats."""
    event = ex.append(
        et.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,
        history_pb2.ActivityTaskCancelRequestedEventAttributes(
            scheduled_event_id=info.scheduled_event_id,
            workflow_task_completed_event_id=wft_completed_event_id,
        ),
    )
    if info.state != ActivityState.STARTED:
        attrs = history_pb2.ActivityTaskCanceledEventAttributes(
            scheduled_event_id=info.scheduled_event_id,
            latest_cancel_requested_event_id=event.event_id,
        )
        ex.append(et.EVENT_TYPE_ACTIVITY_TASK_CANCELED, attrs)
        _drop(ex, info)


@dataclass(frozen=True, slots=True)
class HeartbeatAnswer:
    """What a heartbeat's answer tells the worker: stop, and why."""

    cancel_requested: bool
    paused: bool = False
    reset: bool = False


def heartbeat(
    ex: Execution, info: ActivityInfo, details: common_pb2.Payloads | None
) -> HeartbeatAnswer:
    """Record a heartbeat; the answer says whether the workflow asked to cancel, or an
    operator paused or reset the activity (engine/activity_ops.py)."""
    info.last_heartbeat_time = ex.now
    # An attempt an operator reset keeps beating until it hears of it: its progress is
    # not the next attempt's.
    fresh = not info.reset_requested
    if fresh and details is not None and (details.payloads or info.heartbeat_details is not None):
        info.heartbeat_details = details
    return HeartbeatAnswer(info.cancel_requested, info.paused, info.reset_requested)


def timeout_failure(
    info: ActivityInfo, timeout_type: int, cause: failure_pb2.Failure | None = None
) -> failure_pb2.Failure:
    failure = failure_pb2.Failure(
        message=f"activity {_TIMEOUT_NAMES[timeout_type]} timeout", source="Server"
    )
    failure.timeout_failure_info.timeout_type = timeout_type  # type: ignore[assignment]
    if info.heartbeat_details is not None:
        failure.timeout_failure_info.last_heartbeat_details.CopyFrom(info.heartbeat_details)
    if cause is not None:
        failure.cause.CopyFrom(cause)
    return failure


def _record_timeout(
    ex: Execution, info: ActivityInfo, failure: failure_pb2.Failure, retry_state: int
) -> None:
    started = info.state == ActivityState.STARTED
    started_id = _write_started(ex, info, by_worker=False) if started else 0
    attrs = history_pb2.ActivityTaskTimedOutEventAttributes(
        failure=failure,
        scheduled_event_id=info.scheduled_event_id,
        started_event_id=started_id,
        retry_state=retry_state,  # type: ignore[arg-type]
    )
    ex.append_external(et.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT, attrs)
    _closed(ex, info)


def fire_timer(ex: Execution, ref: TimerRef) -> None:
    """One of an activity's deadlines (or its retry backoff) is due."""
    ex.claim_timer(ref)
    st = ex.state
    info = st.activities.get(ref.target_id)
    if not st.running or info is None:
        return
    kind = ref.kind
    if kind == TimerKind.ACTIVITY_SCHEDULE_TO_CLOSE:
        # Another deadline of the activity may be due at this same instant: which one
        # counts is decided in one place (deadlines.first_of_equal).
        kind = first_of_equal([kind, *_other_deadlines_due(ex, info)])
        if kind == TimerKind.ACTIVITY_SCHEDULE_TO_START:
            _schedule_to_start_timed_out(ex, info)
            return
        if kind == TimerKind.ACTIVITY_START_TO_CLOSE:
            _attempt_timed_out(ex, info, wf_enums.TIMEOUT_TYPE_START_TO_CLOSE)
            return
    if kind == TimerKind.ACTIVITY_SCHEDULE_TO_CLOSE:
        cause = info.last_failure if info.state != ActivityState.STARTED else None
        failure = timeout_failure(info, wf_enums.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE, cause)
        _record_timeout(ex, info, failure, wf_enums.RETRY_STATE_TIMEOUT)
        return
    if info.attempt != ref.attempt:
        return
    if kind == TimerKind.ACTIVITY_RETRY and info.state == ActivityState.BACKOFF:
        if not info.paused:  # a paused activity's retry waits for the unpause
            enqueue(ex, info)
    elif kind == TimerKind.ACTIVITY_SCHEDULE_TO_START and info.state == ActivityState.SCHEDULED:
        _schedule_to_start_timed_out(ex, info)
    elif kind == TimerKind.ACTIVITY_START_TO_CLOSE and info.state == ActivityState.STARTED:
        _attempt_timed_out(ex, info, wf_enums.TIMEOUT_TYPE_START_TO_CLOSE)
    elif kind == TimerKind.ACTIVITY_HEARTBEAT and info.state == ActivityState.STARTED:
        deadline = max(info.last_heartbeat_time, info.started_time) + info.heartbeat_timeout
        if ex.now < deadline:
            ex.add_timer(ref, deadline)  # heartbeats came in: check again then
        else:
            _attempt_timed_out(ex, info, wf_enums.TIMEOUT_TYPE_HEARTBEAT)


def _other_deadlines_due(ex: Execution, info: ActivityInfo) -> list[TimerKind]:
    """The current attempt's own deadlines that are due now (while its schedule-to-close
    fires): schedule-to-start of an attempt no worker took, start-to-close of one running."""
    due = []
    if (
        info.state == ActivityState.SCHEDULED
        and info.schedule_to_start_timeout > 0
        and info.scheduled_time + info.schedule_to_start_timeout <= ex.now
    ):
        due.append(TimerKind.ACTIVITY_SCHEDULE_TO_START)
    if (
        info.state == ActivityState.STARTED
        and info.start_to_close_timeout > 0
        and info.started_time + info.start_to_close_timeout <= ex.now
    ):
        due.append(TimerKind.ACTIVITY_START_TO_CLOSE)
    return due


def _schedule_to_start_timed_out(ex: Execution, info: ActivityInfo) -> None:
    """No worker took the attempt in time: the activity times out (Temporal does not retry
    it, and reports the retry state TIMEOUT); `_drop` takes its task row and deadlines."""
    failure = timeout_failure(info, wf_enums.TIMEOUT_TYPE_SCHEDULE_TO_START)
    _record_timeout(ex, info, failure, wf_enums.RETRY_STATE_TIMEOUT)


def _attempt_timed_out(ex: Execution, info: ActivityInfo, timeout_type: int) -> None:
    failure = timeout_failure(info, timeout_type)
    decision = _retry_decision(ex, info, failure)
    if decision.backoff is not None:
        _schedule_retry(ex, info, failure, info.started_identity, decision.backoff)
    else:
        _record_timeout(ex, info, failure, decision.retry_state)


def drop_all(ex: Execution) -> None:
    """The run is closing: pending activities vanish with their tasks and deadlines."""
    for info in list(ex.state.activities.values()):
        _drop(ex, info)
