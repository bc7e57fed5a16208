"""Perdure's storage: the Store contract (base.py) and its SQLite and PostgreSQL backends.

`open_store(url)` picks the backend from a URL: "sqlite:///abs/path.db", a bare path,
":memory:" (also "sqlite://:memory:"), or "postgresql://user@host:port/db".
"""

from __future__ import annotations

from perdure.server.store.base import Store


async def open_store(url: str) -> Store:
    """Open (creating and migrating as needed) the store that `url` names."""
    if url.startswith(("postgresql://", "postgres://")):
        from perdure.server.store.postgres import PostgresStore

        return await PostgresStore.open(url)
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
    return await SQLiteStore.open(path)


__all__ = ["Store", "open_store"]
