"""Operators acting on a running workflow's activities: pause, unpause, reset, and new
options (Temporal's PauseActivity, UnpauseActivity, ResetActivity, UpdateActivityOptions).

None of them writes a history event, as in Temporal. A running attempt is never cut
short: it learns of a pause or a reset from its next heartbeat's answer (the SDKs then
cancel it, saying why) and ends as it would otherwise. A paused activity starts no new
attempt: a retry waits for the unpause, and an attempt not yet taken by a worker leaves
its task queue. Its schedule-to-close timeout still runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.api.activity.v1 import message_pb2 as activity_pb2
from temporalio.api.common.v1 import message_pb2 as common_pb2

from perdure.server.engine import activities
from perdure.server.engine.deadlines import TimerKind, TimerRef, activity_task_key
from perdure.server.engine.execution import Execution
from perdure.server.engine.retry import duration, nanos
from perdure.server.engine.state import ActivityInfo, ActivityState
from perdure.server.errors import InvalidArgument, NotFound

ACTIVITY_NOT_FOUND = (
    "invalid activityID or activity already timed out or invoking workflow is completed"
)
_RETRY_FIELDS = ("initial_interval", "backoff_coefficient", "maximum_interval", "maximum_attempts")


def select(
    ex: Execution, activity_id: str, activity_type: str, match_all: bool = False
) -> list[ActivityInfo]:
    """The pending activities an operator request names: by id, by type, or all."""
    st = ex.state
    if not st.running:
        raise NotFound("workflow execution already completed")
    if activity_id:
        info = st.activity_by_id(activity_id)
        found = [info] if info is not None else []
    elif activity_type:
        found = [a for a in st.activities.values() if a.activity_type == activity_type]
    elif match_all:
        found = list(st.activities.values())
    else:
        raise InvalidArgument("Either activity id or activity type must be provided")
    if not found and not match_all:
        raise NotFound(ACTIVITY_NOT_FOUND)
    return found


def _leave_queue(ex: Execution, info: ActivityInfo) -> None:
    """An attempt not taken by a worker (or waiting to retry) stops waiting: its task row
    and deadlines go (BACKOFF without a timer: waiting for an operator)."""
    run_id, sched = ex.state.run_id, info.scheduled_event_id
    if info.state == ActivityState.SCHEDULED:
        ex.remove_task(activity_task_key(run_id, sched, info.attempt))
        if info.schedule_to_start_timeout > 0:
            ex.remove_timer(TimerRef(TimerKind.ACTIVITY_SCHEDULE_TO_START, sched, info.attempt))
    elif info.state == ActivityState.BACKOFF:
        ex.remove_timer(TimerRef(TimerKind.ACTIVITY_RETRY, sched, info.attempt))
    info.state = ActivityState.BACKOFF


def pause(ex: Execution, info: ActivityInfo, *, identity: str, reason: str) -> None:
    if info.paused:
        return
    info.paused = True
    info.pause_time = ex.now
    info.pause_identity = identity
    info.pause_reason = reason
    if info.state == ActivityState.SCHEDULED:
        _leave_queue(ex, info)


def unpause(
    ex: Execution, info: ActivityInfo, *, reset_attempts: bool, reset_heartbeat: bool
) -> None:
    """The activity runs again: an attempt waiting (to retry, or for the unpause) is
    scheduled at once."""
    if not info.paused:
        return
    info.paused = False
    info.pause_time = 0
    info.pause_identity = info.pause_reason = ""
    if reset_heartbeat:
        info.heartbeat_details = None
    if info.state == ActivityState.STARTED:
        if reset_attempts:
            info.reset_requested = True
        return
    _leave_queue(ex, info)
    if reset_attempts:
        info.attempt = 1
    activities.enqueue(ex, info)


def reset(ex: Execution, info: ActivityInfo, *, reset_heartbeat: bool, keep_paused: bool) -> None:
    """Attempts count again from 1; a waiting attempt starts at once (unless the activity
    stays paused), a running one is told through its heartbeats."""
    if reset_heartbeat:
        info.heartbeat_details = None
    if info.paused and not keep_paused:
        info.paused = False
        info.pause_time = 0
        info.pause_identity = info.pause_reason = ""
    if info.state == ActivityState.STARTED:
        info.reset_requested = True
        return
    _leave_queue(ex, info)
    info.attempt = 1
    info.last_failure = None
    if not info.paused:
        activities.enqueue(ex, info)


def options(info: ActivityInfo) -> activity_pb2.ActivityOptions:
    """The activity's options as UpdateActivityOptions and DescribeWorkflowExecution
    show them."""
    out = activity_pb2.ActivityOptions(
        schedule_to_close_timeout=duration(info.schedule_to_close_timeout),
        schedule_to_start_timeout=duration(info.schedule_to_start_timeout),
        start_to_close_timeout=duration(info.start_to_close_timeout),
        heartbeat_timeout=duration(info.heartbeat_timeout),
    )
    out.task_queue.name = info.task_queue
    out.task_queue.normal_name = info.task_queue
    out.retry_policy.CopyFrom(info.retry_policy)
    if info.priority is not None:
        out.priority.CopyFrom(info.priority)
    else:
        out.priority.SetInParent()
    return out


def update_options(
    ex: Execution, info: ActivityInfo, new: activity_pb2.ActivityOptions, paths: Sequence[str]
) -> None:
    """Apply the fields `paths` names (an update mask) from `new`; the deadlines of the
    attempt in flight follow the new timeouts."""
    if not paths:
        raise InvalidArgument("UpdateMask is required")
    old_state_timers = _deadlines(info)
    for path in paths:
        _apply(info, new, path)
    if (
        info.schedule_to_close_timeout
        and info.schedule_to_start_timeout > info.schedule_to_close_timeout
    ):
        info.schedule_to_start_timeout = info.schedule_to_close_timeout
    _move_deadlines(ex, info, old_state_timers)


def _apply(info: ActivityInfo, new: activity_pb2.ActivityOptions, path: str) -> None:
    if path in ("task_queue.name", "task_queue"):
        if not new.task_queue.name:
            raise InvalidArgument("TaskQueue is not set on request.")
        info.task_queue = new.task_queue.name
    elif path in (
        "schedule_to_close_timeout",
        "schedule_to_start_timeout",
        "start_to_close_timeout",
        "heartbeat_timeout",
    ):
        setattr(info, path, nanos(getattr(new, path)))
    elif path == "retry_policy":
        info.retry_policy = common_pb2.RetryPolicy()
        info.retry_policy.CopyFrom(new.retry_policy)
    elif path.startswith("retry_policy.") and path.split(".", 1)[1] in _RETRY_FIELDS:
        name = path.split(".", 1)[1]
        policy = common_pb2.RetryPolicy()
        policy.CopyFrom(info.retry_policy)
        if name in ("initial_interval", "maximum_interval"):
            getattr(policy, name).CopyFrom(getattr(new.retry_policy, name))
        else:
            setattr(policy, name, getattr(new.retry_policy, name))
        info.retry_policy = policy
    elif path == "priority":
        info.priority = common_pb2.Priority()
        info.priority.CopyFrom(new.priority)
    else:
        raise InvalidArgument(f"invalid field path in update mask: {path}")


def _deadlines(info: ActivityInfo) -> dict[TimerKind, int]:
    """The deadlines the current attempt has now (kind -> due time)."""
    out: dict[TimerKind, int] = {}
    if info.schedule_to_close_timeout > 0:
        out[TimerKind.ACTIVITY_SCHEDULE_TO_CLOSE] = (
            info.first_scheduled_time + info.schedule_to_close_timeout
        )
    if info.state == ActivityState.SCHEDULED and info.schedule_to_start_timeout > 0:
        out[TimerKind.ACTIVITY_SCHEDULE_TO_START] = (
            info.scheduled_time + info.schedule_to_start_timeout
        )
    if info.state == ActivityState.STARTED:
        out[TimerKind.ACTIVITY_START_TO_CLOSE] = info.started_time + info.start_to_close_timeout
        if info.heartbeat_timeout > 0:
            out[TimerKind.ACTIVITY_HEARTBEAT] = (
                max(info.last_heartbeat_time, info.started_time) + info.heartbeat_timeout
            )
    return out


def _move_deadlines(ex: Execution, info: ActivityInfo, before: dict[TimerKind, int]) -> None:
    after = _deadlines(info)
    sched = info.scheduled_event_id
    for kind in before.keys() | after.keys():
        if before.get(kind) == after.get(kind):
            continue
        ref = (
            TimerRef(kind, sched)
            if kind == TimerKind.ACTIVITY_SCHEDULE_TO_CLOSE
            else TimerRef(kind, sched, info.attempt)
        )
        if kind in before:
            ex.remove_timer(ref)
        if kind in after:
            ex.add_timer(ref, max(after[kind], ex.now))
