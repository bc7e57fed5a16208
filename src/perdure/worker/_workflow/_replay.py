"""Replay matching: history events in, machines and jobs out; workflow commands in, protos out.

The replay state walks a run's history one workflow-task sequence at a time (see
``_history.next_wft_end``). Command events are matched, in order, against the commands the
workflow issued in the previous activation; a mismatch is a NondeterminismError that names
the workflow, the event and the command. Other events are routed to the machine of their
command (by the command event's id) or become jobs (signals, cancel requests, start). Before
each activation it looks ahead at the next sequence for patch markers, local
activity markers and accepted updates, as sdk-core does, so that replay sees exactly what
the original execution saw.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from temporalio.api.command.v1 import Command, RecordMarkerCommandAttributes
from temporalio.api.enums.v1 import WorkflowTaskFailedCause, command_type_pb2, event_type_pb2
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.protocol.v1 import Message
from temporalio.api.sdk.v1 import EventGroupMarker, WorkflowTaskCompletedMetadata
from temporalio.api.update.v1 import Request

from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._history import (
    CHANGE_VERSION_SEARCH_ATTRIBUTE,
    COMMAND_EVENTS,
    FINAL_EVENTS,
    IMPROVED_HEARTBEAT_FLAG,
    LOCAL_ACTIVITY_MARKER,
    LocalActivityMarker,
    event_name,
    initiating_event_id,
    local_activity_marker_details,
    next_wft_end,
    parse_local_activity_marker,
    parse_patch_marker,
    randomness_seed,
)
from perdure.worker._workflow._machines import (
    Machine,
    Mismatch,
    PatchMachine,
    TimerMachine,
    UpdateMachine,
    UpdateRequest,
)
from perdure.worker._workflow._machines_activity import ActivityMachine, LocalActivityMachine
from perdure.worker._workflow._machines_child import (
    ChildWorkflowMachine,
    SignalExternalMachine,
)
from perdure.worker._workflow._replay_commands import CommandIntake, _Entry
from perdure.workflow._errors import NondeterminismError

RESET_WORKFLOW_CAUSE = int(WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW)
DEFAULT_CORE_FLAGS = frozenset({1, 2, 3})
FIRST_TASK_CORE_FLAGS = frozenset({IMPROVED_HEARTBEAT_FLAG})

_A = TypeVar("_A")

_EXPECTED_EVENT: dict[int, tuple[int, ...]] = {
    command_type_pb2.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK: (
        event_type_pb2.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    ),
    command_type_pb2.COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK: (
        event_type_pb2.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,
    ),
    command_type_pb2.COMMAND_TYPE_START_TIMER: (event_type_pb2.EVENT_TYPE_TIMER_STARTED,),
    command_type_pb2.COMMAND_TYPE_CANCEL_TIMER: (event_type_pb2.EVENT_TYPE_TIMER_CANCELED,),
    command_type_pb2.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION: (
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    ),
    command_type_pb2.COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION: (
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    ),
    command_type_pb2.COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION: (
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    ),
    command_type_pb2.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION: (
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    ),
    command_type_pb2.COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION: (
        event_type_pb2.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    ),
    command_type_pb2.COMMAND_TYPE_RECORD_MARKER: (event_type_pb2.EVENT_TYPE_MARKER_RECORDED,),
    command_type_pb2.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION: (
        event_type_pb2.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    ),
    command_type_pb2.COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION: (
        event_type_pb2.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    ),
    command_type_pb2.COMMAND_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: (
        event_type_pb2.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    ),
    command_type_pb2.COMMAND_TYPE_PROTOCOL_MESSAGE: (
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED,
    ),
    command_type_pb2.COMMAND_TYPE_MODIFY_WORKFLOW_PROPERTIES: (
        event_type_pb2.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
    ),
}


class ReplayState(CommandIntake):
    """One run's replay state: its command machines, driven by its history and its commands."""

    def __init__(
        self,
        *,
        namespace: str,
        workflow_id: str,
        run_id: str,
        workflow_type: str,
        sdk_metadata: bool = True,
    ) -> None:
        self.namespace = namespace
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.workflow_type = workflow_type
        self._events: list[HistoryEvent] = []
        self._next_index = 0  # index in _events of the first unprocessed event
        self._last_event_id = 0
        self._completed_since_started = False
        self.last_processed_event_id = 0
        self.last_started_event_id = 0
        self.previous_started_event_id = 0
        self.replaying = False
        self.have_seen_terminal_event = False
        self.time_ns = 0
        self.history_size = 0
        self.continue_as_new_suggested = False
        self._jobs: list[jobs.Job] = []
        self._queue: deque[_Entry] = deque()
        self._current: list[_Entry] = []
        self._messages: list[Message] = []
        self._by_event: dict[int, Machine] = {}
        self._activities: dict[int, ActivityMachine] = {}
        self._local_activities: dict[int, LocalActivityMachine] = {}
        self._timers: dict[int, TimerMachine] = {}
        self._children: dict[int, ChildWorkflowMachine] = {}
        self._signals: dict[int, SignalExternalMachine] = {}
        self._updates: dict[str, UpdateMachine] = {}
        self._preresolved: dict[int, LocalActivityMarker] = {}
        self._patches: dict[str, bool] = {}  # patch id -> a command was created for it
        self._pending_messages: list[tuple[int, UpdateRequest]] = []
        self.local_activity_requests: list[LocalActivityMachine] = []
        self.local_activity_cancels: list[tuple[LocalActivityMachine, bool]] = []
        self._flags_enabled = sdk_metadata
        self._core_flags: set[int] = set()
        self._lang_flags: set[int] = set()
        self._new_core_flags: set[int] = set()
        self._new_lang_flags: set[int] = set()
        self._seen_task_completed = False
        self._skip_next_upsert = False
        self._markers: list[EventGroupMarker] | None = None
        self._activation_index = 0

    # ------------------------------------------------------------------ history input

    def add_history(
        self,
        events: Sequence[HistoryEvent],
        *,
        previous_started_event_id: int,
        messages: Iterable[Message] = (),
    ) -> None:
        """New events (and update requests) of a workflow task for this run."""
        last = self._last_event_id
        for event in events:
            if event.event_id > last:
                if event.event_id != last + 1:
                    raise RuntimeError(
                        f"history of {self._who()} skips from event {last} to {event.event_id}"
                    )
                self._events.append(event)
                last = event.event_id
        self._last_event_id = last
        self.previous_started_event_id = previous_started_event_id
        self.replaying = previous_started_event_id > 0
        for message in messages:
            request = Request()
            if not message.body.Unpack(request):
                continue
            self._pending_messages.append(
                (
                    message.event_id,
                    UpdateRequest.of(
                        request,
                        protocol_instance_id=message.protocol_instance_id,
                        message_id=message.id,
                        sequencing_event_id=message.event_id,
                    ),
                )
            )

    def reset_to(self, started_event_id: int) -> None:
        """Forget a speculative workflow task the server discarded (a rejected update)."""
        self.last_processed_event_id -= 2
        while self._events and self._events[-1].event_id > self.last_processed_event_id:
            self._events.pop()
        self._last_event_id = self.last_processed_event_id
        self._next_index = len(self._events)
        self.last_started_event_id = started_event_id
        for event_id in [k for k in self._by_event if k > self.last_processed_event_id]:
            del self._by_event[event_id]

    @property
    def has_unapplied_events(self) -> bool:
        """Events remain that no activation has seen yet."""
        return self._next_index < len(self._events)

    # ------------------------------------------------------------------ activations

    def next_activation(self) -> jobs.Activation | None:
        """Apply history until there is work for workflow code; None when caught up."""
        while not self._jobs:
            if self.have_seen_terminal_event or not self.has_unapplied_events:
                self.replaying = False
                return None
            self._apply_next_sequence()
        self._activation_index += 1
        pending, self._jobs = self._jobs, []
        return jobs.Activation(
            jobs=pending,
            time_ns=self.time_ns,
            is_replaying=self.replaying,
            history_length=self.last_processed_event_id,
            history_size=self.history_size,
            continue_as_new_suggested=self.continue_as_new_suggested,
            lang_flags=frozenset(self._lang_flags),
        )

    def _apply_next_sequence(self) -> None:
        start = self._next_index
        improved = IMPROVED_HEARTBEAT_FLAG in self._core_flags or self._first_task_flag(start)
        end = next_wft_end(
            self._events,
            start,
            improved=improved,
            pending_speculative_update=bool(self._pending_messages),
        )
        sequence = self._events[start : end + 1]
        self._next_index = end + 1
        has_final = self._next_index >= len(self._events)
        for event in sequence:
            if event.event_type == event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                self._observe_flags(event)
        nxt = self._peek_wft_completed(self._next_index)
        if nxt is not None:
            self._observe_flags(nxt)
        for i, event in enumerate(sequence):
            following = sequence[i + 1] if i + 1 < len(sequence) else self._event_at(end + 1)
            if (
                self.replaying
                and has_final
                and event.event_id > self.previous_started_event_id
                and event.event_type != event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
                and event.event_type not in COMMAND_EVENTS
            ):
                self.replaying = False
            self._deliver_messages(event.event_id - 1)
            self._handle_event(event, following)
            self.last_processed_event_id = event.event_id
        self._lookahead(self._next_index)
        if self._next_index > 512:  # processed events are never read again: drop them
            del self._events[: self._next_index]
            self._next_index = 0

    def _first_task_flag(self, start: int) -> bool:
        completed = self._peek_wft_completed(start)
        return completed is not None and IMPROVED_HEARTBEAT_FLAG in (
            completed.workflow_task_completed_event_attributes.sdk_metadata.core_used_flags
        )

    def _event_at(self, index: int) -> HistoryEvent | None:
        return self._events[index] if index < len(self._events) else None

    def _peek_wft_completed(self, start: int) -> HistoryEvent | None:
        for event in self._events[start:]:
            if event.event_type == event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                return event
        return None

    def _observe_flags(self, event: HistoryEvent) -> None:
        if not self._flags_enabled:
            return
        metadata = event.workflow_task_completed_event_attributes.sdk_metadata
        self._core_flags.update(metadata.core_used_flags)
        self._lang_flags.update(metadata.lang_used_flags)

    def _lookahead(self, start: int) -> None:
        if start >= len(self._events):
            return
        end = next_wft_end(
            self._events, start, improved=IMPROVED_HEARTBEAT_FLAG in self._core_flags
        )
        for event in self._events[start : end + 1]:
            patch = parse_patch_marker(event)
            if patch is not None:
                self._patches.setdefault(patch[0], False)
                self._jobs.append(jobs.NotifyHasPatch(patch[0]))
                continue
            if event.event_type == event_type_pb2.EVENT_TYPE_MARKER_RECORDED:
                marker = parse_local_activity_marker(event)
                if marker is None:
                    continue
                machine = self._local_activities.get(marker.seq)
                if machine is not None and machine.accepts_marker_ahead():
                    self._wrap(machine, event, machine.resolve_from_lookahead, marker)
                elif machine is None:
                    self._preresolved[marker.seq] = marker
                continue
            if event.event_type == event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                accepted = event.workflow_execution_update_accepted_event_attributes
                if not accepted.HasField("accepted_request"):
                    continue  # its UpdateAdmitted event started it
                self._start_update(
                    UpdateRequest.of(
                        accepted.accepted_request,
                        protocol_instance_id=accepted.protocol_instance_id,
                        message_id=accepted.accepted_request_message_id,
                        sequencing_event_id=accepted.accepted_request_sequencing_event_id,
                    )
                )

    def _deliver_messages(self, after_event_id: int) -> None:
        if not self._pending_messages:
            return
        ready = [r for eid, r in self._pending_messages if eid <= after_event_id]
        if ready:
            self._pending_messages = [
                (eid, r) for eid, r in self._pending_messages if eid > after_event_id
            ]
            for request in ready:
                self._start_update(request)

    def deliver_remaining_messages(self) -> None:
        """Update requests sequenced after the last event (speculative tasks)."""
        self._deliver_messages(1 << 62)

    def _start_update(self, request: UpdateRequest) -> None:
        if request.protocol_instance_id in self._updates:
            return
        self._updates[request.protocol_instance_id] = UpdateMachine(self, request)

    # ------------------------------------------------------------------ events

    def _handle_event(self, event: HistoryEvent, following: HistoryEvent | None) -> None:
        kind = event.event_type
        if kind in FINAL_EVENTS:
            self.have_seen_terminal_event = True
        if kind in (
            event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
            event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
        ):
            return
        if kind in COMMAND_EVENTS:
            self._handle_command_event(event, following)
            return
        if kind == event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            self._seen_task_completed = True
            self._completed_since_started = True
        elif self._queue and not _cancelled_in_same_batch(event):
            self._check_no_leftover(event)
        if kind == event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            # The completed task's commands were all matched (checked above, at the first
            # event after them); what the workflow issues from here on belongs to a task
            # history may never complete (say, the run is terminated before it starts).
            self._completed_since_started = False
        if kind == event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            self._completed_since_started = False
            attrs = event.workflow_task_started_event_attributes
            self.history_size = attrs.history_size_bytes
            self.continue_as_new_suggested = attrs.suggest_continue_as_new
            if following is None or following.event_type not in (
                event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_FAILED,
                event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
            ):
                self._task_started(event)
            return
        initial = initiating_event_id(event)
        if initial is not None:
            machine = self._by_event.get(initial)
            if machine is None:
                raise self._nondeterminism(
                    event, None, f"no command recorded at event {initial} for it"
                )
            self._wrap(machine, event, machine.on_event, event)
            return
        if kind == event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            attrs_s = event.workflow_execution_started_event_attributes
            self._advance(event.event_time.ToNanoseconds())
            self._jobs.append(
                jobs.InitializeWorkflow(
                    attrs_s,
                    event.event_time.ToDatetime(),
                    randomness_seed(attrs_s.original_execution_run_id or self.run_id),
                )
            )
        elif kind == event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            sig = event.workflow_execution_signaled_event_attributes
            self._jobs.append(
                jobs.SignalWorkflow(
                    sig.signal_name,
                    list(sig.input.payloads),
                    dict(sig.header.fields),
                    sig.identity,
                    event.event_id,
                )
            )
        elif kind == event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED:
            # A durably admitted update (reapplied by a reset, or handed to a continued run)
            # comes by its event, not by a message: the request is the event's, as
            # temporalio's core builds it (its acceptance then carries no request).
            request = event.workflow_execution_update_admitted_event_attributes.request
            update_id = request.meta.update_id
            self._start_update(
                UpdateRequest.of(
                    request,
                    protocol_instance_id=update_id,
                    message_id=f"{update_id}/request",
                    sequencing_event_id=event.event_id,
                )
            )
        elif kind == event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failed = event.workflow_task_failed_event_attributes
            if failed.cause == RESET_WORKFLOW_CAUSE and failed.new_run_id:
                self._jobs.append(jobs.UpdateRandomSeed(randomness_seed(failed.new_run_id)))
        elif kind == event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
            reason = event.workflow_execution_cancel_requested_event_attributes.cause
            self._jobs.append(jobs.CancelWorkflow(reason))
        # Other events (task scheduled/completed/failed, admitted updates, option changes)
        # carry nothing for workflow code.

    def _task_started(self, event: HistoryEvent) -> None:
        self.last_started_event_id = event.event_id
        self._advance(event.event_time.ToNanoseconds())
        if not self.replaying:
            for machine in list(self._local_activities.values()):
                machine.non_replay_task_started()

    def _advance(self, time_ns: int) -> None:
        if time_ns > self.time_ns:
            self.time_ns = time_ns

    def advance_time(self, when: datetime) -> None:
        """Local activity completion times move workflow time forward (never back)."""
        self._advance(int(when.timestamp() * 1e9))

    def _handle_command_event(self, event: HistoryEvent, following: HistoryEvent | None) -> None:
        if self._skip_next_upsert:
            self._skip_next_upsert = False
            if event.event_type == event_type_pb2.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
                return
        if event.event_type == event_type_pb2.EVENT_TYPE_MARKER_RECORDED:
            marker_name = event.marker_recorded_event_attributes.marker_name
            if marker_name == LOCAL_ACTIVITY_MARKER and self._special_la_marker(event):
                return
        while True:
            head = self._queue[0] if self._queue else None
            outcome = self._patch_handling(event, head)
            if outcome == "skip_command":
                self._queue.popleft()
                continue
            if outcome == "skip_event":
                self._skip_next_upsert = self._is_change_version_upsert(following)
                return
            if head is None:
                raise self._nondeterminism(
                    event, None, "the workflow issued no command for it (code changed?)"
                )
            self._queue.popleft()
            if head.machine.cancelled_before_sent:
                continue
            expected = (
                _EXPECTED_EVENT.get(head.command.command_type, ())
                if head.command is not None
                else (event_type_pb2.EVENT_TYPE_MARKER_RECORDED,)
            )
            if event.event_type not in expected:
                raise self._nondeterminism(event, head.machine, "")
            self._wrap(head.machine, event, head.machine.on_command_event, event)
            self._by_event[event.event_id] = head.machine
            return

    def _special_la_marker(self, event: HistoryEvent) -> bool:
        marker = parse_local_activity_marker(event)
        if marker is None:
            raise self._nondeterminism(event, None, "the local activity marker is unreadable")
        machine = self._local_activities.get(marker.seq)
        if machine is None:
            raise self._nondeterminism(
                event,
                None,
                f"history ran local activity {marker.activity_type!r} (seq {marker.seq}) "
                "but the workflow did not schedule it",
            )
        if not machine.needs_special_marker_handling():
            return False
        self._wrap(machine, event, machine.on_command_event, event)
        return True

    @staticmethod
    def _is_change_version_upsert(event: HistoryEvent | None) -> bool:
        if (
            event is None
            or event.event_type != event_type_pb2.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
        ):
            return False
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
        return CHANGE_VERSION_SEARCH_ATTRIBUTE in fields.indexed_fields

    def _patch_handling(self, event: HistoryEvent, head: _Entry | None) -> str:
        patch_machine = head.machine if head and isinstance(head.machine, PatchMachine) else None
        details = parse_patch_marker(event)
        if details is not None:
            patch_id, deprecated = details
            if patch_machine is not None:
                if patch_machine.patch_id != patch_id and deprecated:
                    return "skip_event"
                return "normal"
            if deprecated:
                return "skip_event"
            raise self._nondeterminism(
                event,
                head.machine if head else None,
                f"history has patch {patch_id!r} but the workflow did not call patched() "
                "for it here",
            )
        if patch_machine is not None:
            return "skip_command"
        return "normal"

    def _check_no_leftover(self, event: HistoryEvent) -> None:
        """After a task's command events, every command of that task must have matched."""
        while self._queue and (
            self._queue[0].machine.cancelled_before_sent
            or isinstance(self._queue[0].machine, PatchMachine)
        ):
            self._queue.popleft()
        if self._queue:
            head = self._queue[0]
            raise self._nondeterminism(
                event,
                head.machine,
                "the workflow issued this command but history recorded no event for it",
            )

    def _wrap(
        self, machine: Machine, event: HistoryEvent, fn: Callable[[_A], None], arg: _A
    ) -> None:
        try:
            fn(arg)
        except Mismatch as err:
            raise self._nondeterminism(event, machine, str(err)) from None

    def _nondeterminism(
        self, event: HistoryEvent, machine: Machine | None, detail: str
    ) -> NondeterminismError:
        command = f"command {machine.describe()}" if machine else "no command"
        message = (
            f"Nondeterminism in {self._who()}: history event {event.event_id} "
            f"{event_name(event.event_type)} does not match {command}"
        )
        if detail:
            message += f": {detail}"
        return NondeterminismError(message)

    # ------------------------------------------------------------------ machine callbacks

    def push_job(self, job: jobs.Job) -> None:
        """A machine resolved something for workflow code."""
        self._jobs.append(job)

    def issue(self, machine: Machine, command: Command) -> None:
        """A machine has a command to send."""
        if self._markers:
            command.event_group_markers.extend(self._markers)
        self._current.append(_Entry(command, machine))

    def issue_message(self, message: Message) -> None:
        """A protocol message (update acceptance, rejection, response) to send."""
        if not self.replaying:
            self._messages.append(message)

    def issue_local_activity_marker(
        self, machine: LocalActivityMachine, marker: LocalActivityMarker
    ) -> None:
        """Record a local activity's outcome as a ``core_local_activity`` marker."""
        attrs = RecordMarkerCommandAttributes(marker_name=LOCAL_ACTIVITY_MARKER)
        for key, value in local_activity_marker_details(marker, self._activation_index).items():
            attrs.details[key].CopyFrom(value)
        if marker.failure is not None:
            attrs.failure.CopyFrom(marker.failure)
        self.issue(
            machine,
            Command(
                command_type=command_type_pb2.COMMAND_TYPE_RECORD_MARKER,
                record_marker_command_attributes=attrs,
            ),
        )

    def queue_local_activity(self, machine: LocalActivityMachine) -> None:
        """A local activity must run in this worker."""
        self.local_activity_requests.append(machine)

    def cancel_local_activity(self, machine: LocalActivityMachine, *, wait: bool) -> None:
        """Stop a running local activity; with ``wait`` its outcome still resolves it."""
        self.local_activity_cancels.append((machine, wait))

    def use_lang_flag(self, flag: int) -> None:
        """Workflow code used language flag ``flag`` in this task."""
        if self._flags_enabled:
            self._new_lang_flags.add(flag)

    def finish_replay(self) -> None:
        """Whole history replayed: commands of a completed last task must all have matched."""
        if self._completed_since_started and self._queue:
            last = HistoryEvent(event_id=self.last_processed_event_id)
            last.event_type = event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
            self._check_no_leftover(last)

    # ------------------------------------------------------------------ output

    def resolve_local_activity(
        self, machine: LocalActivityMachine, job: jobs.ResolveActivity, marker: LocalActivityMarker
    ) -> None:
        """A local activity finished executing in this worker."""
        machine.resolve_executed(job, marker)
        self._prepare()

    def outgoing_commands(self) -> list[Command]:
        """Commands to send with the workflow task completion, in order."""
        return [e.command for e in self._queue if e.command is not None]

    def take_messages(self) -> list[Message]:
        """Protocol messages to send with the completion."""
        messages, self._messages = self._messages, []
        return messages

    def completion_metadata(self) -> WorkflowTaskCompletedMetadata:
        """Flags first used in this task (sdk_metadata of the completion)."""
        metadata = WorkflowTaskCompletedMetadata()
        if not self._flags_enabled:
            return metadata
        core = set(self._new_core_flags) | set(DEFAULT_CORE_FLAGS)
        if not self._seen_task_completed:
            core |= FIRST_TASK_CORE_FLAGS
        core -= self._core_flags
        lang = self._new_lang_flags - self._lang_flags
        self._core_flags |= core
        self._lang_flags |= lang
        self._new_core_flags.clear()
        self._new_lang_flags.clear()
        metadata.core_used_flags.extend(sorted(core))
        metadata.lang_used_flags.extend(sorted(lang))
        return metadata


def _cancelled_in_same_batch(event: HistoryEvent) -> bool:
    """An activity not yet started is cancelled by the server right after the cancel request,
    among the command events of the same task: that event is not the start of the next task,
    so commands still queued (say CancelWorkflowExecution) are matched after it."""
    if event.event_type != event_type_pb2.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
        return False
    requested = event.activity_task_canceled_event_attributes.latest_cancel_requested_event_id
    return requested == event.event_id - 1
