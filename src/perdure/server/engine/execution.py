"""`Execution`: one run's state plus what the current transition changes.

Every engine step works on an `Execution`: it reads and mutates `state` and records what
the step writes (events, tasks, timers, visibility and current-run changes, in the
engine's own types: engine/outputs.py) in `out`. The history layer turns `out` into one
store commit. Nothing here touches the store, the clock or the network:
`now` is given.

Transitions change the state by writing events: `append` writes an event and applies it
(engine/apply.py, the one place that says what an event does to the state); they change
directly only what history does not record (apply.NOT_REBUILT).

Events that arrive from outside while a workflow task is running (signals, activity
results, timer fires, ...) are applied at once but buffered in the state and written after
the task ends, with ids assigned then, as Temporal does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.message import Message
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.history.v1 import message_pb2 as history_pb2
from temporalio.api.sdk.v1 import user_metadata_pb2

from perdure.server.engine.apply import apply
from perdure.server.engine.deadlines import TimerRef
from perdure.server.engine.outputs import NewTask, NewTimer, TaskKind
from perdure.server.engine.settings import DEFAULT_SETTINGS, EngineSettings
from perdure.server.engine.state import ExecutionState, Nanos, WorkflowTaskKind

HistoryEvent = history_pb2.HistoryEvent
MAX_NANOS = 2**63 - 1
"""The latest time the store holds (nanoseconds since the epoch, a signed 64-bit int)."""
UserMetadata = user_metadata_pb2.UserMetadata


def _attributes_field(event_type: int) -> str:
    name = et.EventType.Name(event_type)  # type: ignore[arg-type]
    return name.removeprefix("EVENT_TYPE_").lower() + "_event_attributes"


ATTRIBUTES_FIELD: dict[int, str] = {
    value: _attributes_field(value)
    for value in et.EventType.values()
    if value != et.EVENT_TYPE_UNSPECIFIED
}

# Events that point at an earlier event of the same batch through `started_event_id`;
# when buffered events get their ids, these references are rewired.
_ACTIVITY_STARTED = ("scheduled_event_id", et.EVENT_TYPE_ACTIVITY_TASK_STARTED)
_CHILD_STARTED = ("initiated_event_id", et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED)
_STARTED_REFERENCES: dict[int, tuple[str, int]] = {
    et.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: _ACTIVITY_STARTED,
    et.EVENT_TYPE_ACTIVITY_TASK_FAILED: _ACTIVITY_STARTED,
    et.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: _ACTIVITY_STARTED,
    et.EVENT_TYPE_ACTIVITY_TASK_CANCELED: _ACTIVITY_STARTED,
    et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED: _CHILD_STARTED,
    et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED: _CHILD_STARTED,
    et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED: _CHILD_STARTED,
    et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED: _CHILD_STARTED,
    et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT: _CHILD_STARTED,
}
_STARTED_TYPES: dict[int, str] = {
    started_type: ref_field for ref_field, started_type in _STARTED_REFERENCES.values()
}


def make_event(
    event_type: int,
    now: Nanos,
    attributes: Message | None = None,
    user_metadata: UserMetadata | None = None,
) -> HistoryEvent:
    """A history event of `event_type` at `now` (its id is set when it is written)."""
    event = HistoryEvent(event_type=event_type)  # type: ignore[arg-type]
    event.event_time.FromNanoseconds(now)
    if attributes is not None:
        getattr(event, ATTRIBUTES_FIELD[event_type]).CopyFrom(attributes)
    if user_metadata is not None:
        event.user_metadata.CopyFrom(user_metadata)
    return event


@dataclass
class NewRun:
    """A run created by this transition (continue-as-new, retry, cron) in the same commit."""

    execution: Execution


@dataclass
class Transition:
    """What one engine step writes, besides the mutated state itself."""

    events: list[HistoryEvent] = field(default_factory=list)
    tasks_added: list[NewTask] = field(default_factory=list)
    tasks_claimed: list[str] = field(default_factory=list)
    tasks_removed: list[str] = field(default_factory=list)
    timers_added: list[NewTimer] = field(default_factory=list)
    timers_claimed: list[str] = field(default_factory=list)
    timers_removed: list[str] = field(default_factory=list)
    visibility_changed: bool = False
    current_changed: bool = False
    """The run's status changed in a way the current-execution row records."""
    new_runs: list[NewRun] = field(default_factory=list)
    created: bool = False
    """This transition creates the run (the commit inserts it)."""
    closed: bool = False
    updates_changed: list[str] = field(default_factory=list)
    """Ids of updates whose stage changed (their waiters are woken after the commit)."""


