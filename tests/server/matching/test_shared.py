"""Shared task queues: leases for local pollers, claims on notice, nothing dispatched twice.

A fake shared store stands for the database: it records claims and releases and hands
out backlog rows the way FOR UPDATE SKIP LOCKED would (each row to one claimer).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest
from temporalio.api.query.v1 import message_pb2 as query_pb2

from perdure.server.matching.queries import QueryAnswer, QueryRegistry, QueryTask
from perdure.server.matching.shared import (
    QueryBridge,
    SharedTaskQueue,
    decode_answer,
    encode_answer,
)
from perdure.server.store.base import TaskKind, TaskRow
from perdure.server.store.shared import PollerRow, QueryTaskRow


class FakeShared:
    owner = "me"

    def __init__(self) -> None:
        self.backlog: list[TaskRow] = []
        self.claims: list[int] = []
        self.released: list[str] = []
        self.queries: list[QueryTaskRow] = []
        self.answers: dict[str, bytes] = {}
        self.pollers: list[PollerRow] = []

    async def claim_tasks(
        self, namespace_id: str, task_queue: str, kind: TaskKind, limit: int
    ) -> list[TaskRow]:
        self.claims.append(limit)
        await asyncio.sleep(0)
        taken, self.backlog = self.backlog[:limit], self.backlog[limit:]
        return taken

    async def release_tasks(self, keys: Sequence[str]) -> None:
        self.released.extend(keys)

    async def put_query(self, row: QueryTaskRow) -> None:
        self.queries.append(row)

    async def claim_query(self, namespace_id: str, task_queue: str) -> QueryTaskRow | None:
        return self.queries.pop(0) if self.queries else None

    async def answer_query(self, query_id: str, origin: str, answer: bytes) -> None:
        self.answers[query_id] = answer

    async def take_answer(self, query_id: str) -> bytes | None:
        return self.answers.pop(query_id, None)

    async def drop_query(self, query_id: str) -> bool:
        return True

    async def record_pollers(self, pollers: Sequence[PollerRow]) -> None:
        self.pollers.extend(pollers)

    async def get_pollers(
        self, namespace_id: str, task_queue: str, kind: TaskKind, since: int
    ) -> list[PollerRow]:
        return [p for p in self.pollers if p.task_queue == task_queue and p.last_access >= since]


def row(key: str, lease_owner: str = "") -> TaskRow:
    return TaskRow(key, "ns", "tq", TaskKind.ACTIVITY, "wf", "run", 5, 1, lease_owner=lease_owner)


@pytest.fixture
def store() -> FakeShared:
    return FakeShared()


def queue(store: FakeShared, kind: TaskKind = TaskKind.ACTIVITY) -> SharedTaskQueue:
    bridge = QueryBridge(store)  # type: ignore[arg-type]
    q = SharedTaskQueue("ns", "tq", kind, store, bridge=bridge)  # type: ignore[arg-type]
    q._maybe_backlog = q._maybe_queries = False  # as after a first empty claim
    return q


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_task_committed_while_a_poller_waits_is_leased_and_handed_over(
    store: FakeShared,
) -> None:
    q = queue(store)
    poll = asyncio.create_task(q.poll(5))
    await settle()
    leased = q.lease(row("t1"))
    assert leased.lease_owner == "me" and leased.lease_until
    assert q.lease(row("t2")).lease_owner == ""  # only one poller waits
    q.offer(leased)
    assert (await poll) == leased
    assert store.claims == [] and store.released == []


async def test_a_leased_task_whose_poller_left_is_given_back(store: FakeShared) -> None:
    q = queue(store)
    poll = asyncio.create_task(q.poll(0.05))
    await settle()
    leased = q.lease(row("t1"))
    assert await poll is None
    q.offer(leased)
    await settle()
    assert store.released == ["t1"]


async def test_a_failed_commit_frees_the_poller_it_reserved(store: FakeShared) -> None:
    q = queue(store)
    poll = asyncio.create_task(q.poll(5))
    await settle()
    leased = q.lease(row("t1"))
    q.abandon(leased)
    store.backlog = [row("t2")]
    q.backlog_changed()
    assert (await poll).key == "t2"  # type: ignore[union-attr]


async def test_notices_claim_only_for_idle_pollers(store: FakeShared) -> None:
    q = queue(store)
    polls = [asyncio.create_task(q.poll(5)) for _ in range(3)]
    await settle()
    store.backlog = [row(f"t{i}") for i in range(5)]
    q.backlog_changed()
    got = await asyncio.gather(*polls)
    assert sorted(r.key for r in got) == ["t0", "t1", "t2"]  # type: ignore[union-attr]
    assert store.claims[0] == 3
    assert [r.key for r in store.backlog] == ["t3", "t4"]  # left for other processes


async def test_an_unleased_task_of_a_local_commit_is_claimed_not_handed(
    store: FakeShared,
) -> None:
    """Nobody waited when it was committed: it may already be another process's."""
    q = queue(store)
    q.offer(row("t1"))
    assert store.claims == []  # no idle poller: nothing to claim for
    poll = asyncio.create_task(q.poll(5))
    await settle()
    assert store.claims == [1]  # the new poller looks in the backlog
    store.backlog = [row("t1")]
    q.tick()
    assert (await poll).key == "t1"  # type: ignore[union-attr]


