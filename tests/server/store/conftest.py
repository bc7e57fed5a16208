"""The `store` fixture: every conformance test runs once per backend.

SQLite gets a fresh file per test. PostgreSQL gets one database per test session
(perdure_test_<random>, dropped at the end) and empty tables per test. When PostgreSQL
is not reachable, the fixture tries to start the local cluster, and skips its tests with
the reason only if that fails too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from perdure.server.store.sqlite import SQLiteStore
from perdure.server.store.sqlstore import SqlStore
from tests.pg import create_database, drop_database, pg_unreachable


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh database for this test session, dropped at the end."""
    reason = pg_unreachable()
    if reason:
        pytest.skip(reason)
    url = create_database()
    try:
        yield url
    finally:
        drop_database(url)


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


async def open_backend(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> SqlStore:
    if kind == "sqlite":
        return await SQLiteStore.open(tmp_path / "store.db")
    from perdure.server.store.postgres import PostgresStore

    url: str = request.getfixturevalue("pg_url")
    store = await PostgresStore.open(url)
    import psycopg

    from perdure.server.store.schema import TABLES

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
    return store


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStore]:
    s = await open_backend(request.param, request, tmp_path)
    try:
        yield s
    finally:
        await s.close()
