"""One small state machine per command: what it sends, which events it accepts, what it resolves.

Each machine owns the commands it issued and the events recorded for them. The replay
state (``_replay``) hands it the command event that matches its command, and routes later
events to it by the id of that command event. A machine that receives an event it cannot
accept raises :py:class:`Mismatch`; the replay state turns that into a NondeterminismError with
the workflow, event and command named. Failures given to workflow code are shaped like
sdk-core's (an ActivityFailure or ChildWorkflowFailure wrapping the recorded cause) so the
failure converter yields the same exceptions as the official SDK.

This module holds the base and the small machines (timer, markers, upserts, updates);
activities live in ``_machines_activity``, children and external workflows in
``_machines_child``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from temporalio.api.command.v1 import (
    Command,
    ProtocolMessageCommandAttributes,
    RecordMarkerCommandAttributes,
)
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import command_type_pb2, event_type_pb2
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.protocol.v1 import Message
from temporalio.api.update.v1 import Acceptance, Meta, Outcome, Rejection, Request, Response

from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._history import (
    parse_patch_marker,
)

if TYPE_CHECKING:
    from perdure.worker._workflow._replay import ReplayState

ID_AND_TYPE_CHECKS_FLAG = 1


class Mismatch(Exception):
    """An event that the machine's command cannot have produced (non-determinism)."""


class Machine:
    """Base: the replay state, the command event id once matched, and cancellation bookkeeping."""

    __slots__ = ("cancelled_before_sent", "initial_event_id", "replay")
    kind: ClassVar[str] = "Machine"

    def __init__(self, replay: ReplayState) -> None:
        self.replay = replay
        self.initial_event_id = 0
        self.cancelled_before_sent = False

    def describe(self) -> str:
        """The command, for error messages."""
        return self.kind

    def on_command_event(self, event: HistoryEvent) -> None:
        """Accept the recorded event of one of this machine's commands."""
        raise Mismatch(f"{self.describe()} cannot accept this event")

    def on_event(self, event: HistoryEvent) -> None:
        """Accept a follow-up event (started, completed, fired, ...)."""
        raise Mismatch(f"{self.describe()} cannot accept this event")

    def cancel(self) -> None:
        """Workflow code asked to cancel what this machine stands for."""


def _expect(event: HistoryEvent, *types: int) -> None:
    if event.event_type not in types:
        raise Mismatch("")


# --------------------------------------------------------------------------- timers


class TimerMachine(Machine):
    """A durable timer; firing resolves workflow code, cancelling sends CancelTimer."""

    __slots__ = ("done", "seq", "timer_id")
    kind = "StartTimer"

    def __init__(self, replay: ReplayState, command: jobs.StartTimer) -> None:
        super().__init__(replay)
        self.seq = command.seq
        self.timer_id = str(command.seq)
        self.done = False
        proto = Command(command_type=command_type_pb2.COMMAND_TYPE_START_TIMER)
        attrs = proto.start_timer_command_attributes
        attrs.timer_id = self.timer_id
        attrs.start_to_fire_timeout.FromNanoseconds(round(command.duration * 1e9))
        if command.user_metadata is not None:
            proto.user_metadata.CopyFrom(command.user_metadata)
        replay.issue(self, proto)

    def describe(self) -> str:
        return f"StartTimer(timer_id={self.timer_id!r})"

    def on_command_event(self, event: HistoryEvent) -> None:
        if event.event_type == event_type_pb2.EVENT_TYPE_TIMER_CANCELED:
            self.done = True
            return
        _expect(event, event_type_pb2.EVENT_TYPE_TIMER_STARTED)
        recorded = event.timer_started_event_attributes.timer_id
        if recorded != self.timer_id:
            raise Mismatch(f"timer id of the event {recorded!r} does not match {self.timer_id!r}")
        self.initial_event_id = event.event_id

    def on_event(self, event: HistoryEvent) -> None:
        _expect(event, event_type_pb2.EVENT_TYPE_TIMER_FIRED)
        if not self.done:
            self.done = True
            self.replay.push_job(jobs.FireTimer(self.seq))

    def cancel(self) -> None:
        if self.done:
            return
        self.done = True
        if self.initial_event_id == 0:
            self.cancelled_before_sent = True
            return
        proto = Command(command_type=command_type_pb2.COMMAND_TYPE_CANCEL_TIMER)
        proto.cancel_timer_command_attributes.timer_id = self.timer_id
        self.replay.issue(self, proto)


# --------------------------------------------------------------------------- fire and forget


class RecordOnlyMachine(Machine):
    """A command whose event only needs to be checked: upserts, memo, workflow completion."""

    __slots__ = ("command_type", "event_type", "label", "recorded")

    def __init__(self, replay: ReplayState, command: Command, event_type: int, label: str) -> None:
        super().__init__(replay)
        self.command_type = command.command_type
        self.event_type = event_type
        self.label = label
        self.recorded = False
        replay.issue(self, command)

    def describe(self) -> str:
        return self.label

    def on_command_event(self, event: HistoryEvent) -> None:
        _expect(event, self.event_type)
        self.recorded = True


