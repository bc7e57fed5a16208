"""Workflow updates: admission, delivery as protocol messages, acceptance and outcome.

An update is admitted into the run's state and delivered to the worker as a protocol
message (update.v1.Request) with the next workflow task. When no task is pending, a
speculative one is scheduled: its events are written only if the task changes the
workflow, so an update the workflow rejects leaves nothing in history (the worker is told
to reset its view with `reset_history_event_id`). Acceptance and completion arrive as
messages paired with PROTOCOL_MESSAGE commands and become WorkflowExecutionUpdateAccepted
and WorkflowExecutionUpdateCompleted events.

When the run closes first, an accepted update is completed by the server with Temporal's
AcceptedUpdateCompletedWorkflow failure (no event: derived from the closed run), and
updates admitted but not yet delivered move to the run that continues it as new, if any.

When the server fails a workflow task (a command or message it refuses; a speculative task
is then recorded with its failure), the updates that task delivered and the workflow had
not accepted are aborted, as Temporal aborts them:
their callers get FAILED_PRECONDITION (`TASK_FAILED_MESSAGE`) and the next task does not
deliver them again. Updates admitted but not delivered to it wait for the next task, and
a task the worker fails itself (RespondWorkflowTaskFailed) or that times out aborts
nothing: its updates are delivered again.
"""

from __future__ import annotations

import enum

from google.protobuf import any_pb2
from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.enums.v1 import failed_cause_pb2 as causes
from temporalio.api.failure.v1 import message_pb2 as failure_pb2
from temporalio.api.history.v1 import message_pb2 as history_pb2
from temporalio.api.protocol.v1 import message_pb2 as protocol_pb2
from temporalio.api.update.v1 import message_pb2 as update_pb2

from perdure.server.engine import workflow_task
from perdure.server.engine.command_base import BadCommand, CommandContext
from perdure.server.engine.execution import Execution
from perdure.server.engine.state import UpdateInfo, WorkflowTaskInfo, WorkflowTaskKind
from perdure.server.errors import InvalidArgument, NotFound, ResourceExhausted

MAX_REMEMBERED_REJECTIONS = 100
_BAD = causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_UPDATE_WORKFLOW_EXECUTION_MESSAGE
_URL = "type.googleapis.com/"


class Stage(enum.IntEnum):
    """temporal.api.enums.v1.UpdateWorkflowExecutionLifecycleStage."""

    UNSPECIFIED = 0
    ADMITTED = 1
    ACCEPTED = 2
    COMPLETED = 3


TASK_FAILED_MESSAGE = (
    "Unable to perform workflow execution update due to unexpected workflow task failure."
)
"""Temporal's answer to the callers of an update aborted by the server's failing the
workflow task it was delivered to."""

CLOSED_RUN_FAILURE_TYPE = "AcceptedUpdateCompletedWorkflow"
CLOSED_RUN_FAILURE_MESSAGE = (
    "Workflow Update failed because the Workflow completed before the Update completed."
)


def stage_of(info: UpdateInfo, run_open: bool = True) -> Stage:
    """The update's stage. An accepted update of a closed run is completed by the server
    (`closed_run_failure`), as Temporal does; that writes no event, so it is derived here."""
    if info.completed_event_id or info.rejection:
        return Stage.COMPLETED
    if info.accepted_event_id and not run_open:
        return Stage.COMPLETED
    if info.accepted_event_id:
        return Stage.ACCEPTED
    return Stage.ADMITTED


