"""Databases for running compiled queries: SQLite in memory and a throwaway PostgreSQL.

Each holds a minimal executions_visibility table that the tests create themselves from
store/base.py's column names (the store's real schema is tested by the store's suite).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

PG_ADMIN_URL = os.environ.get("PERDURE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _start_local_postgres() -> None:
    for version in os.listdir("/etc/postgresql") if os.path.isdir("/etc/postgresql") else []:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            check=False,
            capture_output=True,
            timeout=60,
        )


@pytest.fixture(scope="session")
def pg_visibility_url() -> Iterator[str]:
    """A database of its own for this session, dropped at the end."""
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError:
        _start_local_postgres()
        try:
            psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
        except psycopg.OperationalError as e:
            pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {e}")
    name = f"perdure_vis_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_connection(pg_visibility_url: str) -> Iterator[Any]:
    import psycopg

    with psycopg.connect(pg_visibility_url, autocommit=True) as conn:
        yield conn
