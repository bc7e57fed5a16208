"""Commands of a completed workflow task: validation and the events they write.

Each handler checks its command as Temporal does and raises `BadCommand` with
Temporal's workflow-task-failed cause when the command is invalid. The caller then
discards everything the transition did so far and records the workflow task as failed
instead (engine/completion.py), so an invalid command never reaches the history.
This module handles the commands about activities, timers, markers, the workflow's
properties and closing the run; child workflows, external requests and update protocol
messages have theirs in their own modules. engine/completion.py holds the one table of
command type -> handler.
"""

from __future__ import annotations

from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.enums.v1 import failed_cause_pb2 as causes
from temporalio.api.enums.v1 import task_queue_pb2 as tq_enums
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.history.v1 import message_pb2 as history_pb2

from perdure.server.engine import activities, closing, runs, updates, workflow_task
from perdure.server.engine.command_base import (
    MAX_ID_LENGTH,
    BadCommand,
    CommandContext,
    append_for,
)
from perdure.server.engine.deadlines import TimerKind, TimerRef
from perdure.server.engine.execution import Execution, NewRun
from perdure.server.engine.retry import duration, nanos, validate_retry_policy, with_defaults
from perdure.server.errors import ServiceError


def _check_id(value: str, what: str, cause: int, command: str = "command") -> None:
    """A required id or name: set, and within Temporal's length limit."""
    if not value:
        raise BadCommand(cause, f"{what} is not set on {command}.")
    if len(value) > MAX_ID_LENGTH:
        raise BadCommand(cause, f"{what} exceeds length limit.")


# ------------------------------------------------------------------------ activities


def schedule_activity(ctx: CommandContext, command: command_pb2.Command) -> None:
    a = command.schedule_activity_task_command_attributes
    st = ctx.ex.state
    bad = causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES
    # Temporal's checks and texts, in its order.
    if not a.HasField("task_queue"):
        raise BadCommand(bad, "taskQueue is not set")
    if not a.task_queue.name:
        raise BadCommand(bad, "missing task queue name")
    if len(a.task_queue.name) > MAX_ID_LENGTH:
        raise BadCommand(bad, "TaskQueue exceeds length limit.")
    if not a.activity_id:
        raise BadCommand(bad, "activityId is not set")
    if not a.activity_type.name:
        raise BadCommand(bad, "activityType is not set")
    _check_id(a.activity_id, "ActivityId", bad)
    _check_id(a.activity_type.name, "ActivityType", bad)
    if a.HasField("retry_policy"):
        try:
            validate_retry_policy(a.retry_policy)
        except ServiceError as err:
            raise BadCommand(bad, err.message) from err
    requested = activities.ActivityTimeouts(
        schedule_to_close=nanos(a.schedule_to_close_timeout),
        schedule_to_start=nanos(a.schedule_to_start_timeout),
        start_to_close=nanos(a.start_to_close_timeout),
        heartbeat=nanos(a.heartbeat_timeout),
    )
    for name, value in (
        ("ScheduleToCloseTimeout", requested.schedule_to_close),
        ("ScheduleToStartTimeout", requested.schedule_to_start),
        ("StartToCloseTimeout", requested.start_to_close),
        ("HeartbeatTimeout", requested.heartbeat),
    ):
        if value < 0:
            raise BadCommand(bad, f"invalid {name}: negative duration")
    timeouts = activities.normalized_timeouts(requested, st.workflow_run_timeout)
    if timeouts is None:
        raise BadCommand(
            bad,
            "a valid StartToCloseTimeout or ScheduleToCloseTimeout must be set on the activity. "
            f"ActivityId={a.activity_id} ActivityType={a.activity_type.name}",
        )
    if st.activity_by_id(a.activity_id) is not None:
        raise BadCommand(
            causes.WORKFLOW_TASK_FAILED_CAUSE_SCHEDULE_ACTIVITY_DUPLICATE_ID,
            f"Activity with id {a.activity_id} already started.",
        )
    if len(st.activities) >= ctx.ex.settings.max_pending_activities:
        raise BadCommand(
            causes.WORKFLOW_TASK_FAILED_CAUSE_PENDING_ACTIVITIES_LIMIT_EXCEEDED,
            "the number of pending activities has reached the per-workflow limit",
        )
    task_queue = a.task_queue.name
    retry_policy = with_defaults(a.retry_policy if a.HasField("retry_policy") else None)
    event_attrs = history_pb2.ActivityTaskScheduledEventAttributes(
        activity_id=a.activity_id,
        workflow_task_completed_event_id=ctx.completed_event_id,
        use_workflow_build_id=a.use_workflow_build_id,
        schedule_to_close_timeout=duration(timeouts.schedule_to_close),
        schedule_to_start_timeout=duration(timeouts.schedule_to_start),
        start_to_close_timeout=duration(timeouts.start_to_close),
        heartbeat_timeout=duration(timeouts.heartbeat),
        retry_policy=retry_policy,
    )
    event_attrs.activity_type.name = a.activity_type.name
    event_attrs.task_queue.name = task_queue
    event_attrs.task_queue.kind = tq_enums.TASK_QUEUE_KIND_NORMAL
    if a.HasField("header"):
        event_attrs.header.CopyFrom(a.header)
    if a.HasField("input"):
        event_attrs.input.CopyFrom(a.input)
    if a.HasField("priority"):
        event_attrs.priority.CopyFrom(a.priority)
    event = append_for(ctx, command, et.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, event_attrs)
    info = st.activities[event.event_id]
    if timeouts.schedule_to_close > 0:
        ctx.ex.add_timer(
            TimerRef(TimerKind.ACTIVITY_SCHEDULE_TO_CLOSE, event.event_id),
            ctx.ex.now + timeouts.schedule_to_close,
        )
    if a.request_eager_execution and task_queue == st.task_queue:
        ctx.eager_activities.append(info)
    else:
        activities.enqueue(ctx.ex, info)


