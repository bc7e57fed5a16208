"""What several server processes on one database need beyond the `Store` contract.

A shared store (PostgreSQL) lets any number of server processes serve one database:

* Leases. A task in a queue's backlog is dispatched by one process at a time: a process
  claims rows (FOR UPDATE SKIP LOCKED) and holds them for a short lease; a task that its
  committing process hands straight to one of its own pollers is written already leased.
  A timer belongs to the process that wrote or claimed it until a grace period after it
  is due. A lease that lapses (its process died) lets another process take the row. The
  commit that starts a task or fires a timer still claims the row, so even a lapsed lease
  never runs anything twice: leases only keep processes from doing the same work.
* Notices. Every commit tells the other processes, after it is durable, which run changed
  (to drop cached state and wake long polls) and which queues got tasks that nobody has
  leased (to wake pollers); a namespace change tells them to reread the namespace.
  Notices can be lost while the listening connection is down; `on_resync` then tells
  the server to look again, and it also polls on a slow timer.
* Query tasks. A query is answered by a worker that may poll another process: the query
  waits in a table until a process with a poller on its queue claims it, and the answer
  comes back the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from perdure.server.store.base import (
    ExecutionKey,
    ExecutionSnapshot,
    Nanos,
    ScheduleRecord,
    Store,
    TaskKind,
    TaskRow,
    TimerRow,
)

SECOND = 1_000_000_000
TASK_LEASE = 10 * SECOND
"""How long a claimed task stays with its process (it starts in milliseconds)."""
TIMER_GRACE = 10 * SECOND
"""How long after its due time a timer stays with its process before others take it."""
SCHEDULE_LEASE = 10 * SECOND
"""A process keeps the schedules it fires; another takes them over this long after the
owner stopped renewing (it died)."""


@dataclass(frozen=True, slots=True)
class TaskNotice:
    """Tasks that no process has leased were added to a queue."""

    namespace_id: str
    task_queue: str
    kind: TaskKind


@dataclass(frozen=True, slots=True)
class ExecutionNotice:
    """A run was committed at `version` by process `owner`."""

    owner: str
    namespace_id: str
    run_id: str
    version: int


@dataclass(frozen=True, slots=True)
class QueryNotice:
    """A query task waits in the table for a poller of this workflow queue."""

    namespace_id: str
    task_queue: str


@dataclass(frozen=True, slots=True)
class AnswerNotice:
    """The query `query_id` that process `origin` asked has its answer in the table."""

    origin: str
    query_id: str


@dataclass(frozen=True, slots=True)
class NamespaceNotice:
    """A namespace was created or changed (its search attributes, retention, ...)."""

    namespace_id: str


@dataclass(frozen=True, slots=True)
class WorkerLeftNotice:
    """A worker instance shut down (ShutdownWorker): its polls end in every process."""

    namespace_id: str
    worker_instance_key: str


Notice = (
    TaskNotice | ExecutionNotice | QueryNotice | AnswerNotice | NamespaceNotice | WorkerLeftNotice
)


@dataclass(frozen=True, slots=True)
class QueryTaskRow:
    """A query asked on process `origin`, for a worker polling `task_queue` anywhere.

    `query` is a serialized `temporal.api.query.v1.WorkflowQuery`.
    """

    id: str
    namespace_id: str
    task_queue: str
    workflow_id: str
    run_id: str
    query: bytes
    origin: str
    created_time: Nanos


@dataclass(frozen=True, slots=True)
class PollerRow:
    """A worker poller seen by some server process, as DescribeTaskQueue reports it."""

    namespace_id: str
    task_queue: str
    kind: TaskKind
    identity: str
    build_id: str
    last_access: Nanos


@runtime_checkable
class SharedStore(Store, Protocol):
    """A store that several server processes share; `owner` names this process."""

    owner: str

    async def claim_tasks(
        self, namespace_id: str, task_queue: str, kind: TaskKind, limit: int
    ) -> list[TaskRow]:
        """Lease up to `limit` backlog rows nobody holds, oldest first, for TASK_LEASE."""

    async def release_tasks(self, keys: Sequence[str]) -> None:
        """Give back leased rows this process will not dispatch, and tell the others."""

    async def claim_timers(self, until: Nanos, limit: int) -> list[TimerRow]:
        """Timers due by `until` that are this process's or nobody's (a lapsed lease),
        earliest first, leased to this process until TIMER_GRACE after they are due."""

    async def release_leases(self) -> None:
        """Give back every task and timer this process holds (a clean shutdown)."""

    async def claim_schedules(self, until: Nanos, limit: int) -> list[ScheduleRecord]:
        """Schedules due by `until` that are this process's or nobody's (a lapsed lease),
        earliest first, leased to this process for SCHEDULE_LEASE."""

    async def next_claimable_schedule_wake(self) -> Nanos | None:
        """The earliest time a schedule becomes due for this process: its wake time, or
        when another live process's lease on it lapses."""

    async def refresh_execution(
        self, key: ExecutionKey, known_version: int
    ) -> ExecutionSnapshot | None:
        """The run as stored; its `state` is b"" when the stored version is `known_version`
        (the caller's copy is current). None when the run is gone."""

    async def put_query(self, row: QueryTaskRow) -> None:
        """Store a query task and wake the processes polling its queue."""

    async def claim_query(self, namespace_id: str, task_queue: str) -> QueryTaskRow | None:
        """Take the oldest unclaimed query task of a queue for this process."""

    async def answer_query(self, query_id: str, origin: str, answer: bytes) -> None:
        """Record a claimed query's answer and wake its origin."""

    async def answer_query_by_id(self, query_id: str, answer: bytes) -> bool:
        """Record an answer given to a process that did not claim the query (clients
        balanced per call); wake its origin. False if there is no such query."""

    async def take_answer(self, query_id: str) -> bytes | None:
        """Remove an answered query's row; its answer, or None if it has none (yet)."""

    async def drop_query(self, query_id: str) -> bool:
        """Remove a query task nobody claimed yet; False if it was claimed (or is gone)."""

    async def expire_queries(self, created_before: Nanos) -> None:
        """Remove query rows (claimed or not) created before then: abandoned ones."""

    async def record_pollers(self, pollers: Sequence[PollerRow]) -> None:
        """Upsert pollers this process has seen."""

    async def get_pollers(
        self, namespace_id: str, task_queue: str, kind: TaskKind, since: Nanos
    ) -> list[PollerRow]:
        """Pollers of a queue seen by any process since then."""

    def announce_worker_left(self, namespace_id: str, worker_instance_key: str) -> None:
        """Tell every process (this one too) that a worker instance shut down."""

    def listen(self, on_notice: Callable[[Notice], None], on_resync: Callable[[], None]) -> None:
        """Deliver other processes' notices (and this one's) until the store closes.

        `on_resync` runs whenever notices may have been missed (the listening connection
        came back after a failure), so the caller rereads what it waits for."""


