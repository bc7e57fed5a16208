"""Completing a workflow task: its commands, then what the workflow needs next.

Order, as Temporal writes it: (transient scheduled/started events,) WorkflowTaskCompleted,
the events of the commands in order, then the events buffered while the task ran. A new
workflow task follows when those buffered events need handling or the worker asked for
one (a heartbeat of a long local activity); with `return_new_workflow_task` it starts at
once and goes back in the response, as Temporal does. Activities the worker asked
to run eagerly are started here and returned in the response.

`COMMAND_HANDLERS` is the one table of which handler serves which command type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.enums.v1 import command_type_pb2 as ct
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.failure.v1 import message_pb2 as failure_pb2
from temporalio.api.history.v1 import message_pb2 as history_pb2
from temporalio.api.protocol.v1 import message_pb2 as protocol_pb2
from temporalio.api.update.v1 import message_pb2 as update_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import activities, children, commands, external, updates, workflow_task
from perdure.server.engine.command_base import (
    BadCommand,
    CommandContext,
    CommandHandler,
    SearchAttributesValidator,
)
from perdure.server.engine.execution import Execution
from perdure.server.engine.retry import nanos
from perdure.server.engine.state import ActivityInfo, WorkflowTaskInfo, WorkflowTaskKind
from perdure.server.engine.tokens import WorkflowTaskToken
from perdure.server.errors import InvalidArgument

COMMAND_HANDLERS: dict[int, CommandHandler] = {
    ct.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK: commands.schedule_activity,
    ct.COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK: commands.request_cancel_activity,
    ct.COMMAND_TYPE_START_TIMER: commands.start_timer,
    ct.COMMAND_TYPE_CANCEL_TIMER: commands.cancel_timer,
    ct.COMMAND_TYPE_RECORD_MARKER: commands.record_marker,
    ct.COMMAND_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: commands.upsert_search_attributes,
    ct.COMMAND_TYPE_MODIFY_WORKFLOW_PROPERTIES: commands.modify_properties,
    ct.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION: commands.complete_workflow,
    ct.COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION: commands.fail_workflow,
    ct.COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION: commands.cancel_workflow,
    ct.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION: commands.continue_as_new,
    ct.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION: children.start_child,
    ct.COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION: external.signal_external,
    ct.COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION: external.request_cancel_external,
    ct.COMMAND_TYPE_PROTOCOL_MESSAGE: updates.protocol_message,
}
"""Command type -> its handler: the one list of the commands a workflow task may return."""

DEFAULT_STICKY_SCHEDULE_TO_START = 5 * 1_000_000_000
_REJECTION = update_pb2.Rejection.DESCRIPTOR.full_name


ANSWERED_AT_ONCE = frozenset(
    {
        ct.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION,
        ct.COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION,
        ct.COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION,
    }
)
"""Commands whose answer (a child started, another workflow signalled or asked to cancel)
comes back as an event within milliseconds. On Temporal that event lands while the worker
still runs the speculative task for an update, and makes it a normal one (seen in every
difftest run); Perdure makes that task normal from the start."""


@dataclass
class CompletionResult:
    new_workflow_task: workflow_task.StartedWorkflowTask | None = None
    """A workflow task started inline (returned in the response)."""
    eager_activities: list[ActivityInfo] = field(default_factory=list)
    reset_history_event_id: int = 0
    """Non-zero: the (speculative) task was discarded; the worker rewinds to this event."""


def fail_for_bad_command(
    ex: Execution, token: WorkflowTaskToken, bad: BadCommand, *, identity: str
) -> None:
    """The server refused a command or message of the task `token` names (its completion
    applied nothing): fail the task with the refusal's cause, and abort the updates it
    delivered, as Temporal does (updates.py). A speculative task is recorded first, as
    Temporal records one it fails."""
    wt = workflow_task.require_started(ex, token.seq, token.started_event_id)
    failure = failure_pb2.Failure(message=bad.text)
    failure.server_failure_info.non_retryable = bad.non_retryable
    updates.abort_delivered(ex, wt)
    if wt.kind == WorkflowTaskKind.SPECULATIVE:
        workflow_task.write_transient_events(ex, wt)
    workflow_task.fail(ex, wt, cause=bad.cause, failure=failure, identity=identity)


def complete(
    ex: Execution,
    token: WorkflowTaskToken,
    request: rr.RespondWorkflowTaskCompletedRequest,
    *,
    new_id: Callable[[], str],
    validate_search_attributes: SearchAttributesValidator | None = None,
) -> CompletionResult:
    """Apply a RespondWorkflowTaskCompleted. Raises `command_base.BadCommand` (see module)."""
    st = ex.state
    wt = workflow_task.require_started(ex, token.seq, token.started_event_id)
    messages = {m.id: m for m in request.messages}
    if _discardable(ex, wt, request):
        return _discard(ex, wt, request, messages)
    workflow_task.write_transient_events(ex, wt)
    attrs = history_pb2.WorkflowTaskCompletedEventAttributes(
        scheduled_event_id=wt.scheduled_event_id,
        started_event_id=wt.started_event_id,
        identity=request.identity,
        binary_checksum=request.binary_checksum,
    )
    if request.HasField("worker_version_stamp"):
        attrs.worker_version.CopyFrom(request.worker_version_stamp)
    if request.HasField("sdk_metadata"):
        attrs.sdk_metadata.CopyFrom(request.sdk_metadata)
    if request.HasField("metering_metadata"):
        attrs.metering_metadata.CopyFrom(request.metering_metadata)
    completed = ex.append(et.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, attrs)
    workflow_task.finish(ex, wt)
    _update_stickiness(ex, request)

    ctx = CommandContext(
        ex=ex,
        completed_event_id=completed.event_id,
        request=request,
        new_id=new_id,
        validate_search_attributes=validate_search_attributes,
        messages=messages,
    )
    # Rejections come without a command and write no event: they apply first, so that a
    # command closing the run in the same task finds the update still there and the caller
    # gets its rejection (Temporal records both; the close would otherwise drop the update).
    referenced = {
        c.protocol_message_command_attributes.message_id
        for c in request.commands
        if c.command_type == ct.COMMAND_TYPE_PROTOCOL_MESSAGE
    }
    for message in request.messages:
        if message.id not in referenced and message.body.type_url.endswith(_REJECTION):
            del ctx.messages[message.id]
            updates.apply_message(ctx, message)
    for command in request.commands:
        _apply(ctx, command)
    # Other messages without a command apply after the commands, in their order.
    for message in request.messages:
        if message.id in ctx.messages:
            del ctx.messages[message.id]
            updates.apply_message(ctx, message)

    result = CompletionResult()
    if not st.running:
        return result
    for info in ctx.eager_activities:
        activities.start(
            ex,
            info.scheduled_event_id,
            info.attempt,
            identity=request.identity,
            request_id=new_id(),
            build_id=request.worker_version_stamp.build_id,
            from_task_row=False,
        )
        result.eager_activities.append(info)
    flushed = ex.flush_buffered()
    needed = flushed or request.force_create_new_workflow_task
    if needed or updates.undelivered(ex):
        # As Temporal: a task only for updates admitted while this one ran is speculative
        # (rejecting them all leaves no trace in history), given to a worker that asks for
        # its next task in the response; an event that arrives before it completes makes
        # it a normal one (_discardable). Without that request, it is a normal task.
        answered_at_once = any(c.command_type in ANSWERED_AT_ONCE for c in request.commands)
        speculative = not needed and request.return_new_workflow_task and not answered_at_once
        new_wt = workflow_task.schedule(ex, speculative=speculative)
        if request.force_create_new_workflow_task:
            new_wt.original_scheduled_time = wt.original_scheduled_time
        # As Temporal: a worker that asks for it gets the new task in the response, started
        # at once (its events are already there), instead of through its queue.
        if request.return_new_workflow_task:
            # A task Temporal starts speculative and turns normal when the commands' answer
            # lands records its started event as that conversion does: without the
            # worker's identity and build.
            converted = not needed and answered_at_once
            result.new_workflow_task = workflow_task.start(
                ex, new_wt.seq, identity="" if converted else request.identity,
                request_id=new_id(),
                build_id="" if converted else request.worker_version_stamp.build_id,
            )  # fmt: skip
    return result


def _go_name(command_type: int) -> str:
    """A CommandType as Temporal's Go enum prints it (StartTimer), as its errors show it."""
    try:
        name = ct.CommandType.Name(command_type)  # type: ignore[arg-type]
    except ValueError:
        return str(command_type)
    return "".join(w.capitalize() for w in name.removeprefix("COMMAND_TYPE_").split("_"))


