"""What every command handler shares: the completion's context, `BadCommand`, the writer.

Handlers live with their topic (engine/commands.py, children.py, external.py,
updates.py); the table of which handler serves which command type is in
engine/completion.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from google.protobuf.message import Message
from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.enums.v1 import failed_cause_pb2 as causes
from temporalio.api.history.v1 import message_pb2 as history_pb2
from temporalio.api.protocol.v1 import message_pb2 as protocol_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine.execution import Execution
from perdure.server.engine.state import ActivityInfo

MAX_ID_LENGTH = 1000
SearchAttributesValidator = Callable[[common_pb2.SearchAttributes], None]


class BadCommand(Exception):
    """An invalid command: the workflow task fails with `cause`."""

    def __init__(self, cause: int, message: str) -> None:
        super().__init__(message)
        self.cause = cause
        self.message = message

    @property
    def text(self) -> str:
        """What Temporal says, in the failure and the worker's error: the cause's name as
        its Go enum prints it, then the message ("BadStartTimerAttributes: ..."), if any."""
        name = cause_name(self.cause)
        return f"{name}: {self.message}" if self.message else name

    @property
    def non_retryable(self) -> bool:
        """Temporal marks the task failure non-retryable, but for UnhandledCommand: the
        worker only has to see the new events and try again."""
        return self.cause != causes.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND


def cause_name(cause: int) -> str:
    """A WorkflowTaskFailedCause as Temporal's Go enum prints it: BadStartTimerAttributes."""
    name = causes.WorkflowTaskFailedCause.Name(cause)  # type: ignore[arg-type]
    words = name.removeprefix("WORKFLOW_TASK_FAILED_CAUSE_").split("_")
    return "".join(word.capitalize() for word in words)


@dataclass
class CommandContext:
    """What command handlers share while one workflow task completes."""

    ex: Execution
    completed_event_id: int
    request: rr.RespondWorkflowTaskCompletedRequest
    new_id: Callable[[], str]
    validate_search_attributes: SearchAttributesValidator | None = None
    eager_activities: list[ActivityInfo] = field(default_factory=list)
    messages: dict[str, protocol_pb2.Message] = field(default_factory=dict)
    """Protocol messages of the completion not yet applied, by message id."""
    closed_by: int = 0
    """The command type that closed the run, if one did."""


CommandHandler = Callable[[CommandContext, command_pb2.Command], None]


def append_for(
    ctx: CommandContext, command: command_pb2.Command, event_type: int, attrs: Message
) -> history_pb2.HistoryEvent:
    """Write the event of `command`, with the user metadata and the event group markers
    (e.g. the update whose handler issued it) the command carries, as Temporal does."""
    metadata = command.user_metadata if command.HasField("user_metadata") else None
    event = ctx.ex.new_event(event_type, attrs, metadata)
    event.event_group_markers.extend(command.event_group_markers)
    return ctx.ex.append_event(event)
