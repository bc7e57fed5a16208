"""PostgreSQL backend: psycopg 3 async with a connection pool.

Each write plan is one implicit transaction sent in pipeline mode, in one round trip
(pg_wire.py drives libpq's pipeline directly: one write per plan, no cursor per
statement): conditional statements check their own row counts on the server
(perdure_expect) and abort the transaction when a condition fails. PostgreSQL's own
group commit batches the fsyncs of concurrent transactions. Row locks taken by the
conditional UPDATE/DELETE statements make concurrent writers of one execution or one task
wait for each other, and the loser's condition then fails cleanly.

Several server processes may share the database (store/shared.py): backlog rows and
timers are claimed with FOR UPDATE SKIP LOCKED under leases, each commit is followed by
a NOTIFY of what it changed, and a dedicated connection LISTENs (pg_listen.py).
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors
from psycopg.types.string import TextLoader

from perdure.server.store import pg_wire, plans, rows
from perdure.server.store.base import (
    AlreadyExists,
    Commit,
    ConditionFailed,
    ExecutionKey,
    ExecutionSnapshot,
    NamespaceRecord,
    Nanos,
    ScheduleRecord,
    SqlValue,
    StoreError,
    TaskAlreadyClaimed,
    TaskKind,
    TaskRow,
    TimerRow,
    Unavailable,
)
from perdure.server.store.dialect import POSTGRES
from perdure.server.store.pg_listen import Listener, Notifier
from perdure.server.store.plans import Step
from perdure.server.store.rows import Row
from perdure.server.store.schedules import SCHEDULE_COLUMNS, schedule_record
from perdure.server.store.schema import SCHEMA_VERSION, SCHEMA_VERSION_DDL, pending_migrations
from perdure.server.store.shared import (
    SCHEDULE_LEASE,
    TASK_LEASE,
    TIMER_GRACE,
    AnswerNotice,
    ExecutionNotice,
    NamespaceNotice,
    Notice,
    PollerRow,
    QueryNotice,
    QueryTaskRow,
    TaskNotice,
    WorkerLeftNotice,
    encode_notice,
)
from perdure.server.store.sqlstore import SqlStore
from perdure.server.store.statements import TASK_COLUMNS, TIMER_COLUMNS

_MIGRATION_LOCK = 0x70657264  # "perd": serializes migrations across processes


_TASKS = ", ".join(TASK_COLUMNS)
_TIMERS = ", ".join(TIMER_COLUMNS)
_CLAIM_TASKS = (
    f"UPDATE tasks SET lease_owner = %s, lease_until = %s WHERE seq IN (SELECT seq FROM tasks"
    " WHERE namespace_id = %s AND task_queue = %s AND kind = %s"
    " AND (lease_until IS NULL OR lease_until < %s)"
    f" ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING seq, {_TASKS}"
)
_RELEASE_TASKS = (
    "UPDATE tasks SET lease_owner = NULL, lease_until = NULL"
    " WHERE key = ANY(%s) AND lease_owner = %s RETURNING namespace_id, task_queue, kind"
)
_CLAIM_TIMERS = (
    "UPDATE timers SET lease_owner = %s, lease_until = GREATEST(fire_time, %s) + %s"
    " WHERE key IN (SELECT key FROM timers WHERE fire_time <= %s"
    " AND (lease_owner = %s OR lease_until IS NULL OR lease_until < %s)"
    f" ORDER BY fire_time, key LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING {_TIMERS}"
)
_CLAIM_SCHEDULES = (
    "UPDATE schedules SET lease_owner = %s, lease_until = %s"
    " WHERE (namespace_id, schedule_id) IN (SELECT namespace_id, schedule_id FROM schedules"
    " WHERE wake_time IS NOT NULL AND wake_time <= %s"
    " AND (lease_owner = %s OR lease_until IS NULL OR lease_until < %s)"
    f" ORDER BY wake_time LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING {SCHEDULE_COLUMNS}"
)
_NEXT_SCHEDULE_WAKE = (
    "SELECT MIN(CASE WHEN lease_owner = %s OR lease_until IS NULL THEN wake_time"
    " ELSE GREATEST(wake_time, lease_until) END) FROM schedules WHERE wake_time IS NOT NULL"
)
_REFRESH = (
    "SELECT CASE WHEN version = %s THEN NULL ELSE state END, version FROM executions"
    " WHERE namespace_id = %s AND workflow_id = %s AND run_id = %s"
)
_QUERY_COLUMNS = "id, namespace_id, task_queue, workflow_id, run_id, query, origin, created_time"
_PUT_QUERY = f"INSERT INTO query_tasks ({_QUERY_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
_CLAIM_QUERY = (
    "UPDATE query_tasks SET lease_owner = %s WHERE id = (SELECT id FROM query_tasks"
    " WHERE namespace_id = %s AND task_queue = %s AND lease_owner IS NULL"
    f" ORDER BY created_time LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING {_QUERY_COLUMNS}"
)


_ANSWER = "UPDATE query_tasks SET answer = %s WHERE id = %s RETURNING origin"


_POLLER_COLUMNS = "namespace_id, task_queue, kind, identity, build_id, last_access"
_UPSERT_POLLER = (
    f"INSERT INTO pollers ({_POLLER_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (namespace_id, task_queue, kind, identity) DO UPDATE"
    " SET build_id = excluded.build_id, last_access = excluded.last_access"
    " WHERE pollers.last_access < excluded.last_access"
)
_GET_POLLERS = (
    f"SELECT {_POLLER_COLUMNS} FROM pollers WHERE namespace_id = %s AND task_queue = %s"
    " AND kind = %s AND last_access >= %s ORDER BY identity"
)


def _now() -> Nanos:
    return time.time_ns()


class PostgresStore(SqlStore):
    """Open with `await PostgresStore.open("postgresql://user@host/db")`; `close()` when done.

    A `SharedStore` (store/shared.py): `owner` names this process in leases and notices.
    """

    def __init__(self, pool: psycopg_pool.AsyncConnectionPool[Any], url: str) -> None:
        super().__init__(POSTGRES)
        self._pool = pool
        self._url = url
        self.owner = uuid.uuid4().hex
        self._timer_lease = plans.TimerLease(self.owner, TIMER_GRACE)
        self._listener: Listener | None = None
        self._notifier = Notifier(pool)
        self.transactions = 0
        """Write transactions committed so far (one per write: no batching here)."""

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        min_size: int = 2,
        max_size: int = 16,
        timeout: float = 10.0,
        migrate: bool = True,
    ) -> PostgresStore:
        """Connect, and create or migrate the schema (or, with `migrate=False`, insist
        that it is current)."""
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
                await migrate_schema(conn, apply=migrate)
        except psycopg_pool.PoolTimeout as e:
            await pool.close()
            raise Unavailable(f"cannot connect to PostgreSQL: {e}") from e
        except BaseException:
            await pool.close()
            raise
        return cls(pool, url)

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
        await self._notifier.close()
        await self._pool.close()

    # ------------------------------------------------------------------ commits

    async def create_namespace(self, record: NamespaceRecord) -> None:
        await self._write(plans.plan_create_namespace(self.sql, record))
        self._notifier.send([encode_notice(NamespaceNotice(record.id))])

    def announce_worker_left(self, namespace_id: str, worker_instance_key: str) -> None:
        self._notifier.send([encode_notice(WorkerLeftNotice(namespace_id, worker_instance_key))])

    async def update_namespace(self, record: NamespaceRecord, expected_version: int) -> None:
        await self._write(plans.plan_update_namespace(self.sql, record, expected_version))
        self._notifier.send([encode_notice(NamespaceNotice(record.id))])

    async def commit(self, commit: Commit) -> None:
        steps = plans.plan_commit(self.sql, commit, self._timer_lease)
        notices: list[Notice] = [
            ExecutionNotice(self.owner, w.key.namespace_id, w.key.run_id, w.new_version)
            for w in commit.executions
        ]
        notices.extend(
            TaskNotice(t.namespace_id, t.task_queue, t.kind)
            for t in commit.tasks_added
            if not t.lease_owner
        )
        await self._write(steps)
        self._notifier.send(encode_notice(n) for n in notices)

    async def refresh_execution(
        self, key: ExecutionKey, known_version: int
    ) -> ExecutionSnapshot | None:
        found = await self._fetch(
            _REFRESH, (known_version, key.namespace_id, key.workflow_id, key.run_id)
        )
        if not found:
            return None
        state, version = found[0]
        return ExecutionSnapshot(key, b"" if state is None else bytes(state), version)

    # ------------------------------------------------------------------ leases

    async def claim_tasks(
        self, namespace_id: str, task_queue: str, kind: TaskKind, limit: int
    ) -> list[TaskRow]:
        now = _now()
        found = await self._fetch(
            _CLAIM_TASKS,
            (self.owner, now + TASK_LEASE, namespace_id, task_queue, int(kind), now, limit),
        )
        return sorted((rows.task(r) for r in found), key=lambda t: t.seq)

    async def release_tasks(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        found = await self._fetch(_RELEASE_TASKS, (list(keys), self.owner))
        self._notifier.send(
            encode_notice(TaskNotice(ns, queue, TaskKind(kind))) for ns, queue, kind in found
        )

    async def claim_timers(self, until: Nanos, limit: int) -> list[TimerRow]:
        now = _now()
        found = await self._fetch(
            _CLAIM_TIMERS, (self.owner, now, TIMER_GRACE, until, self.owner, now, limit)
        )
        return sorted((rows.timer(r) for r in found), key=lambda t: (t.fire_time, t.key))

    async def claim_schedules(self, until: Nanos, limit: int) -> list[ScheduleRecord]:
        now = _now()
        found = await self._fetch(
            _CLAIM_SCHEDULES, (self.owner, now + SCHEDULE_LEASE, until, self.owner, now, limit)
        )
        return sorted(
            (schedule_record(r) for r in found), key=lambda s: (s.wake_time or 0, s.schedule_id)
        )

    async def next_claimable_schedule_wake(self) -> Nanos | None:
        found = await self._fetch(_NEXT_SCHEDULE_WAKE, (self.owner,))
        return None if not found or found[0][0] is None else int(found[0][0])

    async def release_leases(self) -> None:
        await self._write(
            [
                Step(
                    "UPDATE schedules SET lease_owner = NULL, lease_until = NULL"
                    " WHERE lease_owner = %s",
                    [(self.owner,)],
                ),
                Step(
                    "UPDATE tasks SET lease_owner = NULL, lease_until = NULL"
                    " WHERE lease_owner = %s",
                    [(self.owner,)],
                ),
                Step(
                    "UPDATE timers SET lease_owner = NULL, lease_until = NULL"
                    " WHERE lease_owner = %s",
                    [(self.owner,)],
                ),
                Step(
                    "UPDATE query_tasks SET lease_owner = NULL"
                    " WHERE lease_owner = %s AND answer IS NULL",
                    [(self.owner,)],
                ),
            ]
        )

    # ------------------------------------------------------------------ query tasks

    async def put_query(self, row: QueryTaskRow) -> None:
        r = row
        params = (r.id, r.namespace_id, r.task_queue, r.workflow_id, r.run_id, r.query)
        await self._write([Step(_PUT_QUERY, [(*params, r.origin, r.created_time)])])
        self._notifier.send([encode_notice(QueryNotice(r.namespace_id, r.task_queue))])

    async def claim_query(self, namespace_id: str, task_queue: str) -> QueryTaskRow | None:
        found = await self._fetch(_CLAIM_QUERY, (self.owner, namespace_id, task_queue))
        if not found:
            return None
        r = found[0]
        return QueryTaskRow(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), r[6], r[7])

    async def answer_query(self, query_id: str, origin: str, answer: bytes) -> None:
        await self.answer_query_by_id(query_id, answer)

    async def answer_query_by_id(self, query_id: str, answer: bytes) -> bool:
        found = await self._fetch(_ANSWER, (answer, query_id))
        self._notifier.send(encode_notice(AnswerNotice(origin, query_id)) for (origin,) in found)
        return bool(found)

    async def take_answer(self, query_id: str) -> bytes | None:
        found = await self._fetch(
            "DELETE FROM query_tasks WHERE id = %s AND answer IS NOT NULL RETURNING answer",
            (query_id,),
        )
        return bytes(found[0][0]) if found else None

    async def drop_query(self, query_id: str) -> bool:
        found = await self._fetch(
            "DELETE FROM query_tasks WHERE id = %s AND lease_owner IS NULL RETURNING 1",
            (query_id,),
        )
        return bool(found)

    async def expire_queries(self, created_before: Nanos) -> None:
        await self._write(
            [Step("DELETE FROM query_tasks WHERE created_time < %s", [(created_before,)])]
        )

    # ------------------------------------------------------------------ pollers

    async def record_pollers(self, pollers: Sequence[PollerRow]) -> None:
        rows = [
            (p.namespace_id, p.task_queue, int(p.kind), p.identity, p.build_id, p.last_access)
            for p in pollers
        ]
        if rows:
            await self._write([Step(_UPSERT_POLLER, rows)])

    async def get_pollers(
        self, namespace_id: str, task_queue: str, kind: TaskKind, since: Nanos
    ) -> list[PollerRow]:
        found = await self._fetch(_GET_POLLERS, (namespace_id, task_queue, int(kind), since))
        return [PollerRow(r[0], r[1], TaskKind(r[2]), r[3], r[4], r[5]) for r in found]

    # ------------------------------------------------------------------ notices

    def listen(self, on_notice: Callable[[Notice], None], on_resync: Callable[[], None]) -> None:
        if self._listener is not None:
            raise StoreError("this store already has a listener")
        self._listener = Listener(self._url, on_notice, on_resync)

    async def _fetch(self, sql: str, params: Sequence[SqlValue | list[str]]) -> list[Row]:
        try:
            async with self._pool.connection() as conn:
                return await pg_wire.run(conn, [(sql, params)])
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
    """All steps in one pipeline, one round trip (pg_wire.py): the statements before the
    pipeline's sync form one implicit transaction, which any failed check rolls back
    whole.

    Every conditional step expects exactly one affected row per parameter row (its
    `expect` is the number of rows), so the check runs per row on the server.
    """
    queries: list[tuple[str, pg_wire.Params]] = []
    for step in steps:
        if step.expect is None:
            queries.extend((step.sql, r) for r in step.rows)
        else:
            sql, extra = _checked(step.sql), (_ERROR_CODES[step.error], step.message)
            queries.extend((sql, (*r, *extra)) for r in step.rows)
    await pg_wire.run(conn, queries)


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


async def migrate_schema(conn: psycopg.AsyncConnection[Any], *, apply: bool = True) -> int:
    """Bring the database up to SCHEMA_VERSION; each migration in its own transaction,
    under an advisory lock so that processes starting together migrate once.

    With `apply=False`, only check: a database behind this version is refused (an empty
    one is still given the schema)."""
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
            if not apply and version > 0:
                raise StoreError(
                    f"database schema is at version {version}, this Perdure needs"
                    f" {SCHEMA_VERSION}: run `perdure server migrate` (or start with --migrate)"
                )
            m = todo[0]
            for statement in m.statements(POSTGRES):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_version (version, description, applied_time)"
                " VALUES (%s, %s, %s)",
                (m.version, m.description, time.time_ns()),
            )