def request_cancel_activity(ctx: CommandContext, command: command_pb2.Command) -> None:
    a = command.request_cancel_activity_task_command_attributes
    info = ctx.ex.state.activities.get(a.scheduled_event_id)
    if info is None or info.cancel_requested:
        raise BadCommand(
            causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_REQUEST_CANCEL_ACTIVITY_ATTRIBUTES,
            "invalid history builder state for action: "
            f"add-activitytask-cancel-requested-event, ScheduledEventID: {a.scheduled_event_id}",
        )
    if info in ctx.eager_activities:
        ctx.eager_activities.remove(info)
    activities.request_cancel(ctx.ex, info, ctx.completed_event_id)


# ------------------------------------------------------------------------ timers


def start_timer(ctx: CommandContext, command: command_pb2.Command) -> None:
    a = command.start_timer_command_attributes
    st = ctx.ex.state
    bad = causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_START_TIMER_ATTRIBUTES
    _check_id(a.timer_id, "TimerId", bad, "StartTimerCommand")
    # Zero (or omitted, as `workflow.sleep(0)` sends it) fires at once, as on Temporal.
    if nanos(a.start_to_fire_timeout) < 0:
        raise BadCommand(
            bad,
            "An invalid StartToFireTimeout is set on StartTimerCommand: negative duration. "
            f"TimerId={a.timer_id}",
        )
    if a.timer_id in st.timers:
        raise BadCommand(
            causes.WORKFLOW_TASK_FAILED_CAUSE_START_TIMER_DUPLICATE_ID,
            f"Timer with id {a.timer_id} is already started.",
        )
    event_attrs = history_pb2.TimerStartedEventAttributes(
        timer_id=a.timer_id,
        start_to_fire_timeout=a.start_to_fire_timeout,
        workflow_task_completed_event_id=ctx.completed_event_id,
    )
    event = append_for(ctx, command, et.EVENT_TYPE_TIMER_STARTED, event_attrs)
    timer = st.timers[a.timer_id]
    ctx.ex.add_timer(TimerRef(TimerKind.USER_TIMER, event.event_id), timer.expiry_time)


