"""The `store` fixture: every conformance test runs once per backend.

SQLite gets a fresh file per test. PostgreSQL gets one database per test session
(perdure_test_<random>, dropped at the end) and empty tables per test. When PostgreSQL
is not reachable, the fixture tries to start the local cluster, and skips its tests with
the reason only if that fails too.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from perdure.server.store.sqlite import SQLiteStore
from perdure.server.store.sqlstore import SqlStore

PG_ADMIN_URL = os.environ.get("PERDURE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_reachable() -> str | None:
    """None when PostgreSQL answers, else why not (after trying to start it)."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
        return None
    except psycopg.OperationalError as first:
        try:
            versions = os.listdir("/etc/postgresql")
            for v in versions:
                subprocess.run(
                    ["pg_ctlcluster", "--skip-systemctl-redirect", v, "main", "start"],
                    check=False,
                    capture_output=True,
                    timeout=60,
                )
            psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
            return None
        except Exception as e:
            return f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({first}); starting it: {e}"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh database for this test session, dropped at the end."""
    reason = _pg_reachable()
    if reason:
        pytest.skip(reason)
    import psycopg

    name = f"perdure_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
