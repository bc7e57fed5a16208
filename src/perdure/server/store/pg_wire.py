"""Write plans and reads sent over libpq directly, under psycopg's connection.

psycopg's pipeline mode flushes each statement to the socket as it is queued and keeps a
cursor, a result queue and a generator round per statement: for a commit of five
statements that was most of the PostgreSQL server's CPU on the commit path. Here a
plan's statements are queued in libpq's pipeline, sent in one write, and their results
read back once the pipeline's sync arrives: one send, one wake-up per plan, and no
Python per statement beyond dumping its parameters.

Statements are prepared once per connection (named `pd<n>`, apart from psycopg's own
`_pg3_<n>`) and keyed by their SQL and parameter types, as psycopg does: a parameter's
binary type follows its value (an int may dump as int2 or int8). A name is recorded only
once the server confirmed its Parse, so a pipeline aborted before it leaves no stale name.

Whatever interrupts an exchange midway (a cancelled task, a lost socket) closes the
connection, and the pool replaces it: a half-read pipeline is never handed on.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import re
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer

from perdure.server.store.base import SqlValue
from perdure.server.store.rows import Row

_MAX_PREPARED = 256
"""Prepared statements kept per connection; past that, statements run unprepared."""
_PREPARE_AT = 2
"""A statement is prepared the second time a connection runs it: a one-off read (a
visibility query with its own filter) does not take a name."""

Params = Sequence[SqlValue | list[str]]

_names = itertools.count(1)
"""Statement names, unique in the process: a connection that forgot its names (see
`forget_prepared`) never reuses one the server may still hold."""

_EXEC = pq.ExecStatus
_OK = (_EXEC.COMMAND_OK, _EXEC.TUPLES_OK)
_PLACEHOLDER = re.compile(r"%(.)")


@functools.lru_cache(maxsize=512)
def to_dollar(sql: str) -> tuple[bytes, int]:
    """psycopg's `%s` placeholders as PostgreSQL's `$n` (and `%%` as `%`); the count."""
    n = 0

    def sub(m: re.Match[str]) -> str:
        nonlocal n
        if m.group(1) == "%":
            return "%"
        if m.group(1) != "s":
            raise ValueError(f"unsupported placeholder %{m.group(1)} in {sql!r}")
        n += 1
        return f"${n}"

    return _PLACEHOLDER.sub(sub, sql).encode(), n


class _Session:
    """What this module keeps per connection: its transformer and prepared names."""

    __slots__ = ("prepared", "seen", "tx")

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.tx = Transformer(conn)
        self.prepared: dict[tuple[bytes, tuple[int, ...]], bytes] = {}
        self.seen: dict[tuple[bytes, tuple[int, ...]], int] = {}

    def name_for(self, key: tuple[bytes, tuple[int, ...]]) -> bytes | None:
        """The statement's name if it is to be prepared now, else None."""
        if len(self.prepared) >= _MAX_PREPARED:
            return None
        n = self.seen.get(key, 0) + 1
        if n < _PREPARE_AT:
            if len(self.seen) >= 4 * _MAX_PREPARED:
                self.seen.clear()
            self.seen[key] = n
            return None
        self.seen.pop(key, None)
        return b"pd%d" % next(_names)


_SESSION = "_perdure_wire"
"""The attribute that holds a connection's `_Session` (it lives and dies with it; a
weak mapping would not do, as the transformer refers back to the connection)."""


def _session(conn: psycopg.AsyncConnection[Any]) -> _Session:
    s: _Session | None = getattr(conn, _SESSION, None)
    if s is None:
        s = _Session(conn)
        setattr(conn, _SESSION, s)
    return s


def forget_prepared(conn: psycopg.AsyncConnection[Any]) -> None:
    """Drop the connection's prepared names (the server may have lost them)."""
    if getattr(conn, _SESSION, None) is not None:
        setattr(conn, _SESSION, None)


