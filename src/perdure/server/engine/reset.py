"""Reset: a new run that repeats an old one up to a workflow task, then runs on its own.

As Temporal does it: the new run's history is the base run's history up to and including
the WorkflowTaskStarted of the chosen workflow task, then WorkflowTaskFailed (cause
RESET_WORKFLOW, naming the base and new runs), the base run's later signals and updates
(unless the request says not to reapply them; an update comes back as
WorkflowExecutionUpdateAdmitted, its request in history), and a new workflow task. The new
run's mutable state is rebuilt from the copied events (engine/rebuild.py); its pending
activities, timers, children and external requests get their task rows and deadlines
again. The current run is terminated if it still runs, and the base run names the new one
(reset_run_id).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.enums.v1 import failed_cause_pb2 as causes
from temporalio.api.enums.v1 import reset_pb2 as reset_enums
from temporalio.api.enums.v1 import update_pb2 as update_enums
from temporalio.api.failure.v1 import message_pb2 as failure_pb2
from temporalio.api.history.v1 import message_pb2 as history_pb2
from temporalio.api.update.v1 import message_pb2 as update_pb2

from perdure.server.engine import activities, requests, workflow_task
from perdure.server.engine.closing import RESETTER_IDENTITY
from perdure.server.engine.deadlines import TimerKind, TimerRef
from perdure.server.engine.execution import Execution, HistoryEvent
from perdure.server.engine.rebuild import rebuild
from perdure.server.engine.state import ActivityState, ExecutionState, Nanos
from perdure.server.errors import InvalidArgument

SERVICE_IDENTITY = "history-service"
"""Who writes the events a reset adds, as Temporal names it."""
"""Who terminates the run a reset replaces, as Temporal names it."""
SignaledAttributes = history_pb2.WorkflowExecutionSignaledEventAttributes
UpdateAdmittedAttributes = history_pb2.WorkflowExecutionUpdateAdmittedEventAttributes
Reapplied = SignaledAttributes | UpdateAdmittedAttributes


def reset_prefix(
    events: Sequence[HistoryEvent], finish_event_id: int, now: Nanos
) -> list[HistoryEvent]:
    """The base run's events a reset to `finish_event_id` keeps (they end with a started
    workflow task).

    `finish_event_id` names the event that ended a workflow task (completed, failed or
    timed out): the event before it must be the task's WorkflowTaskStarted. A task that
    was only scheduled there gets a started event, as Temporal writes it.
    """
    last = events[-1].event_id if events else 0
    if finish_event_id <= 1 or finish_event_id > last:
        raise InvalidArgument("Workflow task finish ID must be > 1 && <= workflow last event ID.")
    prefix = [_copy(e) for e in events if e.event_id < finish_event_id]
    boundary = prefix[-1]
    if boundary.event_type == et.EVENT_TYPE_WORKFLOW_TASK_STARTED:
        return prefix
    if boundary.event_type == et.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
        started = HistoryEvent(
            event_id=finish_event_id, event_type=et.EVENT_TYPE_WORKFLOW_TASK_STARTED
        )
        started.event_time.FromNanoseconds(now)
        attrs = started.workflow_task_started_event_attributes
        attrs.scheduled_event_id = boundary.event_id
        attrs.identity = SERVICE_IDENTITY
        attrs.request_id = "emptyUuid"
        attrs.history_size_bytes = sum(e.ByteSize() for e in prefix)
        return [*prefix, started]
    name = et.EventType.Name(boundary.event_type).removeprefix("EVENT_TYPE_")  # type: ignore[arg-type]
    raise InvalidArgument(
        f"Workflow task finish ID {finish_event_id} does not end a workflow task: "
        f"the event before it ({boundary.event_id}, {name}) must be WorkflowTaskStarted."
    )


def _copy(event: HistoryEvent) -> HistoryEvent:
    copied = HistoryEvent()
    copied.CopyFrom(event)
    return copied


def to_reapply(
    events: Iterable[HistoryEvent], reapply_type: int, exclude_types: Sequence[int]
) -> list[Reapplied]:
    """The signals and updates of `events` the new run receives again, in their order.

    As Temporal: the deprecated reapply type SIGNAL reapplies signals only, NONE nothing,
    and unset (or ALL_ELIGIBLE) both; exclude types take either away. An update counts once
    it was admitted durably or accepted; it comes back admitted, for the workflow to run
    it again (an acceptance that follows its admitted event carries no request: skipped)."""
    signals = reapply_type != reset_enums.RESET_REAPPLY_TYPE_NONE and (
        reset_enums.RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL not in exclude_types
    )
    updates = reapply_type not in (
        reset_enums.RESET_REAPPLY_TYPE_NONE,
        reset_enums.RESET_REAPPLY_TYPE_SIGNAL,
    ) and (reset_enums.RESET_REAPPLY_EXCLUDE_TYPE_UPDATE not in exclude_types)
    out: list[Reapplied] = []
    for e in events:
        if signals and e.event_type == et.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            out.append(e.workflow_execution_signaled_event_attributes)
        elif updates and e.event_type == et.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            accepted = e.workflow_execution_update_accepted_event_attributes
            # As Temporal: an acceptance without its request follows the update's admitted
            # event, which carries it (and is reapplied itself, or kept before the point).
            if accepted.HasField("accepted_request"):
                out.append(_admitted(accepted.accepted_request))
        elif updates and e.event_type == et.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED:
            out.append(_admitted(e.workflow_execution_update_admitted_event_attributes.request))
    return out


def _admitted(request: update_pb2.Request) -> UpdateAdmittedAttributes:
    return UpdateAdmittedAttributes(
        request=request, origin=update_enums.UPDATE_ADMITTED_EVENT_ORIGIN_REAPPLY
    )


def create_reset_run(
    base: ExecutionState,
    prefix: Sequence[HistoryEvent],
    reapplied: Sequence[Reapplied],
    *,
    new_run_id: str,
    request_id: str,
    reason: str,
    now: Nanos,
    namespace: str,
    new_id: Callable[[], str],
) -> Execution:
    """The new run of a reset of `base` (which this does not change)."""
    st = rebuild(
        prefix, namespace_id=base.namespace_id, workflow_id=base.workflow_id, run_id=new_run_id
    )
    wt = st.workflow_task
    assert wt is not None and wt.started, "reset_prefix ends with a started workflow task"
    _carry_over(st, base, prefix[-1].event_id, now, new_id)
    ex = Execution(st, now, namespace)
    ex.out.created = True
    ex.out.visibility_changed = True
    ex.out.current_changed = True
    ex.out.events.extend(prefix)

    failure = failure_pb2.Failure(message=reason)
    failure.reset_workflow_failure_info.SetInParent()
    failed = ex.append(
        et.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        history_pb2.WorkflowTaskFailedEventAttributes(
            scheduled_event_id=wt.scheduled_event_id,
            started_event_id=wt.started_event_id,
            cause=causes.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW,
            failure=failure,
            identity=SERVICE_IDENTITY,
            base_run_id=base.run_id,
            new_run_id=new_run_id,
        ),
    )
    st.request_ids[request_id] = failed.event_id
    for attrs in reapplied:
        if isinstance(attrs, UpdateAdmittedAttributes):
            if attrs.request.meta.update_id not in st.updates:
                ex.append(et.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED, attrs)
            continue
        if attrs.request_id and attrs.request_id in st.signal_request_ids:
            continue
        ex.append(et.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, attrs)
    workflow_task.schedule(ex)
    _rearm(ex)
    return ex


def _carry_over(
    st: ExecutionState, base: ExecutionState, last_kept: int, now: Nanos, new_id: Callable[[], str]
) -> None:
    """What history does not record is taken from the base run; the run starts now."""
    st.start_request_id = base.start_request_id
    st.request_ids = {rid: eid for rid, eid in base.request_ids.items() if eid <= last_kept}
    st.user_metadata = base.user_metadata
    st.original_start_time = base.original_start_time or base.start_time
    st.start_time = st.execution_time = st.last_reset_time = now
    st.run_expiration_time = now + st.workflow_run_timeout if st.workflow_run_timeout else 0
    for initiated, child in st.children.items():
        known = base.children.get(initiated)
        same = known is not None and known.workflow_id == child.workflow_id
        child.create_request_id = known.create_request_id if same and known else new_id()
    for mine, theirs in (
        (st.external_signals, base.external_signals),
        (st.external_cancels, base.external_cancels),
    ):
        for initiated, info in mine.items():
            known_request = theirs.get(initiated)
            info.request_id = known_request.request_id if known_request else new_id()


def _rearm(ex: Execution) -> None:
    """Task rows and deadlines for everything pending in the new run."""
    st = ex.state
    for info in st.activities.values():
        info.state = ActivityState.SCHEDULED
        activities.enqueue(ex, info)
        if info.schedule_to_close_timeout > 0:
            ex.add_timer(
                TimerRef(TimerKind.ACTIVITY_SCHEDULE_TO_CLOSE, info.scheduled_event_id),
                info.first_scheduled_time + info.schedule_to_close_timeout,
            )
    for timer in st.timers.values():
        ex.add_timer(TimerRef(TimerKind.USER_TIMER, timer.started_event_id), timer.expiry_time)
    run_expiration, expiration = st.run_expiration_time, st.execution_expiration_time
    if run_expiration:
        ex.add_timer(TimerRef(TimerKind.WORKFLOW_RUN_TIMEOUT), run_expiration)
    if expiration and (not run_expiration or expiration < run_expiration):
        ex.add_timer(TimerRef(TimerKind.WORKFLOW_EXECUTION_TIMEOUT), expiration)
    for initiated, child in st.children.items():
        if not child.run_id:
            ex.add_timer(TimerRef(TimerKind.START_CHILD, initiated), ex.now)
    for initiated in st.external_signals:
        ex.add_timer(TimerRef(TimerKind.SIGNAL_EXTERNAL, initiated), ex.now)
    for initiated in st.external_cancels:
        ex.add_timer(TimerRef(TimerKind.CANCEL_EXTERNAL, initiated), ex.now)


def buffered_signals(base: ExecutionState) -> list[HistoryEvent]:
    """Signals the base run received during its running workflow task (not yet written)."""
    return [
        e for e in base.buffered_events if e.event_type == et.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]


def replace_run(ex: Execution, reason: str) -> None:
    """The current run makes way for the reset run: terminated if it still runs."""
    if ex.state.running:
        requests.terminate(ex, reason=reason, details=None, identity=RESETTER_IDENTITY)


def link(base: Execution, new_run_id: str) -> None:
    """The base run names the run its reset created."""
    base.state.reset_run_id = new_run_id
