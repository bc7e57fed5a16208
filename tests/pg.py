"""PostgreSQL for tests: is it there (start the local cluster if not), fresh databases.

Tests that need PostgreSQL create their own database (perdure_test_<random>) and drop
it when done, so runs never see each other's rows.
"""

from __future__ import annotations

import os
import subprocess
import uuid

PG_ADMIN_URL = os.environ.get("PERDURE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def pg_unreachable() -> str | None:
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
            for v in os.listdir("/etc/postgresql"):
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


def create_database(prefix: str = "perdure_test") -> str:
    """A new empty database; its URL."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def drop_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