def admit(ex: Execution, request: update_pb2.Request) -> UpdateInfo:
    """Admit an update (or find the one with the same id) and make sure a task delivers it."""
    st = ex.state
    update_id = request.meta.update_id
    if not update_id:
        raise InvalidArgument("Update id is not set on request.")
    if not request.input.name:
        raise InvalidArgument("Update name is not set on request.")
    existing = st.updates.get(update_id)
    if existing is not None and not existing.aborted:
        return existing
    if not st.running:
        raise NotFound("workflow execution already completed")
    live = [u for u in st.updates.values() if not u.aborted]
    in_flight = sum(1 for u in live if stage_of(u) < Stage.COMPLETED)
    in_flight_limit = ex.settings.max_in_flight_updates
    if in_flight >= in_flight_limit:
        raise ResourceExhausted(
            f"limit on number of concurrent in-flight updates has been reached ({in_flight_limit})"
        )
    total_limit = ex.settings.max_total_updates
    if len(live) >= total_limit:
        raise ResourceExhausted(
            f"limit on number of total updates has been reached ({total_limit})"
        )
    info = UpdateInfo(update_id, request=request.SerializeToString(), admitted_time=ex.now)
    st.updates[update_id] = info
    ex.out.updates_changed.append(update_id)
    if st.workflow_task is None and not st.pending_first_workflow_task:
        wt = workflow_task.schedule(ex, speculative=True)
        assert wt.kind == WorkflowTaskKind.SPECULATIVE
    return info


def undelivered(ex: Execution) -> list[UpdateInfo]:
    """Admitted updates the workflow has not accepted or rejected yet (and the server has
    not aborted)."""
    return [u for u in ex.state.updates.values() if stage_of(u) == Stage.ADMITTED and not u.aborted]


def request_messages(ex: Execution, wt: WorkflowTaskInfo) -> list[protocol_pb2.Message]:
    """The update requests a starting workflow task carries to the worker, each noted as
    delivered to it."""
    out = []
    for info in undelivered(ex):
        if info.admitted_event_id:
            continue  # its request is in history
        info.delivered_to_task = wt.seq
        body = any_pb2.Any()
        body.Pack(update_pb2.Request.FromString(info.request))
        out.append(
            protocol_pb2.Message(
                id=f"{info.update_id}/request",
                protocol_instance_id=info.update_id,
                # As Temporal: after every event before the task started, so that the
                # update sees the signals that arrived while the task was scheduled.
                event_id=wt.started_event_id - 1,
                body=body,
            )
        )
    return out


def abort_delivered(ex: Execution, wt: WorkflowTaskInfo) -> None:
    """The server is failing the started task `wt`: abort the updates it delivered that
    are still unaccepted (the failed task's acceptances are discarded with it)."""
    for info in undelivered(ex):
        if info.delivered_to_task == wt.seq and not info.admitted_event_id:
            info.aborted = TASK_FAILED_MESSAGE
            info.request = b""
            ex.out.updates_changed.append(info.update_id)
    _forget_old(ex)


def closed_run_failure() -> failure_pb2.Failure:
    """The outcome Temporal gives an accepted update whose run closed before it completed."""
    failure = failure_pb2.Failure(message=CLOSED_RUN_FAILURE_MESSAGE, source="Server")
    failure.application_failure_info.type = CLOSED_RUN_FAILURE_TYPE
    failure.application_failure_info.non_retryable = True
    return failure


def outcome(
    info: UpdateInfo, completed_event: history_pb2.HistoryEvent | None, run_open: bool = True
) -> update_pb2.Outcome:
    """The outcome of a completed update (from its event, its rejection, or the run's
    close)."""
    if info.rejection:
        return update_pb2.Outcome(failure=failure_pb2.Failure.FromString(info.rejection))
    if completed_event is None and info.accepted_event_id and not run_open:
        return update_pb2.Outcome(failure=closed_run_failure())
    if completed_event is None:
        raise NotFound(f"update {info.update_id} has no outcome yet")
    return completed_event.workflow_execution_update_completed_event_attributes.outcome


def _unpack(message: protocol_pb2.Message, cls: type) -> object:
    if not message.body.type_url.endswith(cls.DESCRIPTOR.full_name):  # type: ignore[attr-defined]
        raise BadCommand(_BAD, f"message {message.id} is not a {cls.DESCRIPTOR.full_name}")  # type: ignore[attr-defined]
    return cls.FromString(message.body.value)  # type: ignore[attr-defined]


def _update_for(ex: Execution, message: protocol_pb2.Message) -> UpdateInfo:
    info = ex.state.updates.get(message.protocol_instance_id)
    if info is None:
        raise BadCommand(_BAD, f"unknown update {message.protocol_instance_id!r} in message")
    return info


