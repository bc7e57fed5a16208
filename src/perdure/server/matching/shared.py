"""Task queues and queries when several server processes share one database.

Each process keeps only its own waiting pollers. A task committed while one of them
waits is written leased to this process and handed over after the commit (sync match,
no extra round trip); any other task waits unleased in the store's backlog, and the
commit's notice wakes every process with pollers on that queue to claim it with FOR
UPDATE SKIP LOCKED. A process claims only as many rows as it has idle pollers, and gives
back at once what it cannot hand out, so no backlog row is dispatched by two processes
and none sits in a process that cannot use it. Lost notices and the rows of a process
that died (their leases lapse) are picked up by a slow fallback poll (`tick`).

Queries follow the same path through the `query_tasks` table (`QueryBridge`): a query
that no local poller can take is stored, claimed by a process polling its queue, and
answered back to the process whose client waits.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from temporalio.api.enums.v1 import query_pb2 as query_enums
from temporalio.api.query.v1 import message_pb2 as query_pb2

from perdure.server.matching.queries import QueryAnswer, QueryRegistry, QueryTask
from perdure.server.matching.queues import (
    POLLER_MEMORY_SECONDS,
    STICKY_ALIVE_SECONDS,
    Handoff,
    Polled,
    QueueFactory,
    TaskQueue,
)
from perdure.server.store.base import StoreError, TaskKind, TaskRow
from perdure.server.store.shared import TASK_LEASE, PollerRow, QueryTaskRow, SharedStore

log = logging.getLogger(__name__)

QUERY_ROW_TTL = 5 * 60 * 1_000_000_000
"""Query rows older than this are swept (their asker gave up or died long ago)."""
POLLER_SHARE_SECONDS = 3.0
"""A poller's row is refreshed at most this often by each process (while it waits, by
the tick): other processes judge a sticky queue alive by these rows."""
PROXY_TTL = 120.0
"""Seconds a claimed query waits here for its worker's answer (callers wait 30 s)."""


class _Spawner:
    """Fire-and-forget tasks that are kept referenced and log their failure."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, what))

    def _done(self, task: asyncio.Task[None], what: str) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s failed: %s", what, task.exception())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class QueryBridge:
    """Carries queries between processes through the store's query_tasks table."""

    def __init__(self, store: SharedStore, registry: QueryRegistry | None = None) -> None:
        self.store = store
        self.registry = registry or QueryRegistry()
        self._sent: dict[str, QueryTask] = {}
        self._proxies: dict[str, tuple[float, QueryTask]] = {}
        self._spawner = _Spawner()

    # -------------------------------------------------------------- the asking side

    def send(self, task: QueryTask, task_queue: str) -> None:
        """Store a query for whichever process polls `task_queue` first."""
        self._sent[task.query_id] = task
        row = QueryTaskRow(
            task.query_id, task.namespace_id, task_queue, task.workflow_id, task.run_id,
            task.query.SerializeToString(), self.store.owner, time.time_ns(),
        )  # fmt: skip
        self._spawner.spawn(self._put(task, row), f"storing query {task.query_id}")

    async def _put(self, task: QueryTask, row: QueryTaskRow) -> None:
        try:
            await self.store.put_query(row)
        except StoreError as e:
            self._sent.pop(task.query_id, None)
            self.registry.resolve(
                task.query_id, QueryAnswer(False, error_message=f"query not delivered: {e}")
            )

    def answered(self, query_id: str) -> None:
        """The answer to a query this process sent is in the table."""
        task = self._sent.pop(query_id, None)
        if task is not None:
            self._spawner.spawn(self._take(task), f"reading the answer to query {query_id}")

    async def _take(self, task: QueryTask) -> None:
        data = await self.store.take_answer(task.query_id)
        if data is not None:
            self.registry.resolve(task.query_id, decode_answer(data))

    # -------------------------------------------------------------- the answering side

    async def claim(self, namespace_id: str, task_queue: str) -> QueryTask | None:
        """A stored query for a poller of this process; its answer goes back by itself."""
        row = await self.store.claim_query(namespace_id, task_queue)
        if row is None:
            return None
        query = query_pb2.WorkflowQuery.FromString(row.query)
        proxy = QueryTask(row.id, row.namespace_id, row.workflow_id, row.run_id, query)
        self.registry.add(proxy)
        self._proxies[row.id] = (time.monotonic(), proxy)
        proxy.answer.add_done_callback(lambda f: self._reply(row, f))
        return proxy

    def _reply(self, row: QueryTaskRow, answer: asyncio.Future[QueryAnswer]) -> None:
        self._proxies.pop(row.id, None)
        if answer.cancelled():
            return
        data = encode_answer(answer.result())
        self._spawner.spawn(
            self.store.answer_query(row.id, row.origin, data), f"answering query {row.id}"
        )

    async def answer_elsewhere(self, query_id: str, answer: QueryAnswer) -> bool:
        """An answer to a query this process did not hand out (the worker's calls are
        balanced over processes): store it for its origin. False if unknown."""
        return await self.store.answer_query_by_id(query_id, encode_answer(answer))

    # -------------------------------------------------------------- upkeep

    def sweep(self) -> None:
        """Forget queries whose caller gave up (removing their rows), and proxies whose
        answer went to another process or never came."""
        for query_id, task in list(self._sent.items()):
            if not task.waiting:
                del self._sent[query_id]
                self._spawner.spawn(self._drop(query_id), f"dropping query {query_id}")
        cutoff = time.monotonic() - PROXY_TTL
        for query_id, (since, proxy) in list(self._proxies.items()):
            if since < cutoff:
                del self._proxies[query_id]
                self.registry.discard(proxy)
                proxy.answer.cancel()

    def expire(self) -> None:
        """Remove rows old enough that whoever asked or claimed them is long gone."""
        self._spawner.spawn(
            self.store.expire_queries(time.time_ns() - QUERY_ROW_TTL), "expiring old queries"
        )

    async def _drop(self, query_id: str) -> None:
        await self.store.drop_query(query_id)

    def resync(self) -> None:
        """Answer notices may have been lost: look for every awaited answer."""
        for task in list(self._sent.values()):
            self._spawner.spawn(self._take_pending(task), f"rereading query {task.query_id}")

    async def _take_pending(self, task: QueryTask) -> None:
        data = await self.store.take_answer(task.query_id)
        if data is not None and self._sent.pop(task.query_id, None) is not None:
            self.registry.resolve(task.query_id, decode_answer(data))

    async def close(self) -> None:
        await self._spawner.close()


