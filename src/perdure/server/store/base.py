"""The Store contract: what the engine's I/O shell needs from a database.

Every backend (SQLite, PostgreSQL) implements `Store` and passes the shared conformance
suite in tests/server/store/. The contract keeps every write within one workflow id (one
`Commit`), which is what lets a later version shard executions across databases.

Times are integers: nanoseconds since the Unix epoch (`Nanos`), the unit of Temporal's
protobuf timestamps, so no float rounding ever reorders two events.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

Nanos = int
"""Nanoseconds since the Unix epoch (or a duration in nanoseconds)."""

SqlValue = int | float | str | bool | bytes | None
"""A value a backend can bind as a SQL parameter."""

T = TypeVar("T")


class StoreError(Exception):
    """Base class of the errors a store raises on purpose."""


class ConditionFailed(StoreError):
    """A conditional write lost: the row it was based on changed (or vanished).

    The whole commit is rolled back. The caller reloads what it read and tries again;
    it never overwrites.
    """


class TaskAlreadyClaimed(ConditionFailed):
    """A task or timer that the commit removes was already removed by another commit."""


class AlreadyExists(StoreError):
    """An insert met an existing row (for example a namespace with the same name)."""


class Unavailable(StoreError):
    """The database cannot be reached; the request may be retried later."""


class InvalidPageToken(StoreError):
    """A page token that this store did not produce (or produced for another listing)."""


class TaskKind(enum.IntEnum):
    """Which poller a task queue row is for (same numbers as Temporal's TaskQueueType)."""

    WORKFLOW = 1
    ACTIVITY = 2


# --------------------------------------------------------------------------- namespaces


@dataclass(frozen=True, slots=True)
class NamespaceRecord:
    """A namespace as stored.

    `info` and `config` are serialized `temporal.api.namespace.v1.NamespaceInfo` and
    `NamespaceConfig` messages: the store never looks inside them. The mapping of custom
    search attributes to visibility columns lives in `config.custom_search_attribute_aliases`
    (column -> user's name), as in Temporal's SQL visibility.
    """

    id: str
    name: str
    info: bytes
    config: bytes
    version: int = 1


# --------------------------------------------------------------------------- executions


@dataclass(frozen=True, slots=True)
class ExecutionKey:
    namespace_id: str
    workflow_id: str
    run_id: str


@dataclass(frozen=True, slots=True)
class ExecutionSnapshot:
    """One execution's mutable state as loaded: an opaque blob and its version.

    The blob belongs to the engine (server/engine/codec.py); the version is what the next
    commit of this execution must name as `expected_version`.
    """

    key: ExecutionKey
    state: bytes
    version: int


@dataclass(frozen=True, slots=True)
class CurrentExecution:
    """The row that says which run of a workflow id is the current one.

    Start-workflow decisions (id reuse and conflict policies, request-id idempotency)
    read it; every run-creating commit updates it conditionally.
    """

    namespace_id: str
    workflow_id: str
    run_id: str
    status: int  # temporal.api.enums.v1.WorkflowExecutionStatus
    start_request_id: str
    start_time: Nanos
    close_time: Nanos | None = None


@dataclass(frozen=True, slots=True)
class HistoryBatch:
    """Events first_event_id..last_event_id, written by one commit.

    `data` is a serialized `temporal.api.history.v1.History`. Batches of one run never
    overlap and have no gaps, except that a batch may replace an unacknowledged tail (see
    `ExecutionWrite.history_truncate_from`). The store enforces it: a batch whose
    first_event_id is not the stored last event id + 1 (1 for a new run) fails the commit
    with `StoreError`.
    """

    first_event_id: int
    last_event_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class ExecutionWrite:
    """The new state of one execution in a commit.

    `expected_version` None means the execution is new and must not exist yet;
    otherwise the stored version must equal it and becomes `expected_version + 1`.
    """

    key: ExecutionKey
    expected_version: int | None
    state: bytes
    history: HistoryBatch | None = None
    history_truncate_from: int | None = None
    """Drop stored events with id >= this before appending `history` (workflow reset).

    It must be the first event id of a stored batch (or past the last event): the store
    never splits a batch."""

    @property
    def new_version(self) -> int:
        return 1 if self.expected_version is None else self.expected_version + 1


@dataclass(frozen=True, slots=True)
class CurrentWrite:
    """Replace the current-run row of a workflow id, conditional on what was read.

    `expected_run_id` None means no current row may exist yet.
    """

    expected_run_id: str | None
    current: CurrentExecution


# --------------------------------------------------------------------------- tasks & timers


@dataclass(frozen=True, slots=True)
class TaskRow:
    """A workflow or activity task waiting in a task queue (the backlog).

    `key` is unique over the whole store and derived from the execution and what the
    task is for, so the commit that starts the task can remove it by key. `seq` is
    assigned by the store on insert (FIFO order within a queue); pass 0.
    """

    key: str
    namespace_id: str
    task_queue: str
    kind: TaskKind
    workflow_id: str
    run_id: str
    scheduled_event_id: int
    created_time: Nanos
    expiry_time: Nanos | None = None
    """Schedule-to-start deadline; a backlog reader may drop the row after it."""
    data: bytes = b""
    seq: int = 0
    lease_owner: str = ""
    """The server process that dispatches this task (a shared database, see shared.py):
    set when the committing process hands the task straight to one of its own pollers,
    so that no other process offers it too. "" for a task any process may claim."""
    lease_until: Nanos | None = None
    """When the lease lapses (wall-clock nanoseconds): a dead owner's tasks come back."""


@dataclass(frozen=True, slots=True)
class TimerRow:
    """A durable deadline or deferred internal job, fired into its execution when due.

    Timers, timeouts, retry backoffs, start delays and the cross-execution work that a
    commit schedules for later (start a child, signal another workflow, ...) are all rows
    here. `key` is unique over the store and derived from the purpose, so the engine can
    remove a timer it no longer needs without remembering a row id. `data` is the
    engine's serialized description of the timer.
    """

    key: str
    namespace_id: str
    workflow_id: str
    run_id: str
    fire_time: Nanos
    data: bytes = b""


# --------------------------------------------------------------------------- visibility


@dataclass(frozen=True, slots=True)
class VisibilityRow:
    """One run's row in the visibility table (what List/Count/Describe read).

    `search_attributes` and `memo` are serialized `temporal.api.common.v1.SearchAttributes`
    and `Memo`, returned as they are by list calls. `columns` holds the typed values of the
    indexed search attribute columns (e.g. {"Keyword01": "a", "Int01": 5,
    "KeywordList01": '["x","y"]'}), already mapped and converted by server/visibility;
    columns not named are NULL.
    """

    namespace_id: str
    run_id: str
    workflow_id: str
    workflow_type: str
    task_queue: str
    status: int
    start_time: Nanos
    execution_time: Nanos
    close_time: Nanos | None = None
    execution_duration: Nanos | None = None
    history_length: int = 0
    history_size_bytes: int = 0
    state_transition_count: int = 0
    parent_workflow_id: str | None = None
    parent_run_id: str | None = None
    root_workflow_id: str = ""
    root_run_id: str = ""
    memo: bytes = b""
    search_attributes: bytes = b""
    columns: Mapping[str, SqlValue] = field(default_factory=dict)


VISIBILITY_SYSTEM_COLUMNS: Mapping[str, str] = {
    # Temporal's system search attribute name -> visibility column.
    "WorkflowId": "workflow_id",
    "RunId": "run_id",
    "WorkflowType": "workflow_type",
    "ExecutionStatus": "status",
    "StartTime": "start_time",
    "ExecutionTime": "execution_time",
    "CloseTime": "close_time",
    "ExecutionDuration": "execution_duration",
    "HistoryLength": "history_length",
    "HistorySizeBytes": "history_size_bytes",
    "StateTransitionCount": "state_transition_count",
    "TaskQueue": "task_queue",
    "ParentWorkflowId": "parent_workflow_id",
    "ParentRunId": "parent_run_id",
    "RootWorkflowId": "root_workflow_id",
    "RootRunId": "root_run_id",
}

VISIBILITY_PREDEFINED_COLUMNS: Mapping[str, str] = {
    # Temporal's predefined (non-custom) search attributes that have columns of their own.
    "TemporalChangeVersion": "TemporalChangeVersion",  # KeywordList
    "BinaryChecksums": "BinaryChecksums",  # KeywordList
    "BuildIds": "BuildIds",  # KeywordList
    "BatcherUser": "BatcherUser",  # Keyword
    "TemporalScheduledStartTime": "TemporalScheduledStartTime",  # Datetime
    "TemporalScheduledById": "TemporalScheduledById",  # Keyword
    "TemporalSchedulePaused": "TemporalSchedulePaused",  # Bool
    "TemporalNamespaceDivision": "TemporalNamespaceDivision",  # Keyword
    "TemporalWorkerDeploymentVersion": "TemporalWorkerDeploymentVersion",  # Keyword
    "TemporalWorkflowVersioningBehavior": "TemporalWorkflowVersioningBehavior",  # Keyword
    "TemporalWorkerDeployment": "TemporalWorkerDeployment",  # Keyword
}

CUSTOM_COLUMN_SLOTS: Mapping[str, int] = {
    # Pre-allocated columns for custom search attributes, by Temporal indexed value type
    # name: "Keyword" -> Keyword01..Keyword10. A namespace maps its custom attributes
    # onto free slots of the right type.
    "Bool": 3,
    "Datetime": 3,
    "Double": 3,
    "Int": 3,
    "Keyword": 10,
    "KeywordList": 3,
    "Text": 3,
}


def custom_columns() -> list[str]:
    """All pre-allocated custom search attribute columns, e.g. ["Bool01", ..., "Text03"]."""
    return [f"{t}{i:02d}" for t, n in CUSTOM_COLUMN_SLOTS.items() for i in range(1, n + 1)]


@dataclass(frozen=True, slots=True)
class VisibilityQuery:
    """A compiled visibility filter: SQL for the WHERE and ORDER BY clauses.

    Produced by server/visibility for one dialect. `where` uses `%s`-free positional
    placeholders written as `?`; PostgreSQL backends translate them. Column names are the
    visibility table's. `where` is "" for no filter; `order_by` is "" for the default order
    (close_time NULLS FIRST, start_time, run_id; all descending). Every `?` outside quoted
    literals is a placeholder (so PostgreSQL's jsonb `?` operator is spelled `@>` or
    `jsonb_exists`). The store ANDs `namespace_id = ?` in front and pages by offset after
    a custom `order_by`, to which it appends run_id as the final tie-breaker.
    """

    where: str = ""
    params: Sequence[SqlValue] = ()
    order_by: str = ""
    group_by: Sequence[str] = ()


# --------------------------------------------------------------------------- commit


@dataclass(frozen=True, slots=True)
class Commit:
    """Everything one state change writes, applied atomically or not at all.

    All executions and the current row belong to one (namespace, workflow id): usually
    one execution, two when a run continues as new or retries. Removing a task or timer
    that no longer exists fails the commit with `TaskAlreadyClaimed` when its key is in
    `tasks_claimed`/`timers_claimed` (the commit consumes it and must be the only one to),
    and is a no-op in `tasks_removed`/`timers_removed` (cleanup of what may be gone).

    Claims and removals apply before additions, so a commit may claim a timer and add a
    new one with the same key. Adding a task or timer whose key already exists replaces
    the stored row (a task keeps its place in the queue).
    """

    namespace_id: str
    workflow_id: str
    executions: Sequence[ExecutionWrite] = ()
    current: CurrentWrite | None = None
    tasks_added: Sequence[TaskRow] = ()
    tasks_claimed: Sequence[str] = ()
    tasks_removed: Sequence[str] = ()
    timers_added: Sequence[TimerRow] = ()
    timers_claimed: Sequence[str] = ()
    timers_removed: Sequence[str] = ()
    visibility: Sequence[VisibilityRow] = ()


@dataclass(frozen=True, slots=True)
class TaskQueueStats:
    backlog_count: int
    oldest_created_time: Nanos | None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; an empty token means there is no next page."""

    items: list[T]
    next_page_token: bytes = b""


# --------------------------------------------------------------------------- schedules


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """One schedule: `state` belongs to server/schedules/."""

    namespace_id: str
    schedule_id: str
    state: bytes
    version: int = 1
    wake_time: Nanos | None = None
    """When the scheduler must next process it; None: never (paused, or done)."""


class ScheduleStore(Protocol):
    """What the scheduler and the schedule RPCs need from the database."""

    async def create_schedule(self, record: ScheduleRecord) -> None:
        """Insert at version 1; `AlreadyExists` when the id is taken in the namespace."""

    async def update_schedule(self, record: ScheduleRecord, expected_version: int) -> None:
        """Replace (the record carries expected_version + 1); `ConditionFailed` when the
        stored version differs or the schedule is gone."""

    async def delete_schedule(self, namespace_id: str, schedule_id: str) -> bool:
        """Remove; False when there was nothing to remove."""

    async def get_schedule(self, namespace_id: str, schedule_id: str) -> ScheduleRecord | None: ...

    async def list_schedules(
        self, namespace_id: str, after_id: str, limit: int
    ) -> list[ScheduleRecord]:
        """Schedules of a namespace in id order, ids greater than `after_id`."""

    async def due_schedules(self, until: Nanos, limit: int) -> list[ScheduleRecord]:
        """Schedules whose wake time is at or before `until`, earliest first."""

    async def next_schedule_wake(self) -> Nanos | None:
        """The earliest wake time of any schedule."""


# --------------------------------------------------------------------------- batch operations


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One batch operation: `data` belongs to server/batch/."""

    namespace_id: str
    job_id: str
    state: int
    """temporal.api.enums.v1.BatchOperationState (RUNNING until it ends)."""
    start_time: Nanos
    data: bytes
    version: int = 1


class BatchStore(Protocol):
    """What the batch runner and the batch RPCs need from the database."""

    async def create_batch(self, record: BatchRecord) -> None:
        """Insert at version 1; `AlreadyExists` when the job id is taken."""

    async def update_batch(self, record: BatchRecord, expected_version: int) -> None:
        """Replace (version becomes expected_version + 1); `ConditionFailed`."""

    async def get_batch(self, namespace_id: str, job_id: str) -> BatchRecord | None: ...

    async def list_batches(
        self, namespace_id: str, before: tuple[Nanos, str] | None, limit: int
    ) -> list[BatchRecord]:
        """Newest first; `before` is the (start_time, job_id) of the last row seen."""

    async def batches_in_state(
        self, state: int, namespace_id: str | None, limit: int
    ) -> list[BatchRecord]:
        """Batches in one state, in one namespace or all."""


# --------------------------------------------------------------------------- the contract


class Store(ScheduleStore, BatchStore, Protocol):
    """The async storage contract. Methods raise `Unavailable` when the database is gone.

    Reads see every commit that returned before they were called (read-your-writes).
    `commit` returns only once the data is durable.
    """

    async def close(self) -> None: ...

    # namespaces
    async def create_namespace(self, record: NamespaceRecord) -> None:
        """Insert; `AlreadyExists` when the name or id is taken."""

    async def update_namespace(self, record: NamespaceRecord, expected_version: int) -> None:
        """Replace (the record carries version expected_version + 1); `ConditionFailed`."""

    async def get_namespace(self, name: str) -> NamespaceRecord | None: ...

    async def get_namespace_by_id(self, namespace_id: str) -> NamespaceRecord | None: ...

    async def list_namespaces(self) -> list[NamespaceRecord]: ...

    # executions
    async def get_current_execution(
        self, namespace_id: str, workflow_id: str
    ) -> CurrentExecution | None: ...

    async def load_execution(self, key: ExecutionKey) -> ExecutionSnapshot | None: ...

    async def commit(self, commit: Commit) -> None:
        """Apply atomically; `ConditionFailed` (or `TaskAlreadyClaimed`) rolls it all back."""

    async def read_history(
        self, key: ExecutionKey, from_event_id: int, max_events: int
    ) -> list[HistoryBatch]:
        """Batches in event order, starting with the one that holds `from_event_id`.

        Stops after the batch that reaches `max_events` events counted from
        `from_event_id` (so a caller pages by asking again from the next id).
        """

    async def read_history_reverse(
        self, key: ExecutionKey, to_event_id: int, max_events: int
    ) -> list[HistoryBatch]:
        """Batches in reverse event order, starting with the one that holds `to_event_id`."""

    async def delete_execution(self, key: ExecutionKey) -> None:
        """Remove the run: state, history, tasks, timers, visibility; and the current row
        when it points at this run. Used by DeleteWorkflowExecution and retention."""

    # tasks
    async def get_tasks(
        self, namespace_id: str, task_queue: str, kind: TaskKind, after_seq: int, limit: int
    ) -> list[TaskRow]:
        """The backlog of one queue in FIFO order, rows with seq > after_seq.

        On PostgreSQL seq is drawn at insert, not at commit, so concurrent commits can
        make a lower seq visible after a higher one: a reader that pages with after_seq
        may miss such a row until it reads again from its oldest unconsumed position.
        """

    async def delete_tasks(self, keys: Sequence[str]) -> None:
        """Drop rows that point at nothing any more (expired, or their run is gone)."""

    async def task_queue_stats(
        self, namespace_id: str, task_queue: str, kind: TaskKind
    ) -> TaskQueueStats: ...

    # timers
    async def get_timers(self, until: Nanos, limit: int) -> list[TimerRow]:
        """Timers with fire_time <= until, earliest first (ties by key)."""

    async def delete_timers(self, keys: Sequence[str]) -> None:
        """Drop timers whose execution is gone."""

    # visibility
    async def get_visibility(self, namespace_id: str, run_id: str) -> VisibilityRow | None: ...

    async def list_visibility(
        self, namespace_id: str, query: VisibilityQuery, page_size: int, page_token: bytes
    ) -> Page[VisibilityRow]: ...

    async def count_visibility(
        self, namespace_id: str, query: VisibilityQuery
    ) -> list[tuple[tuple[SqlValue, ...], int]]:
        """Counts, one per distinct value of `query.group_by` (a single () key if none)."""
