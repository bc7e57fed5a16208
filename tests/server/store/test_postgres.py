"""PostgreSQL specifics: migrations, reopening, two stores (processes) on one database."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from perdure.server.store import open_store
from perdure.server.store.base import ConditionFailed, StoreError, TaskKind, Unavailable
from perdure.server.store.postgres import PostgresStore
from perdure.server.store.schema import SCHEMA_VERSION, TABLES
from tests.server.store.builders import NS, new_key, start, timer, update

pytestmark = pytest.mark.postgres


@pytest.fixture
async def fresh(pg_url: str) -> str:
    """The session database, emptied."""
    store = await PostgresStore.open(pg_url)
    await store.close()
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
    return pg_url


async def test_migrations_recorded_once_and_data_survives_reopen(fresh: str) -> None:
    k = new_key()
    store = await open_store(fresh)
    assert isinstance(store, PostgresStore)
    await store.commit(start(k))
    await store.close()
    store = await open_store(fresh)
    try:
        snap = await store.load_execution(k)
        assert snap is not None and snap.version == 1
    finally:
        await store.close()
    async with await psycopg.AsyncConnection.connect(fresh) as conn:
        cur = await conn.execute("SELECT version FROM schema_version ORDER BY version")
        assert await cur.fetchall() == [(v,) for v in range(1, SCHEMA_VERSION + 1)]


async def test_concurrent_opens_migrate_once(pg_url: str) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(pg_url) for _ in range(3)))
    for s in stores:
        await s.close()


async def test_newer_schema_is_refused(fresh: str) -> None:
    async with await psycopg.AsyncConnection.connect(fresh, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO schema_version VALUES (%s, 'future', 0)", (SCHEMA_VERSION + 1,)
        )
    try:
        with pytest.raises(StoreError, match="newer"):
            await PostgresStore.open(fresh)
    finally:
        async with await psycopg.AsyncConnection.connect(fresh, autocommit=True) as conn:
            await conn.execute("DELETE FROM schema_version WHERE version > %s", (SCHEMA_VERSION,))


async def test_two_stores_race_for_one_task(fresh: str) -> None:
    """Two server processes share the database: a claim still has exactly one winner."""
    a, b = await PostgresStore.open(fresh), await PostgresStore.open(fresh)
    try:
        k = new_key()
        await a.commit(start(k))
        tkey = f"{k.run_id}/wt1"
        racers = [new_key() for _ in range(6)]
        for r in racers:
            await a.commit(start(r))
        results = await asyncio.gather(
            *(
                (a if i % 2 else b).commit(update(r, 1, b"won", tasks_claimed=[tkey]))
                for i, r in enumerate(racers)
            ),
            return_exceptions=True,
        )
        assert sum(res is None for res in results) == 1
        assert all(isinstance(res, ConditionFailed) for res in results if res is not None)
        # Both see the same state.
        for s in (a, b):
            tasks = await s.get_tasks(NS, "tq", TaskKind.WORKFLOW, 0, 100)
            assert tkey not in [t.key for t in tasks]
    finally:
        await a.close()
        await b.close()


async def test_unreachable_server_is_unavailable() -> None:
    with pytest.raises(Unavailable):
        await PostgresStore.open("postgresql://postgres@127.0.0.1:1/nothing", timeout=1)


async def test_closed_store_is_unavailable(fresh: str) -> None:
    store = await PostgresStore.open(fresh)
    await store.close()
    with pytest.raises(Unavailable):
        await store.commit(start(new_key()))


async def test_a_failed_commit_does_not_break_prepared_statements(fresh: str) -> None:
    """psycopg prepares a statement on its 6th use; when that use is in a pipeline that
    a failed check aborts, the statement never reached the server: the next use must
    not name it (psycopg would fail with "prepared statement does not exist")."""
    store = await PostgresStore.open(fresh, min_size=1, max_size=1)
    try:
        k = new_key()
        await store.commit(start(k))
        for i in range(5):
            await store.commit(update(k, i + 1, b"s", timers_added=[timer(k, f"t{i}", 10)]))
        with pytest.raises(ConditionFailed):  # the 6th timer upsert, in an aborted pipeline
            await store.commit(update(k, 1, b"stale", timers_added=[timer(k, "t5", 10)]))
        await store.commit(update(k, 6, b"s", timers_added=[timer(k, "t6", 10)]))
        assert len(await store.get_timers(100, 100)) == 6
    finally:
        await store.close()
