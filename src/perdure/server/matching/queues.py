"""Task queues: ready tasks in memory, waiting pollers, and the stored backlog.

A task reaches a queue in two ways: handed over right after the commit that created it
(and straight to a waiting poller when one is there: sync match), or read back from the
store's backlog (after a restart, or when more tasks arrived than memory keeps). The
stored row stays until the commit that starts the task claims it, so a task that a poller
received but could not start (the poller left, the store failed) is offered again and
never lost. A task a commit starts for a poller waiting here (history/api/direct_dispatch)
reaches it as a `Handoff`. Pollers wait through waiters.py; the poll loops that start
what they receive are in polling.py.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine.workflow_task import StartedWorkflowTask
from perdure.server.matching.queries import QueryTask
from perdure.server.matching.waiters import WaitingPollers
from perdure.server.store.base import Store, TaskKind, TaskRow
from perdure.server.token_bucket import TokenBucket

MAX_READY_IN_MEMORY = 10_000
BACKLOG_PAGE = 500
POLLER_MEMORY_SECONDS = 300.0
STICKY_ALIVE_SECONDS = 10.0
"""A sticky queue polled this recently (or being polled) still has its worker."""
LEFT_WORKER_MEMORY_SECONDS = 120.0
"""How long the polls of a worker instance that shut down are still answered empty."""


@dataclass(frozen=True, slots=True)
class WorkflowTaskStart:
    """A started workflow task's poll response, still without the history the poller
    needs (`started` says which events those are)."""

    response: rr.PollWorkflowTaskQueueResponse
    started: StartedWorkflowTask


StartedTask = WorkflowTaskStart | rr.PollActivityTaskQueueResponse
"""What a poller receives once its task is started: a workflow or an activity task."""


@dataclass(frozen=True, slots=True)
class Handoff:
    """A task started in the commit that created it, for the poller that was waiting."""

    key: str
    task: StartedTask


Polled = TaskRow | QueryTask | Handoff


@dataclass
class DirectDispatch:
    """A poller taken from its queue for a task that the pending commit starts."""

    queue: TaskQueue
    waiter: asyncio.Future[Polled]
    handoff: Handoff

    def deliver(self) -> None:
        """After the commit: the task is the poller's (a poller gone meanwhile leaves it to
        its start-to-close timeout, as any task lost in flight)."""
        if not self.waiter.done():
            self.waiter.set_result(self.handoff)

    def give_back(self) -> None:
        """The commit failed: the poller waits on."""
        self.queue.give_back_poller(self.waiter)


@dataclass
class PollerInfo:
    identity: str
    last_access: float
    rate_per_second: float = 0.0
    build_id: str = ""


@dataclass
class TaskQueue:
    """One queue (namespace, name, kind)."""

    namespace_id: str
    name: str
    kind: TaskKind
    store: Store
    sticky: bool = False
    closed: bool = False
    """A sticky queue whose worker shut down: tasks for it go elsewhere."""
    _ready: collections.deque[TaskRow] = field(default_factory=collections.deque)
    _known: set[str] = field(default_factory=set)
    """Keys queued here or handed to a poller and not yet resolved."""
    _pollers: WaitingPollers[Polled] = field(default_factory=WaitingPollers)
    _queries: collections.deque[QueryTask] = field(default_factory=collections.deque)
    _backlog_checked: bool = False
    _backlog_overflow: bool = False
    _backlog_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pollers: dict[str, PollerInfo] = field(default_factory=dict)
    last_poll_time: float = 0.0
    dispatch_rate: TokenBucket | None = None
    """Temporal's task queue rate limit (a worker's max_tasks_per_second): how fast tasks
    of this queue may start, across all its pollers in this process."""

    def offer(self, row: TaskRow, *, front: bool = False) -> None:
        """A task is ready: give it to a waiting poller, or keep it."""
        if row.key in self._known and not front:
            return
        self._known.add(row.key)
        if self._pollers.hand(row):
            return
        if front:
            self._ready.appendleft(row)
        elif len(self._ready) < MAX_READY_IN_MEMORY:
            self._ready.append(row)
        else:
            # The row is in the store; read it back when memory has room again.
            self._known.discard(row.key)
            self._backlog_overflow = True

    def offer_query(self, task: QueryTask) -> None:
        """A query task (in memory only): first to a waiting poller, ahead of tasks."""
        if not self._pollers.hand(task):
            self._queries.append(task)

    @property
    def alive(self) -> bool:
        """Someone polls this queue (for a sticky queue: its worker is still there)."""
        return not self.closed and self.polled_within(STICKY_ALIVE_SECONDS)

    def polled_within(self, seconds: float) -> bool:
        """A poller waits here, or a poll began here within `seconds`."""
        recent = time.monotonic() - self.last_poll_time < seconds
        return recent or self._pollers.idle() > 0

    async def poller_seen_recently(self, within: float = STICKY_ALIVE_SECONDS) -> bool:
        """Whether a worker polls this queue (matching/sticky.py asks of sticky queues,
        queries of the queue they wait on); a shared queue also asks the other processes."""
        return not self.closed and self.polled_within(within)

    def resolved(self, key: str) -> None:
        """The task was started (or found stale): forget it."""
        self._known.discard(key)

    def _idle(self) -> int:
        """Waiting pollers free to take a task."""
        return self._pollers.idle()

    def take_idle_poller(self) -> tuple[asyncio.Future[Polled], str] | None:
        """A waiting poller (and its identity) for a task a commit starts directly."""
        if self.closed or self.dispatch_rate is not None or self._idle() <= 0:
            return None  # a rate-limited queue starts its tasks at the pace of dispatch_turn
        return self._pollers.take_idle()

    def poller_build_id(self, waiter: asyncio.Future[Polled]) -> str:
        """The build id a poller from `take_idle_poller` polled with."""
        return self._pollers.build_id(waiter)

    def set_dispatch_rate(self, max_tasks_per_second: float) -> None:
        """The rate the latest poller asked for (0 or less: no limit), as Temporal takes it."""
        if max_tasks_per_second <= 0:
            self.dispatch_rate = None
        elif self.dispatch_rate is None or self.dispatch_rate.rate != max_tasks_per_second:
            self.dispatch_rate = TokenBucket.full(max_tasks_per_second, 1.0, time.monotonic())

    async def dispatch_turn(self, deadline: float) -> bool:
        """Wait until the queue's rate lets one more task start; False when that would be
        after `deadline` (time.monotonic)."""
        while (bucket := self.dispatch_rate) is not None:
            now = time.monotonic()
            if bucket.take(now):
                return True
            wait = bucket.wait_time(now)
            if now + wait > deadline:
                return False
            await asyncio.sleep(wait)
        return True

    def give_back_poller(self, waiter: asyncio.Future[Polled]) -> None:
        self._pollers.give_back(waiter)

    def lease(self, row: TaskRow) -> TaskRow:
        """Before a commit adds `row`. Only a queue shared with other server processes
        leases rows (matching/shared.py); here every task stays this process's."""
        return row

    def abandon(self, row: TaskRow) -> None:
        """The commit that would have added a row given to `lease` failed."""

    def requeue(self, item: Polled) -> None:
        """A poller got the task but could not use it: offer it again first."""
        if isinstance(item, Handoff):
            return  # started already: its start-to-close timeout brings it back
        if isinstance(item, QueryTask):
            if item.waiting:
                self._queries.appendleft(item)
        else:
            self.offer(item, front=True)

    @property
    def backlog_hint(self) -> int:
        return len(self._ready)

    def record_poller(self, identity: str, build_id: str = "") -> None:
        now = time.monotonic()
        self.last_poll_time = now
        info = self.pollers.get(identity)
        if info is None:
            self.pollers[identity] = PollerInfo(identity, now, build_id=build_id)
        else:
            info.last_access = now
            info.build_id = build_id
        if len(self.pollers) > 64:
            cutoff = now - POLLER_MEMORY_SECONDS
            for name in [n for n, p in self.pollers.items() if p.last_access < cutoff]:
                del self.pollers[name]

    async def _read_backlog(self) -> None:
        async with self._backlog_lock:
            if self._backlog_checked and not self._backlog_overflow:
                return
            self._backlog_checked = True
            self._backlog_overflow = False
            after = 0
            while len(self._ready) < MAX_READY_IN_MEMORY:
                rows = await self.store.get_tasks(
                    self.namespace_id, self.name, self.kind, after, BACKLOG_PAGE
                )
                for row in rows:
                    if row.key not in self._known:
                        self._known.add(row.key)
                        self._ready.append(row)
                if len(rows) < BACKLOG_PAGE:
                    return
                after = rows[-1].seq
            self._backlog_overflow = True

    async def poll(
        self, timeout: float, identity: str = "", worker_key: str = "", build_id: str = ""
    ) -> Polled | None:
        """The next query or task, or None after `timeout` seconds (or once the worker
        instance `worker_key` shuts down)."""
        while self._queries:
            query = self._queries.popleft()
            if query.waiting:
                return query
        ready = await self._take_ready()
        if ready is not None:
            return ready
        return await self._pollers.wait(
            timeout,
            identity,
            requeue=self.requeue,
            waiting=self._poller_waiting,
            worker_key=worker_key,
            build_id=build_id,
        )

    def release_worker(self, worker_key: str) -> int:
        """ShutdownWorker: that worker instance's waiting polls answer empty."""
        return self._pollers.release_worker(worker_key)

    async def _take_ready(self) -> TaskRow | None:
        """A task this queue holds (reading the stored backlog when it may have more)."""
        if not self._ready and (not self._backlog_checked or self._backlog_overflow):
            await self._read_backlog()
        return self._ready.popleft() if self._ready else None

    def _poller_waiting(self) -> None:
        """A poller found nothing ready and waits (a shared queue claims for it)."""

    def drain(self) -> list[TaskRow]:
        """Take every ready task (a sticky queue that is going away)."""
        rows = list(self._ready)
        self._ready.clear()
        for row in rows:
            self._known.discard(row.key)
        return rows

    def wake_all(self) -> None:
        """Release all waiting pollers empty-handed (shutdown)."""
        self._pollers.wake_all()


