"""PostgreSQL notices between server processes: sending them, and listening for them.

A notice goes out right after the commit it describes, never inside it: PostgreSQL makes
every transaction that NOTIFYs take one database-wide lock until its commit is flushed,
which would serialize all commits and defeat the group commit of their WAL flushes. So
`Notifier` batches the notices of commits that have returned and sends them in a small
transaction of their own (no WAL to flush). A process that dies between a commit and its
notice loses the notice: the receivers' fallback polls cover that, as they cover notices
lost while a listening connection is down.

`Listener` holds one dedicated connection per server process. It can drop (the database
restarts, an administrator terminates it): it reconnects with backoff, and after every
reconnect calls `on_resync`, because notices sent meanwhile are lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
import psycopg_pool

from perdure.server.store import pg_wire
from perdure.server.store.shared import Notice, decode_notice

log = logging.getLogger(__name__)

CHANNEL = "perdure"
MAX_BACKOFF = 2.0
_SEND = f"SELECT pg_notify('{CHANNEL}', p) FROM unnest(%s::text[]) AS p"


class Notifier:
    """Sends notices in batches: those queued while a batch is in flight go together."""

    def __init__(self, pool: psycopg_pool.AsyncConnectionPool[Any]) -> None:
        self._pool = pool
        self._queued: list[str] = []
        self._task: asyncio.Task[None] | None = None

    def send(self, payloads: Iterable[str]) -> None:
        self._queued.extend(payloads)
        if self._queued and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        while self._queued:
            batch = list(dict.fromkeys(self._queued))
            self._queued.clear()
            try:
                async with self._pool.connection() as conn:
                    await pg_wire.run(conn, [(_SEND, (batch,))])
            except psycopg.Error as e:  # PoolClosed and PoolTimeout included
                # Lost: receivers find the changes on their fallback poll.
                log.warning("could not send %d notices: %s", len(batch), e)

    async def close(self) -> None:
        """Send what is queued (before the pool closes)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


class Listener:
    """Runs until `close()`: delivers each notice to `on_notice`, in order."""

    def __init__(
        self, url: str, on_notice: Callable[[Notice], None], on_resync: Callable[[], None]
    ) -> None:
        self._url = url
        self._on_notice = on_notice
        self._on_resync = on_resync
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._closed = False
        self.connected = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        backoff = 0.05
        while not self._closed:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=5
                )
            except psycopg.Error as e:
                log.warning("cannot LISTEN on PostgreSQL (%s); retrying", e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            self._conn = conn
            try:
                await conn.execute(f"LISTEN {CHANNEL}")
                self.connected.set()
                backoff = 0.05
                self._resync()
                async for n in conn.notifies():
                    notice = decode_notice(n.payload)
                    if notice is not None:
                        self._deliver(notice)
            except psycopg.Error as e:
                if not self._closed:
                    log.warning("PostgreSQL LISTEN connection lost (%s); reconnecting", e)
            finally:
                self.connected.clear()
                self._conn = None
                await conn.close()
            if not self._closed:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    def _deliver(self, notice: Notice) -> None:
        try:
            self._on_notice(notice)
        except Exception:
            log.exception("handling notice %r failed", notice)

    def _resync(self) -> None:
        try:
            self._on_resync()
        except Exception:
            log.exception("resync after (re)connecting failed")

    async def close(self) -> None:
        self._closed = True
        self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, Exception):
            pass