async def test_a_task_the_poller_could_not_start_goes_back_to_the_store(
    store: FakeShared,
) -> None:
    q = queue(store)
    q.requeue(row("t1", lease_owner="me"))
    await settle()
    assert store.released == ["t1"]


async def test_queries_travel_through_the_store(store: FakeShared) -> None:
    asker, answerer = QueryRegistry(), QueryRegistry()
    a = QueryBridge(store, asker)  # type: ignore[arg-type]
    b = QueryBridge(store, answerer)  # type: ignore[arg-type]
    task = QueryTask("q1", "ns", "wf", "run", query_pb2.WorkflowQuery(query_type="state"))
    asker.add(task)
    a.send(task, "tq")
    await settle()
    assert [r.id for r in store.queries] == ["q1"]
    proxy = await b.claim("ns", "tq")
    assert proxy is not None and proxy.query.query_type == "state"
    assert answerer.resolve("q1", QueryAnswer(True, error_message=""))
    await settle()
    assert "q1" in store.answers
    a.answered("q1")
    answer = await asyncio.wait_for(task.answer, 1)
    assert answer.answered


async def test_a_poller_takes_a_stored_query_before_tasks(store: FakeShared) -> None:
    q = queue(store, TaskKind.WORKFLOW)
    store.queries.append(QueryTaskRow("q1", "ns", "tq", "wf", "run", b"", "other", 1))
    store.backlog = [row("t1")]
    q.tick()
    first = await q.poll(1)
    assert isinstance(first, QueryTask) and first.query_id == "q1"
    assert (await q.poll(1)).key == "t1"  # type: ignore[union-attr]


def test_answers_round_trip() -> None:
    for answer in (
        QueryAnswer(True),
        QueryAnswer(False, error_message="boom"),
    ):
        assert decode_answer(encode_answer(answer)) == answer


async def test_a_sticky_queue_polled_in_another_process_is_alive(store: FakeShared) -> None:
    q = queue(store, TaskKind.WORKFLOW)
    assert not await q.poller_seen_recently()  # nobody polls it anywhere
    old = time.time_ns() - 60 * 1_000_000_000
    store.pollers.append(PollerRow("ns", "tq", TaskKind.WORKFLOW, "dead", "", old))
    assert not await q.poller_seen_recently()  # a worker gone a minute ago
    store.pollers.append(PollerRow("ns", "tq", TaskKind.WORKFLOW, "w", "", time.time_ns()))
    assert await q.poller_seen_recently()


async def test_the_tick_refreshes_the_rows_of_waiting_pollers(store: FakeShared) -> None:
    q = queue(store, TaskKind.WORKFLOW)
    poll = asyncio.create_task(q.poll(5, "waiter"))
    await settle()
    q._shared_pollers.clear()  # as if its row was written long ago
    q.tick()
    await settle()
    assert [p.identity for p in store.pollers] == ["waiter"]
    poll.cancel()