RerouteSticky = Callable[[TaskRow], None]
QueueFactory = Callable[[str, str, TaskKind], TaskQueue]


class Matching:
    """All task queues of this process."""

    def __init__(
        self,
        store: Store,
        reroute_sticky: RerouteSticky | None = None,
        queue_factory: QueueFactory | None = None,
    ) -> None:
        """`queue_factory` makes the queues (matching/shared.py's on a shared database)."""
        self.store = store
        self._queues: dict[tuple[str, str, TaskKind], TaskQueue] = {}
        self._left: dict[tuple[str, str], float] = {}
        """(namespace id, worker instance key) of workers that shut down -> when."""
        self.reroute_sticky = reroute_sticky
        self._new_queue: QueueFactory = queue_factory or (
            lambda ns, name, kind: TaskQueue(ns, name, kind, store)
        )

    def queue(self, namespace_id: str, name: str, kind: TaskKind) -> TaskQueue:
        key = (namespace_id, name, kind)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = self._new_queue(namespace_id, name, kind)
        return queue

    def queue_for_poller(
        self,
        namespace_id: str,
        name: str,
        kind: TaskKind,
        *,
        identity: str,
        build_id: str = "",
        sticky: bool = False,
    ) -> TaskQueue:
        """The queue a poller is about to poll (matching/polling.py), with the poller
        recorded; a sticky queue polled by its worker is open (again)."""
        queue = self.queue(namespace_id, name, kind)
        if sticky:
            queue.sticky = True
            queue.closed = False
        queue.record_poller(identity, build_id)
        return queue

    def all_queues(self) -> list[TaskQueue]:
        return list(self._queues.values())

    def find(self, namespace_id: str, name: str, kind: TaskKind) -> TaskQueue | None:
        return self._queues.get((namespace_id, name, kind))

    def lease(self, rows: list[TaskRow]) -> list[TaskRow]:
        """Before a commit: on a shared database, lease the tasks that an idle poller here
        will take (the others wait in the store for any process)."""
        out = []
        for row in rows:
            queue = self._queues.get((row.namespace_id, row.task_queue, row.kind))
            out.append(queue.lease(row) if queue is not None else row)
        return out

    def abandon(self, rows: Sequence[TaskRow]) -> None:
        """The commit that carried `rows` (as `lease` returned them) failed."""
        for row in rows:
            queue = self._queues.get((row.namespace_id, row.task_queue, row.kind))
            if queue is not None:
                queue.abandon(row)

    def offer(self, rows: Sequence[TaskRow]) -> None:
        """Tasks committed by this process (called after the commit)."""
        for row in rows:
            queue = self.queue(row.namespace_id, row.task_queue, row.kind)
            if queue.closed and self.reroute_sticky is not None:
                self.reroute_sticky(row)
            else:
                queue.offer(row)

    def close_sticky(self, namespace_id: str, name: str) -> list[TaskRow]:
        """A worker shut down: its sticky queue takes no more tasks; returns what it held."""
        queue = self.queue(namespace_id, name, TaskKind.WORKFLOW)
        queue.closed = True
        queue.sticky = True
        queue.wake_all()
        return queue.drain()

    def release_worker(self, namespace_id: str, worker_key: str) -> int:
        """A worker instance shut down: its polls waiting here answer empty at once, so
        no task goes to a worker that is leaving (Temporal: worker_poll_complete_on_shutdown),
        and so do its polls that arrive a little later. Returns how many were answered."""
        now = time.monotonic()
        self._left[(namespace_id, worker_key)] = now
        for left, at in list(self._left.items()):
            if now - at > LEFT_WORKER_MEMORY_SECONDS:
                del self._left[left]
        return sum(
            queue.release_worker(worker_key)
            for (ns_id, _, _), queue in self._queues.items()
            if ns_id == namespace_id
        )

    def worker_left(self, namespace_id: str, worker_key: str) -> bool:
        """The worker instance shut down recently: its late polls answer empty."""
        at = self._left.get((namespace_id, worker_key)) if worker_key else None
        return at is not None and time.monotonic() - at <= LEFT_WORKER_MEMORY_SECONDS

    def shutdown(self) -> None:
        for queue in self._queues.values():
            queue.wake_all()