def encode_answer(answer: QueryAnswer) -> bytes:
    result = query_pb2.WorkflowQueryResult(
        result_type=query_enums.QUERY_RESULT_TYPE_ANSWERED
        if answer.answered
        else query_enums.QUERY_RESULT_TYPE_FAILED,
        error_message=answer.error_message,
    )
    if answer.result is not None:
        result.answer.CopyFrom(answer.result)
    if answer.failure is not None:
        result.failure.CopyFrom(answer.failure)
    return result.SerializeToString()


def decode_answer(data: bytes) -> QueryAnswer:
    r = query_pb2.WorkflowQueryResult.FromString(data)
    return QueryAnswer(
        r.result_type == query_enums.QUERY_RESULT_TYPE_ANSWERED,
        result=r.answer if r.HasField("answer") else None,
        error_message=r.error_message,
        failure=r.failure if r.HasField("failure") else None,
    )


@dataclass(eq=False)
class SharedTaskQueue(TaskQueue):
    """A queue whose backlog other processes dispatch too. See the module docstring."""

    bridge: QueryBridge | None = None
    _reserved: int = 0
    """Idle pollers promised to tasks whose commits are in flight (leased to us)."""
    _maybe_backlog: bool = True
    _maybe_queries: bool = True
    _fetching: bool = False
    _spawner: _Spawner = dataclasses.field(default_factory=_Spawner)
    _shared_pollers: dict[str, float] = dataclasses.field(default_factory=dict)
    """Poller identity -> when this process last wrote it to the store."""

    @property
    def _shared(self) -> SharedStore:
        assert self.bridge is not None, "a shared queue needs its bridge"
        return self.bridge.store

    def record_poller(self, identity: str, build_id: str = "") -> None:
        """Also tell the other processes (DescribeTaskQueue, sticky liveness), at most
        every few seconds."""
        super().record_poller(identity, build_id)
        self._share_poller(identity, build_id)

    def _share_poller(self, identity: str, build_id: str) -> None:
        now = time.monotonic()
        if now - self._shared_pollers.get(identity, -POLLER_SHARE_SECONDS) < POLLER_SHARE_SECONDS:
            return
        self._shared_pollers[identity] = now
        if len(self._shared_pollers) > 64:
            cutoff = now - POLLER_MEMORY_SECONDS
            self._shared_pollers = {i: t for i, t in self._shared_pollers.items() if t > cutoff}
        row = PollerRow(self.namespace_id, self.name, self.kind, identity, build_id, time.time_ns())
        self._spawner.spawn(self._shared.record_pollers([row]), f"sharing poller {identity}")

    async def poller_seen_recently(self, within: float = STICKY_ALIVE_SECONDS) -> bool:
        """A poller waits or polled here, or in another process (whose waiting pollers
        are refreshed in the store by its `tick`)."""
        if self.closed:
            return False
        if self.polled_within(within):
            return True
        window = within + POLLER_SHARE_SECONDS
        since = time.time_ns() - int(window * 1e9)
        return bool(await self._shared.get_pollers(self.namespace_id, self.name, self.kind, since))

    def _idle(self) -> int:
        """Waiting pollers that no task is promised to yet."""
        return self._pollers.idle() - self._reserved

    # -------------------------------------------------------------- commits

    def lease(self, row: TaskRow) -> TaskRow:
        """Before a commit adds `row`: lease it to this process if a poller here is idle."""
        if self.closed or self._idle() <= 0:
            return row
        self._reserved += 1
        return dataclasses.replace(
            row, lease_owner=self._shared.owner, lease_until=time.time_ns() + TASK_LEASE
        )

    def abandon(self, row: TaskRow) -> None:
        """The commit that would have added a row leased by `lease` failed."""
        if row.lease_owner == self._shared.owner:
            self._reserved = max(0, self._reserved - 1)

    def offer(self, row: TaskRow, *, front: bool = False) -> None:
        """After a commit: a leased row goes to the poller promised to it; an unleased one
        waits in the store (its notice wakes the processes polling this queue)."""
        if row.lease_owner != self._shared.owner:
            self.backlog_changed()
            return
        self._reserved = max(0, self._reserved - 1)
        if not self._pollers.hand(row):
            self._release([row])

    def offer_query(self, task: QueryTask) -> None:
        if not self._pollers.hand(task):
            assert self.bridge is not None
            self.bridge.send(task, self.name)

    def requeue(self, item: Polled) -> None:
        """A poller got the item but could not use it: another poller (anywhere) may."""
        if isinstance(item, Handoff):
            return  # started already: its start-to-close timeout brings it back
        if isinstance(item, QueryTask):
            if item.waiting:
                self._queries.appendleft(item)
        else:
            self._release([item])

    def _release(self, rows: list[TaskRow]) -> None:
        keys = [r.key for r in rows]
        self._spawner.spawn(self._shared.release_tasks(keys), f"releasing tasks {keys}")

    # -------------------------------------------------------------- polling

    async def _take_ready(self) -> TaskRow | None:
        """Nothing is held here: tasks come from the store's backlog, claimed per poller."""
        return None

    def _poller_waiting(self) -> None:
        self._kick()

    def backlog_changed(self) -> None:
        """Unleased tasks were added (or leases given back) somewhere."""
        self._maybe_backlog = True
        self._kick()

    def queries_changed(self) -> None:
        self._maybe_queries = True
        self._kick()

    def tick(self) -> None:
        """The fallback poll: notices may have been lost, leases may have lapsed."""
        self._maybe_backlog = True
        self._maybe_queries = True
        for identity in self._pollers.waiting_identities():
            info = self.pollers.get(identity)
            self._share_poller(identity, info.build_id if info is not None else "")
        self._kick()

    def _kick(self) -> None:
        if self._fetching or self._idle() <= 0:
            return
        if self._maybe_backlog or (self._maybe_queries and self.kind == TaskKind.WORKFLOW):
            self._fetching = True
            self._spawner.spawn(self._fetch(), f"claiming tasks of {self.name}")

    async def _fetch(self) -> None:
        """Claim for the idle pollers until the store has nothing more for them.

        A flag is cleared before its claim, so a notice that arrives meanwhile sets it
        again and the loop claims once more."""
        try:
            while self._idle() > 0:
                if self._maybe_queries and self.kind == TaskKind.WORKFLOW:
                    assert self.bridge is not None
                    self._maybe_queries = False
                    try:
                        query = await self.bridge.claim(self.namespace_id, self.name)
                    except StoreError:
                        self._maybe_queries = True
                        raise
                    if query is not None:
                        self._maybe_queries = True
                        if not self._pollers.hand(query):
                            self._queries.append(query)
                        continue
                want = self._idle()
                if not self._maybe_backlog or want <= 0:
                    break
                self._maybe_backlog = False
                try:
                    rows = await self._shared.claim_tasks(
                        self.namespace_id, self.name, self.kind, want
                    )
                except StoreError:
                    self._maybe_backlog = True
                    raise
                if len(rows) >= want:
                    self._maybe_backlog = True
                left = [row for row in rows if not self._pollers.hand(row)]
                if left:
                    self._release(left)
        finally:
            self._fetching = False

    def wake_all(self) -> None:
        super().wake_all()
        self._reserved = 0

    async def close(self) -> None:
        await self._spawner.close()


def shared_queue_factory(store: SharedStore, bridge: QueryBridge) -> QueueFactory:
    """Matching's queue factory on a database shared with other server processes."""

    def new_queue(namespace_id: str, name: str, kind: TaskKind) -> TaskQueue:
        return SharedTaskQueue(namespace_id, name, kind, store, bridge=bridge)

    return new_queue
