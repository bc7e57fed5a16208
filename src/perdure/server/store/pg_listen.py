"""The LISTEN side of PostgreSQL notices: one dedicated connection per server process.

Commits NOTIFY on the channel `perdure` inside their own transaction, so a notice means
the change is durable. The listening connection can drop (the database restarts, an
administrator terminates it): it reconnects with backoff, and after every reconnect calls
`on_resync`, because notices sent meanwhile are lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import psycopg

from perdure.server.store.shared import Notice, decode_notice

log = logging.getLogger(__name__)

CHANNEL = "perdure"
MAX_BACKOFF = 2.0


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
