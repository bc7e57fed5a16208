"""The shared-store features of PostgreSQL: leases, notices, query tasks, versions.

Two `PostgresStore`s on one database stand for two server processes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from perdure.server.store.base import ConditionFailed, TaskKind
from perdure.server.store.postgres import PostgresStore
from perdure.server.store.schema import TABLES
from perdure.server.store.shared import (
    SECOND,
    TIMER_GRACE,
    AnswerNotice,
    ExecutionNotice,
    NamespaceNotice,
    Notice,
    PollerRow,
    QueryNotice,
    QueryTaskRow,
    SharedStore,
    TaskNotice,
    WorkerLeftNotice,
    decode_notice,
    encode_notice,
)
from perdure.server.store.sqlite import SQLiteStore
from tests.server.store.builders import NS, new_key, start, task, timer, update

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pair(pg_url: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    a = await PostgresStore.open(pg_url)
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
    b = await PostgresStore.open(pg_url)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def test_only_postgres_is_a_shared_store(
    pair: tuple[PostgresStore, PostgresStore], tmp_path: Path
) -> None:
    assert isinstance(pair[0], SharedStore)
    sqlite = await SQLiteStore.open(tmp_path / "one-process.db")
    try:
        assert not isinstance(sqlite, SharedStore)
    finally:
        await sqlite.close()


def test_notices_round_trip() -> None:
    for n in (
        TaskNotice("ns", "queue\x1fwith separator", TaskKind.ACTIVITY),
        ExecutionNotice("owner", "ns", "run", 7),
        QueryNotice("ns", "q"),
        AnswerNotice("owner", "qid"),
        NamespaceNotice("ns-id"),
        WorkerLeftNotice("ns-id", "worker-key"),
    ):
        assert decode_notice(encode_notice(n)) == n
    assert decode_notice("z\x1fwhat") is None
    assert decode_notice("e\x1fo\x1fns\x1frun\x1fnot-a-number") is None


async def test_backlog_rows_are_claimed_by_one_process_each(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = pair
    keys = [new_key() for _ in range(20)]
    for k in keys:
        await a.commit(start(k))
    claims = await asyncio.gather(
        *((a if i % 2 else b).claim_tasks(NS, "tq", TaskKind.WORKFLOW, 3) for i in range(10))
    )
    claimed = [t.key for rows in claims for t in rows]
    assert len(claimed) == len(set(claimed)) == 20
    assert await b.claim_tasks(NS, "tq", TaskKind.WORKFLOW, 5) == []
    # Leased rows are still in the backlog (the start commit removes them).
    assert len(await a.get_tasks(NS, "tq", TaskKind.WORKFLOW, 0, 100)) == 20


async def test_claims_come_oldest_first(pair: tuple[PostgresStore, PostgresStore]) -> None:
    a, _ = pair
    keys = [new_key() for _ in range(5)]
    for k in keys:
        await a.commit(start(k))
    rows = await a.claim_tasks(NS, "tq", TaskKind.WORKFLOW, 10)
    assert [r.run_id for r in rows] == [k.run_id for k in keys]
    assert all(r.lease_owner == a.owner for r in rows)


async def test_released_and_lapsed_task_leases_return_to_the_backlog(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = pair
    k1, k2 = new_key(), new_key()
    await a.commit(start(k1))
    await a.commit(start(k2))
    first, second = await a.claim_tasks(NS, "tq", TaskKind.WORKFLOW, 2)
    await b.release_tasks([first.key])  # not b's lease: nothing happens
    assert await b.claim_tasks(NS, "tq", TaskKind.WORKFLOW, 2) == []
    await a.release_tasks([first.key])
    assert [t.key for t in await b.claim_tasks(NS, "tq", TaskKind.WORKFLOW, 2)] == [first.key]
    async with await psycopg.AsyncConnection.connect(a._url, autocommit=True) as conn:
        await conn.execute("UPDATE tasks SET lease_until = 1 WHERE key = %s", (second.key,))
    assert [t.key for t in await b.claim_tasks(NS, "tq", TaskKind.WORKFLOW, 2)] == [second.key]


async def test_a_task_committed_with_a_lease_is_not_claimed_by_others(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = pair
    k = new_key()
    mine = dataclasses.replace(
        task(k, "wt1"), lease_owner=a.owner, lease_until=time.time_ns() + 10 * SECOND
    )
    await a.commit(start(k, tasks_added=[mine]))
    assert await b.claim_tasks(NS, "tq", TaskKind.WORKFLOW, 5) == []
    await a.release_leases()
    assert len(await b.claim_tasks(NS, "tq", TaskKind.WORKFLOW, 5)) == 1


async def test_timers_belong_to_their_writer_until_grace_after_due(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = pair
    now = time.time_ns()
    k = new_key()
    await a.commit(
        start(k, timers_added=[timer(k, "due", now - SECOND), timer(k, "later", now + SECOND)])
    )
    horizon = now + 60 * SECOND
    assert [t.key for t in await a.claim_timers(horizon, 10)] == [
        f"{k.run_id}/due",
        f"{k.run_id}/later",
    ]
    assert await b.claim_timers(horizon, 10) == []
    # The writer died: once grace has passed since a timer was due, others take it.
    async with await psycopg.AsyncConnection.connect(a._url, autocommit=True) as conn:
        await conn.execute(
            "UPDATE timers SET lease_until = lease_until - %s WHERE key = %s",
            (TIMER_GRACE + 2 * SECOND, f"{k.run_id}/due"),
        )
    assert [t.key for t in await b.claim_timers(horizon, 10)] == [f"{k.run_id}/due"]
    assert await a.claim_timers(horizon, 10) == [
        t for t in await a.get_timers(horizon, 10) if t.key.endswith("later")
    ]


async def test_refresh_execution_sends_state_only_when_changed(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = pair
    k = new_key()
    await a.commit(start(k))
    same = await b.refresh_execution(k, 1)
    assert same is not None and same.state == b"" and same.version == 1
    await a.commit(update(k, 1, b"s2"))
    changed = await b.refresh_execution(k, 1)
    assert changed is not None and changed.state == b"s2" and changed.version == 2
    assert await b.refresh_execution(new_key(), 1) is None


async def test_commits_notify_other_processes(pair: tuple[PostgresStore, PostgresStore]) -> None:
    a, b = pair
    got: list[Notice] = []
    resyncs: list[int] = []
    b.listen(got.append, lambda: resyncs.append(1))
    assert b._listener is not None
    await asyncio.wait_for(b._listener.connected.wait(), 5)
    assert resyncs == [1]
    k, k2 = new_key(), new_key()
    leased = dataclasses.replace(
        task(k2, "wt1"), lease_owner=a.owner, lease_until=time.time_ns() + SECOND
    )
    await a.commit(start(k))
    await a.commit(start(k2, tasks_added=[leased]))
    await a.commit(update(k, 1, b"s2"))
    expected: list[Notice] = [
        ExecutionNotice(a.owner, NS, k.run_id, 1),
        TaskNotice(NS, "tq", TaskKind.WORKFLOW),
        ExecutionNotice(a.owner, NS, k2.run_id, 1),  # its task is leased: no task notice
        ExecutionNotice(a.owner, NS, k.run_id, 2),
    ]
    for _ in range(100):
        if len(got) >= len(expected):
            break
        await asyncio.sleep(0.02)
    assert got == expected
    # A failed commit notifies nothing.
    with pytest.raises(ConditionFailed):
        await a.commit(update(k, 1, b"stale"))
    await asyncio.sleep(0.2)
    assert len(got) == len(expected)


async def test_query_tasks_travel_between_processes(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = pair
    got: list[Notice] = []
    a.listen(got.append, lambda: None)
    assert a._listener is not None
    await asyncio.wait_for(a._listener.connected.wait(), 5)
    row = QueryTaskRow("q1", NS, "tq", "wf", "run", b"query", a.owner, 1)
    await a.put_query(row)
    await a.put_query(dataclasses.replace(row, id="q2", created_time=2))
    assert await b.claim_query(NS, "other") is None
    claimed = await b.claim_query(NS, "tq")
    assert claimed == row
    assert await a.take_answer("q1") is None  # not answered yet
    assert not await a.drop_query("q1")  # claimed: it stays for its answer
    await b.answer_query("q1", a.owner, b"answer")
    for _ in range(100):
        if AnswerNotice(a.owner, "q1") in got:
            break
        await asyncio.sleep(0.02)
    assert QueryNotice(NS, "tq") in got and AnswerNotice(a.owner, "q1") in got
    assert await a.take_answer("q1") == b"answer"
    assert await a.take_answer("q1") is None
    assert await a.drop_query("q2")  # nobody claimed it
    assert await b.claim_query(NS, "tq") is None


async def test_pollers_seen_by_any_process(pair: tuple[PostgresStore, PostgresStore]) -> None:
    a, b = pair
    row = PollerRow(NS, "tq", TaskKind.WORKFLOW, "worker-1", "", 100)
    await a.record_pollers([row])
    await b.record_pollers([dataclasses.replace(row, last_access=50)])  # older: ignored
    await b.record_pollers([dataclasses.replace(row, identity="worker-2", last_access=20)])
    assert await b.get_pollers(NS, "tq", TaskKind.WORKFLOW, 0) == [
        row,
        dataclasses.replace(row, identity="worker-2", last_access=20),
    ]
    assert await b.get_pollers(NS, "tq", TaskKind.WORKFLOW, 30) == [row]
    assert await b.get_pollers(NS, "tq", TaskKind.ACTIVITY, 0) == []