async def run(
    conn: psycopg.AsyncConnection[Any], queries: Sequence[tuple[str, Params]]
) -> list[Row]:
    """Run every (sql, params) in order as one implicit transaction: all or none.

    The first statement that fails aborts the rest and rolls back the transaction; its
    error is raised as psycopg's. Returns the rows of the last statement.
    """
    pgconn = conn.pgconn
    if pgconn.transaction_status != pq.TransactionStatus.IDLE:
        raise psycopg.InterfaceError("connection is not idle")
    session = _session(conn)
    tx, prepared = session.tx, session.prepared
    # What each result in the pipeline answers: a Parse (its key and name) or a query.
    pending: list[tuple[tuple[bytes, tuple[int, ...]], bytes] | None] = []
    parsing: dict[tuple[bytes, tuple[int, ...]], bytes] = {}  # Parse sent in this pipeline
    done = False
    pgconn.enter_pipeline_mode()
    try:
        for sql, params in queries:
            query, nparams = to_dollar(sql)
            formats = [PyFormat.AUTO] * nparams
            buffers = tx.dump_sequence(params, formats)
            types = tuple(tx.types or ())
            pformats = tx.formats
            key = (query, types)
            name = prepared.get(key) or parsing.get(key)
            if name is None and (name := session.name_for(key)) is not None:
                pgconn.send_prepare(name, query, param_types=types)
                pending.append((key, name))
                parsing[key] = name
            if name is None:
                pgconn.send_query_params(query, buffers, param_types=types, param_formats=pformats)
            else:
                pgconn.send_query_prepared(name, buffers, param_formats=pformats)
            pending.append(None)
        pgconn.pipeline_sync()
        results = await _exchange(pgconn, conn.info.encoding)
        pgconn.exit_pipeline_mode()
        done = True
    finally:
        if not done:
            pgconn.finish()  # the pool discards a closed connection
    error: psycopg.Error | None = None
    last: pq.abc.PGresult | None = None
    for what, result in zip(pending, results, strict=True):
        status = result.status
        if status in _OK:
            if what is not None:
                prepared[what[0]] = what[1]
            last = result
        elif status == _EXEC.FATAL_ERROR and error is None:
            error = pg_errors.error_from_result(result, encoding=conn.info.encoding)
    if error is not None:
        if isinstance(error, pg_errors.InvalidSqlStatementName):
            forget_prepared(conn)  # the server lost them (DISCARD ALL): prepare anew
        raise error
    if last is None or last.status != _EXEC.TUPLES_OK or not last.ntuples:
        return []
    tx.set_pgresult(last)
    found: list[Row] = tx.load_rows(0, last.ntuples, tuple)
    tx.set_pgresult(None)
    return found


async def _exchange(pgconn: pq.abc.PGconn, encoding: str) -> list[pq.abc.PGresult]:
    """Send what libpq queued and read results up to the pipeline's sync: one result
    per statement or Parse (an aborted one included)."""
    loop = asyncio.get_running_loop()
    fd = pgconn.socket
    while pgconn.flush():
        # Also read meanwhile: a long plan's results could fill the server's send buffer
        # and make it stop reading ours.
        await _ready(loop, fd, write=True)
        pgconn.consume_input()
    results: list[pq.abc.PGresult] = []
    nulls = 0  # a NULL ends one statement's results; two in a row: nothing is pending
    while True:
        if pgconn.is_busy() or nulls > 1:
            if pgconn.status == pq.ConnStatus.BAD:
                raise psycopg.OperationalError(
                    f"connection lost: {pgconn.get_error_message(encoding)}"
                )
            await _ready(loop, fd, write=False)
            pgconn.consume_input()  # raises on a lost connection
            nulls = 0
            continue
        r = pgconn.get_result()
        if r is None:
            nulls += 1
            continue
        nulls = 0
        if r.status == _EXEC.PIPELINE_SYNC:
            return results
        results.append(r)


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, *, write: bool) -> None:
    """Until the socket is readable (or, with `write`, writable)."""
    fut: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not fut.done():
            fut.set_result(None)

    loop.add_reader(fd, wake)
    if write:
        loop.add_writer(fd, wake)
    try:
        await fut
    finally:
        loop.remove_reader(fd)
        if write:
            loop.remove_writer(fd)