class Execution:
    """A run's mutable state under one transition. See the module docstring."""

    def __init__(
        self,
        state: ExecutionState,
        now: Nanos,
        namespace: str,
        start_attributes: history_pb2.WorkflowExecutionStartedEventAttributes | None = None,
        settings: EngineSettings = DEFAULT_SETTINGS,
    ) -> None:
        self.state = state
        self.now = now
        self.namespace = namespace
        self.settings = settings
        """The server's thresholds (engine/settings.py)."""
        self.out = Transition()
        self.start_attributes = start_attributes
        """The run's started event, loaded by the shell for runs that may retry or repeat
        (a successor run gets the same input)."""

    # ------------------------------------------------------------------ events

    def new_event(
        self,
        event_type: int,
        attributes: Message | None = None,
        user_metadata: UserMetadata | None = None,
    ) -> HistoryEvent:
        """An event of this transition, not yet written nor applied."""
        return make_event(event_type, self.now, attributes, user_metadata)

    def append(
        self,
        event_type: int,
        attributes: Message | None = None,
        user_metadata: UserMetadata | None = None,
    ) -> HistoryEvent:
        """Write an event now (it gets the next event id) and apply it to the state."""
        return self.append_event(self.new_event(event_type, attributes, user_metadata))

    def append_event(self, event: HistoryEvent) -> HistoryEvent:
        """Write an event made by `new_event` (and completed by the caller) and apply it."""
        self.write_applied(event)
        apply(self.state, event)
        return event

    def write_applied(self, event: HistoryEvent) -> None:
        """Write an event whose effect is already in the state (a started event that made
        the state; the events of a transient workflow task, applied when it ran)."""
        event.event_id = self.state.next_event_id
        self.state.next_event_id += 1
        self.state.history_size_bytes += event.ByteSize()
        self.out.events.append(event)

    def apply_unwritten(self, event_type: int, attributes: Message, event_id: int) -> HistoryEvent:
        """Apply an event that is not written (yet): a transient or speculative workflow
        task's, which the worker sees with id `event_id` (0: it is never written)."""
        event = self.new_event(event_type, attributes)
        event.event_id = event_id
        apply(self.state, event)
        return event

    def append_external(
        self, event_type: int, attributes: Message | None = None, *, event_time: Nanos | None = None
    ) -> HistoryEvent | None:
        """Write an event that came from outside the workflow task, or buffer it.

        Either way it is applied now. Returns the written event, or None when it was
        buffered because a workflow task is running; buffered events are written by
        `flush_buffered`, with their ids (applied as 0 while buffered).
        """
        event = self.new_event(event_type, attributes)
        if event_time is not None:
            event.event_time.FromNanoseconds(event_time)
        if self.workflow_task_running:
            apply(self.state, event)
            self.state.buffered_events.append(event)
            self._speculative_task_needed()
            return None
        self.write_applied(event)
        apply(self.state, event)
        return event

    def _speculative_task_needed(self) -> None:
        """An event arrived while a speculative task runs: the task will be written. As
        Temporal writes it at that moment, its started event names no worker (identity,
        build), whichever worker completes it."""
        wt = self.state.workflow_task
        if wt is not None and wt.kind == WorkflowTaskKind.SPECULATIVE:
            wt.identity = ""
            wt.build_id = ""

    @property
    def workflow_task_running(self) -> bool:
        wt = self.state.workflow_task
        return wt is not None and wt.started

    def flush_buffered(self) -> list[HistoryEvent]:
        """Write the buffered events, rewiring references between them."""
        buffered = self.state.buffered_events
        if not buffered:
            return []
        self.state.buffered_events = []
        # A closing event names its started event, which was buffered with it.
        started_ids: dict[tuple[int, int], int] = {}
        for event in buffered:
            attrs = getattr(event, ATTRIBUTES_FIELD[event.event_type])
            ref = _STARTED_REFERENCES.get(event.event_type)
            if ref is not None:
                ref_field, started_type = ref
                new_id = started_ids.get((started_type, getattr(attrs, ref_field)))
                if new_id is not None:
                    attrs.started_event_id = new_id
            self.write_applied(event)
            if event.event_type in _STARTED_TYPES:
                started_ids[
                    (event.event_type, getattr(attrs, _STARTED_TYPES[event.event_type]))
                ] = event.event_id
                if event.event_type == et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
                    # The child's later events name this started event.
                    child = self.state.children.get(attrs.initiated_event_id)
                    if child is not None:
                        child.started_event_id = event.event_id
        return buffered

    # ------------------------------------------------------------------ tasks and timers

    def add_task(
        self,
        key: str,
        kind: TaskKind,
        task_queue: str,
        scheduled_event_id: int,
        expiry: Nanos | None = None,
    ) -> NewTask:
        row = NewTask(
            key=key,
            namespace_id=self.state.namespace_id,
            task_queue=task_queue,
            kind=kind,
            workflow_id=self.state.workflow_id,
            run_id=self.state.run_id,
            scheduled_event_id=scheduled_event_id,
            created_time=self.now,
            expiry_time=expiry,
        )
        self.out.tasks_added.append(row)
        return row

    def claim_task(self, key: str) -> None:
        # A task added by this same transition and started at once is never written.
        for i, row in enumerate(self.out.tasks_added):
            if row.key == key:
                del self.out.tasks_added[i]
                return
        self.out.tasks_claimed.append(key)

    def remove_task(self, key: str) -> None:
        # A task added by this same transition is simply not written.
        for i, row in enumerate(self.out.tasks_added):
            if row.key == key:
                del self.out.tasks_added[i]
                return
        if key not in self.out.tasks_claimed:
            self.out.tasks_removed.append(key)

    def add_timer(self, ref: TimerRef, fire_time: Nanos) -> None:
        """A durable timer at `fire_time`; one past the year 2262 (a retention or timeout
        of centuries, which Temporal accepts) waits until then: times are 64-bit nanos."""
        fire_time = min(fire_time, MAX_NANOS)
        self.out.timers_added.append(
            NewTimer(
                key=ref.key(self.state.run_id),
                namespace_id=self.state.namespace_id,
                workflow_id=self.state.workflow_id,
                run_id=self.state.run_id,
                fire_time=fire_time,
                ref=ref,
            )
        )

    def claim_timer(self, ref: TimerRef) -> None:
        self.out.timers_claimed.append(ref.key(self.state.run_id))

    def remove_timer(self, ref: TimerRef) -> None:
        key = ref.key(self.state.run_id)
        for i, row in enumerate(self.out.timers_added):
            if row.key == key:
                del self.out.timers_added[i]
                return
        if key not in self.out.timers_claimed:
            self.out.timers_removed.append(key)