def cancel_timer(ctx: CommandContext, command: command_pb2.Command) -> None:
    a = command.cancel_timer_command_attributes
    ex, st = ctx.ex, ctx.ex.state
    bad = causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_CANCEL_TIMER_ATTRIBUTES
    _check_id(a.timer_id, "TimerId", bad, "CancelTimerCommand")
    timer = st.timers.get(a.timer_id)
    if timer is not None:
        started_event_id = timer.started_event_id
        ex.remove_timer(TimerRef(TimerKind.USER_TIMER, started_event_id))
    else:
        # It may have fired while the task ran: then the fire is unseen, take it back.
        fired = _take_buffered_timer_fired(ex, a.timer_id)
        if fired is None:
            raise BadCommand(
                bad,
                "invalid history builder state for action: add-timer-canceled-event, "
                f"TimerID: {a.timer_id}",
            )
        started_event_id = fired
    event_attrs = history_pb2.TimerCanceledEventAttributes(
        timer_id=a.timer_id,
        started_event_id=started_event_id,
        workflow_task_completed_event_id=ctx.completed_event_id,
        identity=ctx.request.identity,
    )
    append_for(ctx, command, et.EVENT_TYPE_TIMER_CANCELED, event_attrs)


def _take_buffered_timer_fired(ex: Execution, timer_id: str) -> int | None:
    for i, event in enumerate(ex.state.buffered_events):
        if (
            event.event_type == et.EVENT_TYPE_TIMER_FIRED
            and event.timer_fired_event_attributes.timer_id == timer_id
        ):
            del ex.state.buffered_events[i]
            return event.timer_fired_event_attributes.started_event_id
    return None


def fire_user_timer(ex: Execution, ref: TimerRef) -> None:
    """A workflow's timer is due: TimerFired, and a workflow task to see it."""
    ex.claim_timer(ref)
    st = ex.state
    if not st.running:
        return
    for timer in st.timers.values():
        if timer.started_event_id == ref.target_id:
            break
    else:
        return
    ex.append_external(
        et.EVENT_TYPE_TIMER_FIRED,
        history_pb2.TimerFiredEventAttributes(
            timer_id=timer.timer_id, started_event_id=timer.started_event_id
        ),
    )
    workflow_task.schedule(ex)


# ------------------------------------------------------------------------ markers & properties


def record_marker(ctx: CommandContext, command: command_pb2.Command) -> None:
    a = command.record_marker_command_attributes
    _check_id(
        a.marker_name,
        "MarkerName",
        causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_RECORD_MARKER_ATTRIBUTES,
        "RecordMarkerCommand",
    )
    event_attrs = history_pb2.MarkerRecordedEventAttributes(
        marker_name=a.marker_name, workflow_task_completed_event_id=ctx.completed_event_id
    )
    for key, payloads in a.details.items():
        event_attrs.details[key].CopyFrom(payloads)
    if a.HasField("header"):
        event_attrs.header.CopyFrom(a.header)
    if a.HasField("failure"):
        event_attrs.failure.CopyFrom(a.failure)
    append_for(ctx, command, et.EVENT_TYPE_MARKER_RECORDED, event_attrs)


_UPSERT = "UpsertWorkflowSearchAttributesCommand"


def upsert_search_attributes(ctx: CommandContext, command: command_pb2.Command) -> None:
    a = command.upsert_workflow_search_attributes_command_attributes
    bad = causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_SEARCH_ATTRIBUTES
    if not a.HasField("search_attributes"):
        raise BadCommand(
            bad, "SearchAttributes is not set on UpsertWorkflowSearchAttributesCommand."
        )
    if not a.search_attributes.indexed_fields:
        raise BadCommand(bad, "IndexedFields is not set on UpsertWorkflowSearchAttributesCommand.")
    if ctx.validate_search_attributes is not None:
        try:
            ctx.validate_search_attributes(a.search_attributes)
        except ServiceError as err:
            raise BadCommand(bad, err.message) from err
    event_attrs = history_pb2.UpsertWorkflowSearchAttributesEventAttributes(
        workflow_task_completed_event_id=ctx.completed_event_id,
        search_attributes=a.search_attributes,
    )
    append_for(ctx, command, et.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, event_attrs)
    ctx.ex.out.visibility_changed = True