def apply_message(ctx: CommandContext, message: protocol_pb2.Message) -> None:
    """Apply one protocol message from the worker (acceptance, rejection, response)."""
    ex = ctx.ex
    url = message.body.type_url.removeprefix(_URL)
    info = _update_for(ex, message)
    if url == update_pb2.Acceptance.DESCRIPTOR.full_name:
        acceptance = _unpack(message, update_pb2.Acceptance)
        assert isinstance(acceptance, update_pb2.Acceptance)
        if stage_of(info) != Stage.ADMITTED:
            raise BadCommand(_BAD, f"update {info.update_id} was already accepted or completed")
        attrs = history_pb2.WorkflowExecutionUpdateAcceptedEventAttributes(
            protocol_instance_id=info.update_id,
            accepted_request_message_id=acceptance.accepted_request_message_id,
            accepted_request_sequencing_event_id=acceptance.accepted_request_sequencing_event_id,
        )
        if info.admitted_event_id:
            pass  # the admitted event holds the request: Temporal does not repeat it
        elif acceptance.HasField("accepted_request"):
            attrs.accepted_request.CopyFrom(acceptance.accepted_request)
        else:
            attrs.accepted_request.MergeFromString(info.request)
        ex.append(et.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, attrs)
    elif url == update_pb2.Response.DESCRIPTOR.full_name:
        response = _unpack(message, update_pb2.Response)
        assert isinstance(response, update_pb2.Response)
        if stage_of(info) != Stage.ACCEPTED:
            raise BadCommand(_BAD, f"update {info.update_id} completed without being accepted")
        attrs_done = history_pb2.WorkflowExecutionUpdateCompletedEventAttributes(
            meta=response.meta, accepted_event_id=info.accepted_event_id, outcome=response.outcome
        )
        ex.append(et.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED, attrs_done)
    elif url == update_pb2.Rejection.DESCRIPTOR.full_name:
        rejection = _unpack(message, update_pb2.Rejection)
        assert isinstance(rejection, update_pb2.Rejection)
        if stage_of(info) != Stage.ADMITTED:
            raise BadCommand(_BAD, f"update {info.update_id} was already accepted")
        info.rejection = rejection.failure.SerializeToString()
        info.request = b""
        _forget_old(ex)
    else:
        raise BadCommand(_BAD, f"unknown protocol message body {message.body.type_url!r}")
    ex.out.updates_changed.append(info.update_id)


def _forget_old(ex: Execution) -> None:
    """Keep the last rejected and aborted updates only (kept for their waiting callers)."""
    for ended in (
        [u for u in ex.state.updates.values() if u.rejection],
        [u for u in ex.state.updates.values() if u.aborted],
    ):
        for info in ended[:-MAX_REMEMBERED_REJECTIONS]:
            del ex.state.updates[info.update_id]


def protocol_message(ctx: CommandContext, command: command_pb2.Command) -> None:
    message_id = command.protocol_message_command_attributes.message_id
    message = ctx.messages.pop(message_id, None)
    if message is None:
        raise BadCommand(_BAD, f"PROTOCOL_MESSAGE command names unknown message {message_id!r}")
    apply_message(ctx, message)


def drop_unfinished(ex: Execution) -> list[UpdateInfo]:
    """The run closed: admitted updates can never be accepted here; forget them and return
    them (a run continued as new takes them over, else their callers learn the workflow
    completed). Accepted ones are completed by the server (`stage_of`)."""
    dropped = undelivered(ex)
    for info in dropped:
        del ex.state.updates[info.update_id]
    ex.out.updates_changed.extend(u.update_id for u in dropped)
    return dropped


def take_over(successor: Execution, admitted: list[UpdateInfo]) -> None:
    """A run continued as new: the updates admitted to the old run and not yet delivered are
    admitted to the new one and delivered with its first workflow task, as on Temporal."""
    for info in admitted:
        successor.state.updates[info.update_id] = UpdateInfo(
            info.update_id, request=info.request, admitted_time=info.admitted_time
        )
        successor.out.updates_changed.append(info.update_id)
