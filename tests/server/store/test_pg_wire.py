"""pg_wire: statements over libpq's pipeline, prepared per connection by SQL and types."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg import errors as pg_errors

from perdure.server.store import pg_wire

pytestmark = pytest.mark.postgres


@pytest.fixture
async def conn(pg_url: str) -> AsyncIterator[psycopg.AsyncConnection[object]]:
    c = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
    try:
        yield c
    finally:
        await c.close()


async def _names(conn: psycopg.AsyncConnection[object]) -> dict[str, str]:
    cur = await conn.execute(
        "SELECT name, statement FROM pg_prepared_statements WHERE name LIKE 'pd%%'"
    )
    return {str(r[0]): str(r[1]) for r in await cur.fetchall()}


def test_placeholders() -> None:
    assert pg_wire.to_dollar("SELECT %s, '%%', %s") == (b"SELECT $1, '%', $2", 2)
    with pytest.raises(ValueError):
        pg_wire.to_dollar("SELECT %(x)s")


async def test_rows_of_the_last_statement_and_prepared_on_second_use(
    conn: psycopg.AsyncConnection[object],
) -> None:
    sql = "SELECT %s::bigint + 1, %s::text, %s::bytea"
    for _ in range(3):
        found = await pg_wire.run(conn, [("SELECT 1", ()), (sql, (41, "a", b"\x00\x01"))])
        assert found == [(42, "a", b"\x00\x01")]
    assert (
        list((await _names(conn)).values()).count("SELECT $1::bigint + 1, $2::text, $3::bytea") == 1
    )
    assert await pg_wire.run(conn, [("SELECT 1 WHERE false", ())]) == []


async def test_a_value_of_another_binary_type_gets_its_own_statement(
    conn: psycopg.AsyncConnection[object],
) -> None:
    """An int dumps as int2, int4 or int8 by its size: one prepared statement each."""
    sql = "SELECT %s::bigint"
    for v in [1, 2**40, 1, 2**40, 70000, 70000, -1]:
        assert await pg_wire.run(conn, [(sql, (v,))]) == [(v,)]


async def test_failure_rolls_back_the_whole_pipeline(
    conn: psycopg.AsyncConnection[object],
) -> None:
    await conn.execute("CREATE TEMP TABLE t (x INT)")
    with pytest.raises(pg_errors.DivisionByZero):
        await pg_wire.run(
            conn,
            [("INSERT INTO t VALUES (%s)", (1,)), ("SELECT 1 / %s", (0,)), ("SELECT 2", ())],
        )
    assert await pg_wire.run(conn, [("SELECT count(*) FROM t", ())]) == [(0,)]
    assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE


async def test_a_parse_aborted_by_an_earlier_failure_is_not_taken_as_prepared(
    conn: psycopg.AsyncConnection[object],
) -> None:
    """The statement's second use sends its Parse; a failure before it skips the Parse,
    and the statement must not count as prepared afterwards."""
    later = "SELECT %s::text || 'later'"
    assert await pg_wire.run(conn, [(later, ("a",))]) == [("alater",)]
    with pytest.raises(pg_errors.DivisionByZero):
        await pg_wire.run(conn, [("SELECT 1 / %s", (0,)), (later, ("b",))])
    assert "SELECT $1::text || 'later'" not in (await _names(conn)).values()
    for _ in range(3):
        assert await pg_wire.run(conn, [(later, ("c",))]) == [("clater",)]


async def test_one_statement_parsed_and_run_many_times_in_one_pipeline(
    conn: psycopg.AsyncConnection[object],
) -> None:
    sql = "SELECT %s::int * 2"
    found = await pg_wire.run(conn, [(sql, (i,)) for i in range(5)])
    assert found == [(8,)]
    assert list((await _names(conn)).values()).count("SELECT $1::int * 2") == 1


async def test_prepared_statements_lost_on_the_server_are_prepared_again(
    conn: psycopg.AsyncConnection[object],
) -> None:
    sql = "SELECT %s::int"
    for _ in range(3):
        await pg_wire.run(conn, [(sql, (1,))])
    await conn.execute("DEALLOCATE ALL")
    with pytest.raises(pg_errors.InvalidSqlStatementName):
        await pg_wire.run(conn, [(sql, (1,))])
    for _ in range(3):
        assert await pg_wire.run(conn, [(sql, (2,))]) == [(2,)]


async def test_an_interrupted_exchange_closes_the_connection(
    conn: psycopg.AsyncConnection[object],
) -> None:
    """A half-read pipeline is never reused: the pool discards a closed connection."""
    task = asyncio.ensure_future(pg_wire.run(conn, [("SELECT pg_sleep(5)", ())]))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert conn.closed


async def test_a_pipeline_longer_than_the_socket_buffers(
    conn: psycopg.AsyncConnection[object],
) -> None:
    """Results are read while the statements are still being sent (a bulk load's plan):
    neither side waits on a full buffer for the other."""
    queries: list[tuple[str, pg_wire.Params]] = [
        ("SELECT repeat(%s, 2000)", ("x",)) for _ in range(4000)
    ]
    queries.append(("SELECT %s::text", ("y" * 3_000_000,)))
    found = await asyncio.wait_for(pg_wire.run(conn, queries), 60)
    assert found == [("y" * 3_000_000,)]