def modify_properties(ctx: CommandContext, command: command_pb2.Command) -> None:
    a = command.modify_workflow_properties_command_attributes
    if not a.HasField("upserted_memo"):
        raise BadCommand(
            causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_MODIFY_WORKFLOW_PROPERTIES_ATTRIBUTES,
            "UpsertedMemo is not set on ModifyWorkflowPropertiesCommand.",
        )
    event_attrs = history_pb2.WorkflowPropertiesModifiedEventAttributes(
        workflow_task_completed_event_id=ctx.completed_event_id, upserted_memo=a.upserted_memo
    )
    append_for(ctx, command, et.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED, event_attrs)
    ctx.ex.out.visibility_changed = True


# ------------------------------------------------------------------------ closing the run


def _check_can_close(ctx: CommandContext, command_type: int) -> None:
    """New events arrived during the task: the worker must see them before closing.
    Temporal says only the cause ("UnhandledCommand")."""
    if ctx.ex.state.buffered_events:
        raise BadCommand(causes.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND, "")
    ctx.closed_by = command_type


def complete_workflow(ctx: CommandContext, command: command_pb2.Command) -> None:
    _check_can_close(ctx, command.command_type)
    a = command.complete_workflow_execution_command_attributes
    ex = ctx.ex
    result = a.result if a.HasField("result") else None
    cont, _ = runs.retry_or_cron(ex, None, ctx.new_id(), result)
    event_attrs = history_pb2.WorkflowExecutionCompletedEventAttributes(
        workflow_task_completed_event_id=ctx.completed_event_id,
        new_execution_run_id=cont.run_id if cont else "",
    )
    if result is not None:
        event_attrs.result.CopyFrom(result)
    closing.close(ex, et.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, event_attrs)
    if cont is not None and ex.start_attributes is not None:
        runs.start_successor(ex, cont, ex.start_attributes)


def fail_workflow(ctx: CommandContext, command: command_pb2.Command) -> None:
    _check_can_close(ctx, command.command_type)
    a = command.fail_workflow_execution_command_attributes
    if not a.HasField("failure"):
        raise BadCommand(
            causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_FAIL_WORKFLOW_EXECUTION_ATTRIBUTES,
            "Failure is not set on FailWorkflowExecutionCommand.",
        )
    ex = ctx.ex
    cont, retry_state = runs.retry_or_cron(ex, a.failure, ctx.new_id())
    event_attrs = history_pb2.WorkflowExecutionFailedEventAttributes(
        failure=a.failure,
        retry_state=retry_state,  # type: ignore[arg-type]
        workflow_task_completed_event_id=ctx.completed_event_id,
        new_execution_run_id=cont.run_id if cont else "",
    )
    closing.close(ex, et.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, event_attrs)
    if cont is not None and ex.start_attributes is not None:
        runs.start_successor(ex, cont, ex.start_attributes)


def cancel_workflow(ctx: CommandContext, command: command_pb2.Command) -> None:
    _check_can_close(ctx, command.command_type)
    a = command.cancel_workflow_execution_command_attributes
    event_attrs = history_pb2.WorkflowExecutionCanceledEventAttributes(
        workflow_task_completed_event_id=ctx.completed_event_id
    )
    if a.HasField("details"):
        event_attrs.details.CopyFrom(a.details)
    closing.close(ctx.ex, et.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED, event_attrs)