def encode_notice(notice: Notice) -> str:
    """A notice as a NOTIFY payload: a kind letter and the fields, separated by \\x1f."""
    match notice:
        case TaskNotice(ns, queue, kind):
            fields = ["t", ns, str(int(kind)), queue]
        case ExecutionNotice(owner, ns, run, version):
            fields = ["e", owner, ns, run, str(version)]
        case QueryNotice(ns, queue):
            fields = ["q", ns, queue]
        case AnswerNotice(origin, query_id):
            fields = ["a", origin, query_id]
        case NamespaceNotice(namespace_id):
            fields = ["n", namespace_id]
        case WorkerLeftNotice(ns, key):
            fields = ["w", ns, key]
    return _SEP.join(fields)


def decode_notice(payload: str) -> Notice | None:
    """The notice in a payload; None for one this version does not know."""
    kind, *f = payload.split(_SEP)
    try:
        # A queue name comes last and keeps any separator it contains.
        if kind == "t" and len(f) >= 3:
            return TaskNotice(f[0], _SEP.join(f[2:]), TaskKind(int(f[1])))
        if kind == "e" and len(f) == 4:
            return ExecutionNotice(f[0], f[1], f[2], int(f[3]))
        if kind == "q" and len(f) >= 2:
            return QueryNotice(f[0], _SEP.join(f[1:]))
        if kind == "a" and len(f) == 2:
            return AnswerNotice(f[0], f[1])
        if kind == "n" and len(f) == 1:
            return NamespaceNotice(f[0])
        if kind == "w" and len(f) >= 2:
            return WorkerLeftNotice(f[0], _SEP.join(f[1:]))
    except ValueError:
        return None
    return None


_SEP = "\x1f"