class PatchMachine(Machine):
    """A ``core_patch`` marker: recorded when the patched branch first runs."""

    __slots__ = ("deprecated", "patch_id", "recorded")
    kind = "RecordMarker(core_patch)"

    def __init__(self, replay: ReplayState, patch_id: str, deprecated: bool) -> None:
        super().__init__(replay)
        self.patch_id = patch_id
        self.deprecated = deprecated
        self.recorded = False
        attrs = RecordMarkerCommandAttributes(marker_name="core_patch")
        from perdure.worker._workflow._history import patch_marker_details

        for key, value in patch_marker_details(patch_id, deprecated).items():
            attrs.details[key].CopyFrom(value)
        replay.issue(
            self,
            Command(
                command_type=command_type_pb2.COMMAND_TYPE_RECORD_MARKER,
                record_marker_command_attributes=attrs,
            ),
        )

    def describe(self) -> str:
        return f"RecordMarker(core_patch, patch_id={self.patch_id!r})"

    def on_command_event(self, event: HistoryEvent) -> None:
        details = parse_patch_marker(event)
        if details is None or details[0] != self.patch_id:
            raise Mismatch(f"expected the marker of patch {self.patch_id!r}")
        self.recorded = True


# --------------------------------------------------------------------------- updates


@dataclass(slots=True)
class UpdateRequest:
    """An update request as delivered by a protocol message, an UpdateAccepted event or an
    UpdateAdmitted event."""

    update_id: str
    protocol_instance_id: str
    message_id: str
    sequencing_event_id: int
    name: str
    input: list[Payload]
    headers: dict[str, Payload]
    meta: Meta

    @classmethod
    def of(
        cls,
        request: Request,
        *,
        protocol_instance_id: str,
        message_id: str,
        sequencing_event_id: int,
    ) -> UpdateRequest:
        """The request, with where it came from (a message, an accepted or admitted event)."""
        return cls(
            update_id=request.meta.update_id,
            protocol_instance_id=protocol_instance_id,
            message_id=message_id,
            sequencing_event_id=sequencing_event_id,
            name=request.input.name,
            input=list(request.input.args.payloads),
            headers=dict(request.input.header.fields),
            meta=request.meta,
        )


class UpdateMachine(Machine):
    """An update: accept (or reject), then complete, as protocol messages plus commands."""

    __slots__ = ("accepted", "completed", "request")
    kind = "ProtocolMessage(update)"

    def __init__(self, replay: ReplayState, request: UpdateRequest) -> None:
        super().__init__(replay)
        self.request = request
        self.accepted = False
        self.completed = False
        replay.push_job(
            jobs.DoUpdate(
                id=request.update_id,
                protocol_instance_id=request.protocol_instance_id,
                name=request.name,
                input=request.input,
                headers=request.headers,
                meta=request.meta,
                run_validator=not replay.replaying,
            )
        )

    def describe(self) -> str:
        return f"ProtocolMessage(update {self.request.name!r}, id={self.request.update_id!r})"

    def respond(self, response: jobs.UpdateResponse) -> None:
        """Workflow code answered: emit the messages (and commands) for it."""
        base = self.request.message_id
        if response.rejected is not None:
            if self.accepted:
                raise RuntimeError(f"update {self.request.update_id} rejected after acceptance")
            rejection = Rejection(
                rejected_request_message_id=base,
                rejected_request_sequencing_event_id=self.request.sequencing_event_id,
                failure=response.rejected,
            )
            self._message(f"{base}/reject", rejection, command=False)
            self.completed = True
            return
        if response.accepted:
            self._accept()
            return
        if not self.accepted:
            self._accept()
        outcome = Outcome()
        if response.completed_failure is not None:
            outcome.failure.CopyFrom(response.completed_failure)
        elif response.completed is not None:
            outcome.success.payloads.append(response.completed)
        else:
            outcome.success.SetInParent()
        self._message(
            f"{base}/complete", Response(meta=self.request.meta, outcome=outcome), command=True
        )

    def _accept(self) -> None:
        self.accepted = True
        acceptance = Acceptance(
            accepted_request_message_id=self.request.message_id,
            accepted_request_sequencing_event_id=self.request.sequencing_event_id,
        )
        self._message(f"{self.request.message_id}/accept", acceptance, command=True)

    def _message(
        self, message_id: str, body: Acceptance | Rejection | Response, *, command: bool
    ) -> None:
        message = Message(id=message_id, protocol_instance_id=self.request.protocol_instance_id)
        message.body.Pack(body)
        self.replay.issue_message(message)
        if command:
            self.replay.issue(
                self,
                Command(
                    command_type=command_type_pb2.COMMAND_TYPE_PROTOCOL_MESSAGE,
                    protocol_message_command_attributes=ProtocolMessageCommandAttributes(
                        message_id=message_id
                    ),
                ),
            )

    def on_command_event(self, event: HistoryEvent) -> None:
        if event.event_type == event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            return
        _expect(event, event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED)
        self.completed = True
