"""Commands from workflow code into machines: the intake side of the replay state.

Workflow code's commands of one activation arrive in order; each becomes a machine (which
queues its protocol command) or acts on an existing one (cancel a timer, an activity...).
Terminal commands go last (sdk-core's MoveTerminalCommands flag); a patch marker brings the
``TemporalChangeVersion`` upsert the official SDK adds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeVar, cast

from temporalio.api.command.v1 import Command
from temporalio.api.enums.v1 import command_type_pb2, event_type_pb2
from temporalio.api.sdk.v1 import EventGroupMarker

from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._history import (
    CHANGE_VERSION_SEARCH_ATTRIBUTE,
    LocalActivityMarker,
    change_version_payload,
)
from perdure.worker._workflow._machines import (
    Machine,
    PatchMachine,
    RecordOnlyMachine,
    TimerMachine,
    UpdateMachine,
)
from perdure.worker._workflow._machines_activity import ActivityMachine, LocalActivityMachine
from perdure.worker._workflow._machines_child import (
    CancelExternalMachine,
    ChildWorkflowMachine,
    SignalExternalMachine,
)

if TYPE_CHECKING:
    from perdure.worker._workflow._replay import ReplayState

UPSERT_ON_PATCH_FLAG = 2
MOVE_TERMINAL_COMMANDS_FLAG = 3

_M = TypeVar("_M")

_TERMINAL_EVENT: dict[type, tuple[int, int, str]] = {
    jobs.CompleteWorkflow: (
        command_type_pb2.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        "CompleteWorkflowExecution",
    ),
    jobs.FailWorkflow: (
        command_type_pb2.COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        "FailWorkflowExecution",
    ),
    jobs.CancelWorkflowExecution: (
        command_type_pb2.COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        "CancelWorkflowExecution",
    ),
    jobs.ContinueAsNew: (
        command_type_pb2.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
        "ContinueAsNewWorkflowExecution",
    ),
}


class _Entry:
    """A command waiting for its event (None = a local-activity marker seen only in replay)."""

    __slots__ = ("command", "machine")

    def __init__(self, command: Command | None, machine: Machine) -> None:
        self.command = command
        self.machine = machine


class CommandIntake:
    """The replay state's handling of workflow commands (mixed into ReplayState)."""

    @property
    def _as_replay(self) -> ReplayState:
        return cast("ReplayState", self)

    workflow_id: str
    run_id: str
    workflow_type: str
    replaying: bool
    time_ns: int
    _flags_enabled: bool
    _core_flags: set[int]
    _new_core_flags: set[int]
    local_activity_requests: list[LocalActivityMachine]
    _queue: deque[_Entry]
    _current: list[_Entry]
    _markers: list[EventGroupMarker] | None
    _activities: dict[int, ActivityMachine]
    _local_activities: dict[int, LocalActivityMachine]
    _timers: dict[int, TimerMachine]
    _children: dict[int, ChildWorkflowMachine]
    _signals: dict[int, SignalExternalMachine]
    _updates: dict[str, UpdateMachine]
    _preresolved: dict[int, LocalActivityMarker]
    _patches: dict[str, bool]

    def try_use_flag(self, flag: int, record: bool | None = None) -> bool:
        """May this run use core behaviour ``flag``? Records it when not replaying."""
        if not self._flags_enabled:
            return False
        if record if record is not None else not self.replaying:
            self._new_core_flags.add(flag)
            return True
        return flag in self._core_flags

    def _who(self) -> str:
        return (
            f"workflow {self.workflow_type} (workflow_id={self.workflow_id}, run_id={self.run_id})"
        )

    def handle_commands(
        self,
        commands: list[jobs.Command],
        markers: Mapping[int, list[EventGroupMarker]] | None = None,
    ) -> None:
        """Turn what workflow code asked for into machines and queued protos."""
        terminal: jobs.Command | None = None
        move_terminal = self.try_use_flag(MOVE_TERMINAL_COMMANDS_FLAG)
        for command in commands:
            if isinstance(command, jobs.TERMINAL_COMMANDS):
                if terminal is None:
                    terminal = command
                    if not move_terminal:
                        break
                continue
            self._markers = markers.get(id(command)) if markers else None
            self._handle_command(command)
        self._markers = None
        if terminal is not None:
            self._handle_terminal(terminal)
        self._prepare()

    def _prepare(self) -> None:
        if any(e.machine.cancelled_before_sent for e in self._queue):
            self._queue = deque(e for e in self._queue if not e.machine.cancelled_before_sent)
        for entry in self._current:
            if not entry.machine.cancelled_before_sent:
                self._queue.append(entry)
        self._current = []

    def _handle_terminal(self, command: jobs.Command) -> None:
        command_type, event_type, label = _TERMINAL_EVENT[type(command)]
        proto = Command(command_type=command_type)  # type: ignore[arg-type]
        if isinstance(command, jobs.CompleteWorkflow):
            attrs = proto.complete_workflow_execution_command_attributes
            attrs.SetInParent()
            if command.result is not None:
                attrs.result.payloads.append(command.result)
        elif isinstance(command, jobs.FailWorkflow):
            proto.fail_workflow_execution_command_attributes.failure.CopyFrom(command.failure)
        elif isinstance(command, jobs.CancelWorkflowExecution):
            proto.cancel_workflow_execution_command_attributes.SetInParent()
        elif isinstance(command, jobs.ContinueAsNew):
            proto.continue_as_new_workflow_execution_command_attributes.CopyFrom(command.attributes)
        RecordOnlyMachine(self._as_replay, proto, event_type, label)
        self.local_activity_requests.clear()

    def _handle_command(self, command: jobs.Command) -> None:
        if isinstance(command, jobs.ScheduleActivity):
            self._activities[command.seq] = ActivityMachine(
                self._as_replay,
                command.seq,
                command.attributes,
                command.cancellation_type,
                command.user_metadata,
            )
        elif isinstance(command, jobs.StartTimer):
            self._timers[command.seq] = TimerMachine(self._as_replay, command)
        elif isinstance(command, jobs.CancelTimer):
            timer = self._timers.pop(command.seq, None)
            if timer is not None:
                timer.cancel()
        elif isinstance(command, jobs.RequestCancelActivity):
            self._machine(self._activities, command.seq, "activity").cancel()
        elif isinstance(command, jobs.ScheduleLocalActivity):
            self._local_activities[command.seq] = LocalActivityMachine(
                self._as_replay,
                command,
                replaying=self.replaying,
                preresolved=self._preresolved.pop(command.seq, None) if self.replaying else None,
                start_time_ns=self.time_ns,
            )
        elif isinstance(command, jobs.RequestCancelLocalActivity):
            self._machine(self._local_activities, command.seq, "local activity").cancel()
        elif isinstance(command, jobs.StartChildWorkflow):
            self._children[command.seq] = ChildWorkflowMachine(
                self._as_replay,
                command.seq,
                command.attributes,
                command.cancellation_type,
                command.user_metadata,
            )
        elif isinstance(command, jobs.CancelChildWorkflow):
            self._machine(self._children, command.seq, "child workflow").cancel(command.reason)
        elif isinstance(command, jobs.SignalExternal):
            self._signals[command.seq] = SignalExternalMachine(
                self._as_replay, command.seq, command.attributes
            )
        elif isinstance(command, jobs.CancelSignalExternal):
            self._machine(self._signals, command.seq, "signal").cancel()
        elif isinstance(command, jobs.RequestCancelExternal):
            CancelExternalMachine(self._as_replay, command.seq, command.attributes)
        elif isinstance(command, jobs.UpsertSearchAttributes):
            proto = Command(
                command_type=command_type_pb2.COMMAND_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
            )
            fields = proto.upsert_workflow_search_attributes_command_attributes.search_attributes
            for key, value in command.indexed_fields.items():
                fields.indexed_fields[key].CopyFrom(value)
            RecordOnlyMachine(
                self._as_replay,
                proto,
                event_type_pb2.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
                f"UpsertWorkflowSearchAttributes({', '.join(sorted(command.indexed_fields))})",
            )
        elif isinstance(command, jobs.ModifyWorkflowProperties):
            proto = Command(command_type=command_type_pb2.COMMAND_TYPE_MODIFY_WORKFLOW_PROPERTIES)
            memo = proto.modify_workflow_properties_command_attributes.upserted_memo
            for key, value in command.memo.items():
                memo.fields[key].CopyFrom(value)
            RecordOnlyMachine(
                self._as_replay,
                proto,
                event_type_pb2.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
                "ModifyWorkflowProperties",
            )
        elif isinstance(command, jobs.SetPatchMarker):
            self._set_patch(command)
        elif isinstance(command, jobs.UpdateResponse):
            machine = self._updates.get(command.protocol_instance_id)
            if machine is None:
                raise RuntimeError(f"no update with instance id {command.protocol_instance_id}")
            machine.respond(command)

    def _machine(self, table: dict[int, _M], seq: int, what: str) -> _M:
        machine = table.get(seq)
        if machine is None:
            raise RuntimeError(f"{self._who()}: no {what} with seq {seq}")
        return machine

    def _set_patch(self, command: jobs.SetPatchMarker) -> None:
        seen = self._patches.get(command.patch_id)
        if seen:
            return
        PatchMachine(self._as_replay, command.patch_id, command.deprecated)
        in_history = seen is not None
        use_flag = self.try_use_flag(UPSERT_ON_PATCH_FLAG)
        if (not self.replaying or in_history) and use_flag:
            ids = {k for k in self._patches} | {command.patch_id}
            proto = Command(
                command_type=command_type_pb2.COMMAND_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
            )
            fields = proto.upsert_workflow_search_attributes_command_attributes.search_attributes
            fields.indexed_fields[CHANGE_VERSION_SEARCH_ATTRIBUTE].CopyFrom(
                change_version_payload(sorted(ids))
            )
            RecordOnlyMachine(
                self._as_replay,
                proto,
                event_type_pb2.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
                f"UpsertWorkflowSearchAttributes({CHANGE_VERSION_SEARCH_ATTRIBUTE})",
            )
        self._patches[command.patch_id] = True