def continue_as_new(ctx: CommandContext, command: command_pb2.Command) -> None:
    _check_can_close(ctx, command.command_type)
    a = command.continue_as_new_workflow_execution_command_attributes
    ex, st = ctx.ex, ctx.ex.state
    bad = causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_CONTINUE_AS_NEW_ATTRIBUTES
    workflow_type = a.workflow_type.name or st.workflow_type
    task_queue = a.task_queue.name or st.task_queue
    if len(workflow_type) > MAX_ID_LENGTH or len(task_queue) > MAX_ID_LENGTH:
        raise BadCommand(bad, "WorkflowType or TaskQueue exceeds length limit.")
    # Temporal names the task queue as Go's proto text prints it.
    where = (
        f'WorkflowType={workflow_type} TaskQueue=name:"{task_queue}"  kind:TASK_QUEUE_KIND_NORMAL'
    )
    for timeout_name, value in (
        ("WorkflowRunTimeout", a.workflow_run_timeout),
        ("WorkflowTaskTimeout", a.workflow_task_timeout),
        ("BackoffStartInterval", a.backoff_start_interval),
    ):
        if nanos(value) < 0:
            raise BadCommand(
                bad,
                f"Invalid {timeout_name} on ContinueAsNewWorkflowExecutionCommand: "
                f"negative duration. "
                f"{where}",
            )
    run_timeout = nanos(a.workflow_run_timeout) or st.workflow_run_timeout
    task_timeout = min(
        nanos(a.workflow_task_timeout) or st.workflow_task_timeout,
        workflow_task.MAX_WORKFLOW_TASK_TIMEOUT,
    )
    backoff = nanos(a.backoff_start_interval)
    if a.HasField("retry_policy"):
        try:
            validate_retry_policy(a.retry_policy)
        except ServiceError as err:
            raise BadCommand(bad, err.message) from err
    new_run_id = ctx.new_id()
    # The SDKs leave it unset; Temporal starts the new run with the workflow as initiator.
    initiator = a.initiator or wf_enums.CONTINUE_AS_NEW_INITIATOR_WORKFLOW
    attrs = history_pb2.WorkflowExecutionContinuedAsNewEventAttributes(
        new_execution_run_id=new_run_id,
        workflow_run_timeout=duration(run_timeout),
        workflow_task_timeout=duration(task_timeout),
        workflow_task_completed_event_id=ctx.completed_event_id,
        initiator=a.initiator,
        inherit_build_id=a.inherit_build_id,
    )
    if backoff:  # none: left unset, as on Temporal
        attrs.backoff_start_interval.CopyFrom(duration(backoff))
    attrs.workflow_type.name = workflow_type
    attrs.task_queue.name = task_queue
    attrs.task_queue.kind = tq_enums.TASK_QUEUE_KIND_NORMAL
    for name in (
        "input",
        "header",
        "memo",
        "search_attributes",
        "failure",
        "last_completion_result",
    ):
        if a.HasField(name):
            getattr(attrs, name).CopyFrom(getattr(a, name))
    admitted = closing.close(ex, et.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, attrs)
    spec = runs.RunSpec(
        namespace_id=st.namespace_id,
        workflow_id=st.workflow_id,
        run_id=new_run_id,
        workflow_type=workflow_type,
        task_queue=task_queue,
        request_id="",
        first_execution_run_id=st.first_execution_run_id,
        input=a.input if a.HasField("input") else None,
        header=a.header if a.HasField("header") else None,
        identity=ctx.request.identity,
        workflow_execution_timeout=st.workflow_execution_timeout,
        workflow_run_timeout=run_timeout,
        workflow_task_timeout=task_timeout,
        execution_expiration_time=st.execution_expiration_time,
        retry_policy=with_defaults(a.retry_policy)
        if a.HasField("retry_policy")
        else st.retry_policy,
        attempt=1,
        cron_schedule=a.cron_schedule or st.cron_schedule,
        # As on Temporal, the new run has the memo and search attributes the command
        # gives, none inherited from this run.
        memo=a.memo if a.HasField("memo") else None,
        search_attributes=a.search_attributes if a.HasField("search_attributes") else None,
        user_metadata=st.user_metadata,
        priority=st.priority,
        first_workflow_task_backoff=backoff,
        initiator=initiator,
        continued_execution_run_id=st.run_id,
        continued_failure=a.failure if a.HasField("failure") else None,
        last_completion_result=(
            a.last_completion_result if a.HasField("last_completion_result") else None
        ),
        parent=st.parent,
        # A child's new run keeps its tree's root; a workflow without a parent is its own
        # root, so the new run is the root of the children it starts (as on Temporal).
        root_workflow_id=st.root_workflow_id if st.parent is not None else "",
        root_run_id=st.root_run_id if st.parent is not None else "",
        prev_auto_reset_points=st.auto_reset_points,
    )
    successor = runs.create_run(spec, ex.now, ex.namespace)
    updates.take_over(successor, admitted)
    ex.out.new_runs.append(NewRun(successor))