def _apply(ctx: CommandContext, command: command_pb2.Command) -> None:
    """Validate and apply one command."""
    if ctx.closed_by:
        raise InvalidArgument(
            f"invalid command sequence: {ct.CommandType.Name(ctx.closed_by)} "  # type: ignore[arg-type]
            "must be the last command."
        )
    handler = COMMAND_HANDLERS.get(command.command_type)
    if handler is None:
        raise InvalidArgument(f"unknown command type: {_go_name(command.command_type)}")
    handler(ctx, command)


def _discardable(
    ex: Execution,
    wt: WorkflowTaskInfo,
    request: rr.RespondWorkflowTaskCompletedRequest,
) -> bool:
    """A speculative task that only rejected updates changed nothing: it leaves no trace."""
    return (
        wt.kind == WorkflowTaskKind.SPECULATIVE
        and not wt.scheduled_event_written
        and not request.commands
        and not request.force_create_new_workflow_task
        and not ex.state.buffered_events
        and all(m.body.type_url.endswith(_REJECTION) for m in request.messages)
    )


def _discard(
    ex: Execution,
    wt: WorkflowTaskInfo,
    request: rr.RespondWorkflowTaskCompletedRequest,
    messages: dict[str, protocol_pb2.Message],
) -> CompletionResult:
    st = ex.state
    workflow_task.finish(ex, wt)
    st.workflow_task = None  # the discarded task leaves no event
    _update_stickiness(ex, request)
    ctx = CommandContext(
        ex=ex, completed_event_id=0, request=request, new_id=lambda: "", messages=messages
    )
    for message in request.messages:
        updates.apply_message(ctx, message)
    if updates.undelivered(ex):
        workflow_task.schedule(ex, speculative=True)
    return CompletionResult(reset_history_event_id=st.last_workflow_task_started_event_id)


def _update_stickiness(ex: Execution, request: rr.RespondWorkflowTaskCompletedRequest) -> None:
    st = ex.state
    sticky = request.sticky_attributes
    if sticky.worker_task_queue.name:
        st.sticky_task_queue = sticky.worker_task_queue.name
        timeout = nanos(sticky.schedule_to_start_timeout)
        st.sticky_schedule_to_start_timeout = timeout or DEFAULT_STICKY_SCHEDULE_TO_START
    else:
        st.sticky_task_queue = ""
