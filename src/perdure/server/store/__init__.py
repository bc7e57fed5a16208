"""Perdure's storage: the Store contract (base.py) and its SQLite and PostgreSQL backends.

`open_store(url)` picks the backend from a URL: "sqlite:///abs/path.db", a bare path,
":memory:" (also "sqlite://:memory:"), or "postgresql://user@host:port/db".
"""

from __future__ import annotations

from perdure.server.store.base import Store


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


async def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the store that `url` names, creating its schema in an empty database.

    An existing schema behind this version is migrated, or with `migrate=False` refused
    (`StoreError`: run `perdure server migrate` first)."""
    if is_postgres_url(url):
        from perdure.server.store.postgres import PostgresStore

        return await PostgresStore.open(url, migrate=migrate)
    from perdure.server.store.sqlite import MEMORY, SQLiteStore

    path = url
    if url.startswith("sqlite:"):
        path = url.removeprefix("sqlite:").removeprefix("//")
        if path in ("", "/:memory:"):
            path = MEMORY
        # sqlite:///abs/path keeps its leading slash (SQLAlchemy's sqlite:////abs too);
        # sqlite://rel/path is relative.
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
    return await SQLiteStore.open(path, migrate=migrate)


async def schema_version(url: str) -> int:
    """The schema version of an existing database (0 for an empty one), read-only."""
    if is_postgres_url(url):
        import psycopg

        async with await psycopg.AsyncConnection.connect(url, connect_timeout=10) as conn:
            cur = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
            row = await cur.fetchone()
            if not row or not row[0]:
                return 0
            cur = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            row = await cur.fetchone()
            return int(row[0]) if row else 0
    import asyncio

    return await asyncio.to_thread(_sqlite_schema_version, url)


def _sqlite_schema_version(url: str) -> int:
    import os
    import sqlite3

    path = url.removeprefix("sqlite:").removeprefix("//") if url.startswith("sqlite:") else url
    if not os.path.exists(path):
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchall()
        if not found:
            return 0
        return int(
            db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchall()[0][0]
        )
    finally:
        db.close()


__all__ = ["Store", "is_postgres_url", "open_store", "schema_version"]
