"""PostgreSQL backend: psycopg 3 async with a connection pool.

Each write plan is one implicit transaction sent in pipeline mode, in one round trip:
conditional statements check their own row counts on the server (perdure_expect) and
abort the transaction when a condition fails. PostgreSQL's own group commit batches
the fsyncs of concurrent transactions. Row locks taken by the conditional UPDATE/DELETE
statements make concurrent writers of one execution or one task wait for each other,
and the loser's condition then fails cleanly.

Multi-process work (claiming backlog with FOR UPDATE SKIP LOCKED, timer leases,
LISTEN/NOTIFY wake-ups) builds on this module later; nothing here assumes one process.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors
from psycopg.types.string import TextLoader

from perdure.server.store.base import (
    AlreadyExists,
    ConditionFailed,
    SqlValue,
    StoreError,
    TaskAlreadyClaimed,
    Unavailable,
)
from perdure.server.store.dialect import POSTGRES
from perdure.server.store.plans import Step
from perdure.server.store.rows import Row
from perdure.server.store.schema import SCHEMA_VERSION, SCHEMA_VERSION_DDL, pending_migrations
from perdure.server.store.sqlstore import SqlStore

_MIGRATION_LOCK = 0x70657264  # "perd": serializes migrations across processes


class PostgresStore(SqlStore):
    """Open with `await PostgresStore.open("postgresql://user@host/db")`; `close()` when done."""

    def __init__(self, pool: psycopg_pool.AsyncConnectionPool[Any]) -> None:
        super().__init__(POSTGRES)
        self._pool = pool
        self.transactions = 0
        """Write transactions committed so far (one per write: no batching here)."""

    @classmethod
    async def open(
        cls, url: str, *, min_size: int = 2, max_size: int = 16, timeout: float = 10.0
    ) -> PostgresStore:
        """Connect, and create or migrate the schema as needed."""
        pool: psycopg_pool.AsyncConnectionPool[Any] = psycopg_pool.AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            open=False,
            kwargs={"autocommit": True},
            configure=_configure,
        )
        try:
            await pool.open(wait=True, timeout=timeout)
            async with pool.connection() as conn:
                await migrate(conn)
        except psycopg_pool.PoolTimeout as e:
            await pool.close()
            raise Unavailable(f"cannot connect to PostgreSQL: {e}") from e
        except BaseException:
            await pool.close()
            raise
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    async def _fetch(self, sql: str, params: Sequence[SqlValue]) -> list[Row]:
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(sql, params)
                found: list[Row] = await cur.fetchall()
                return found
        except psycopg.Error as e:
            raise map_error(e) from e

    async def _write(self, steps: Sequence[Step]) -> None:
        try:
            async with self._pool.connection() as conn:
                await _apply(conn, steps)
        except psycopg.Error as e:  # pool timeouts and a closed pool included
            raise map_error(e) from e
        self.transactions += 1


_ERROR_CODES: dict[type[StoreError], str] = {
    # Custom SQLSTATEs (class "PD") that perdure_expect raises for a failed condition.
    ConditionFailed: "PD001",
    TaskAlreadyClaimed: "PD002",
    AlreadyExists: "PD003",
    StoreError: "PD004",
}
_ERRORS_BY_CODE = {code: cls for cls, code in _ERROR_CODES.items()}


@functools.lru_cache(maxsize=256)
def _checked(sql: str) -> str:
    """`sql` made to fail on the server unless it affects exactly one row."""
    return f"WITH w AS ({sql} RETURNING 1) SELECT perdure_expect(count(*), 1, %s, %s) FROM w"


async def _apply(conn: psycopg.AsyncConnection[Any], steps: Sequence[Step]) -> None:
    """All steps in one pipeline, one round trip: the statements before the pipeline's
    sync form one implicit transaction, which any failed check rolls back whole.

    Every conditional step expects exactly one affected row per parameter row (its
    `expect` is the number of rows), so the check runs per row on the server.
    """
    async with conn.pipeline():
        for step in steps:
            cur = conn.cursor()
            if step.expect is None:
                sql, params = step.sql, step.rows
            else:
                extra = (_ERROR_CODES[step.error], step.message)
                sql, params = _checked(step.sql), [(*r, *extra) for r in step.rows]
            if len(params) == 1:
                await cur.execute(sql, params[0])
            else:
                await cur.executemany(sql, params)


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    # KeywordList columns come back as the JSON text that was written, not parsed.
    conn.adapters.register_loader("jsonb", TextLoader)


def map_error(e: psycopg.Error) -> StoreError:
    if e.sqlstate in _ERRORS_BY_CODE:
        return _ERRORS_BY_CODE[e.sqlstate](e.diag.message_primary or str(e))
    if isinstance(e, pg_errors.UniqueViolation):
        return AlreadyExists(str(e))
    if isinstance(e, pg_errors.SerializationFailure | pg_errors.DeadlockDetected):
        return ConditionFailed(f"postgresql: {e}")
    if isinstance(e, psycopg.OperationalError):
        return Unavailable(f"postgresql: {e}")
    return StoreError(f"postgresql: {e}")


async def migrate(conn: psycopg.AsyncConnection[Any]) -> int:
    """Bring the database up to SCHEMA_VERSION; each migration in its own transaction,
    under an advisory lock so that processes starting together migrate once."""
    while True:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            await conn.execute(POSTGRES.render(SCHEMA_VERSION_DDL))
            cur = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            row = await cur.fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"database schema version {version} is newer than this Perdure's"
                    f" ({SCHEMA_VERSION}); upgrade Perdure"
                )
            todo = pending_migrations(version)
            if not todo:
                return version
            m = todo[0]
            for statement in m.statements(POSTGRES):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_version (version, description, applied_time)"
                " VALUES (%s, %s, %s)",
                (m.version, m.description, time.time_ns()),
            )
