"""The Store contract implemented once over two primitives that each backend provides.

`_fetch(sql, params)` runs one read and returns its rows; `_write(steps)` applies a plan
atomically (see plans.py). Everything else, SQL included, is shared by SQLite and
PostgreSQL.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Sequence

from perdure.server.store import plans, rows
from perdure.server.store.base import (
    Commit,
    CurrentExecution,
    ExecutionKey,
    ExecutionSnapshot,
    HistoryBatch,
    NamespaceRecord,
    Nanos,
    Page,
    SqlValue,
    StoreError,
    TaskKind,
    TaskQueueStats,
    TaskRow,
    TimerRow,
    VisibilityQuery,
    VisibilityRow,
)
from perdure.server.store.batches import BatchSqlMixin, BatchStatements
from perdure.server.store.dialect import Dialect
from perdure.server.store.rows import Row
from perdure.server.store.schedules import ScheduleSqlMixin, ScheduleStatements
from perdure.server.store.schema import VISIBILITY_COLUMN_TYPES
from perdure.server.store.statements import Statements

_GROUPABLE = frozenset(VISIBILITY_COLUMN_TYPES)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SqlStore(ScheduleSqlMixin, BatchSqlMixin, abc.ABC):
    """A `Store` over SQL; subclasses connect, run reads and apply write plans."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.sql = Statements(dialect)
        self._schedule_sql = ScheduleStatements(dialect)
        self._batch_sql = BatchStatements(dialect)

    @property
    def schedule_sql(self) -> ScheduleStatements:
        return self._schedule_sql

    @property
    def batch_sql(self) -> BatchStatements:
        return self._batch_sql

    @abc.abstractmethod
    async def _fetch(self, sql: str, params: Sequence[SqlValue]) -> list[Row]:
        """Run one query (already in the dialect's placeholder style); all its rows."""

    @abc.abstractmethod
    async def _write(self, steps: Sequence[plans.Step]) -> None:
        """Apply the steps atomically, durably; a failed check rolls all of them back."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    # ------------------------------------------------------------------ namespaces

    async def create_namespace(self, record: NamespaceRecord) -> None:
        await self._write(plans.plan_create_namespace(self.sql, record))

    async def update_namespace(self, record: NamespaceRecord, expected_version: int) -> None:
        await self._write(plans.plan_update_namespace(self.sql, record, expected_version))

    async def get_namespace(self, name: str) -> NamespaceRecord | None:
        found = await self._fetch(self.sql.ns_by_name, (name,))
        return rows.namespace(found[0]) if found else None

    async def get_namespace_by_id(self, namespace_id: str) -> NamespaceRecord | None:
        found = await self._fetch(self.sql.ns_by_id, (namespace_id,))
        return rows.namespace(found[0]) if found else None

    async def list_namespaces(self) -> list[NamespaceRecord]:
        return [rows.namespace(r) for r in await self._fetch(self.sql.ns_list, ())]

    # ------------------------------------------------------------------ executions

    async def get_current_execution(
        self, namespace_id: str, workflow_id: str
    ) -> CurrentExecution | None:
        found = await self._fetch(self.sql.cur_get, (namespace_id, workflow_id))
        return rows.current(found[0]) if found else None

    async def load_execution(self, key: ExecutionKey) -> ExecutionSnapshot | None:
        found = await self._fetch(
            self.sql.exec_get, (key.namespace_id, key.workflow_id, key.run_id)
        )
        if not found:
            return None
        return ExecutionSnapshot(key=key, state=bytes(found[0][0]), version=found[0][1])

    async def commit(self, commit: Commit) -> None:
        await self._write(plans.plan_commit(self.sql, commit))

    async def commit_many(self, commits: Sequence[Commit]) -> None:
        """Apply commits of distinct workflow ids atomically, as one transaction.

        For bulk loads (bench/preload.py fills a database with a million runs): one
        statement per table over all rows, instead of a transaction per commit.
        """
        if commits:
            await self._write(plans.plan_commits(self.sql, commits))

    async def read_history(
        self, key: ExecutionKey, from_event_id: int, max_events: int
    ) -> list[HistoryBatch]:
        _check_max_events(max_events)
        ns, run = key.namespace_id, key.run_id
        found = await self._fetch(
            self.sql.hist_forward,
            (ns, run, ns, run, from_event_id, from_event_id, from_event_id + max_events),
        )
        return [rows.history(r) for r in found]

    async def read_history_reverse(
        self, key: ExecutionKey, to_event_id: int, max_events: int
    ) -> list[HistoryBatch]:
        _check_max_events(max_events)
        ns, run = key.namespace_id, key.run_id
        to, n = to_event_id, max_events
        found = await self._fetch(self.sql.hist_reverse, (ns, run, to, ns, run, to, to, n, ns, run))
        return [rows.history(r) for r in found]

    async def delete_execution(self, key: ExecutionKey) -> None:
        await self._write(plans.plan_delete_execution(self.sql, key))

    # ------------------------------------------------------------------ tasks

    async def get_tasks(
        self, namespace_id: str, task_queue: str, kind: TaskKind, after_seq: int, limit: int
    ) -> list[TaskRow]:
        found = await self._fetch(
            self.sql.task_get, (namespace_id, task_queue, int(kind), after_seq, limit)
        )
        return [rows.task(r) for r in found]

    async def delete_tasks(self, keys: Sequence[str]) -> None:
        if keys:
            await self._write(plans.plan_delete_keys(self.sql.task_delete, keys))

    async def task_queue_stats(
        self, namespace_id: str, task_queue: str, kind: TaskKind
    ) -> TaskQueueStats:
        found = await self._fetch(self.sql.task_stats, (namespace_id, task_queue, int(kind)))
        return TaskQueueStats(backlog_count=found[0][0], oldest_created_time=found[0][1])

    # ------------------------------------------------------------------ timers

    async def get_timers(self, until: Nanos, limit: int) -> list[TimerRow]:
        return [rows.timer(r) for r in await self._fetch(self.sql.timer_due, (until, limit))]

    async def delete_timers(self, keys: Sequence[str]) -> None:
        if keys:
            await self._write(plans.plan_delete_keys(self.sql.timer_delete, keys))

    # ------------------------------------------------------------------ visibility

    async def get_visibility(self, namespace_id: str, run_id: str) -> VisibilityRow | None:
        found = await self._fetch(self.sql.vis_get, (namespace_id, run_id))
        return rows.visibility(found[0]) if found else None

    async def list_visibility(
        self, namespace_id: str, query: VisibilityQuery, page_size: int, page_token: bytes
    ) -> Page[VisibilityRow]:
        if page_size <= 0:
            raise StoreError(f"page_size must be positive, not {page_size}")
        params: list[SqlValue] = [namespace_id, *query.params]
        if query.order_by:
            offset = rows.parse_offset_token(page_token) if page_token else 0
            sql = self.sql.vis_list(query.where, False, query.order_by)
            params += [page_size + 1, offset]
        else:
            if page_token:
                params += rows.parse_keyset_token(page_token)
            sql = self.sql.vis_list(query.where, bool(page_token), "")
            params.append(page_size + 1)
        found = [rows.visibility(r) for r in await self._fetch(sql, params)]
        if len(found) <= page_size:
            return Page(found)
        items = found[:page_size]
        if query.order_by:
            return Page(items, rows.offset_token(offset + page_size))
        return Page(items, rows.keyset_token(items[-1]))

    async def count_visibility(
        self, namespace_id: str, query: VisibilityQuery
    ) -> list[tuple[tuple[SqlValue, ...], int]]:
        group_by = tuple(query.group_by)
        for c in group_by:
            if c not in _GROUPABLE or not _IDENTIFIER.fullmatch(c):
                raise StoreError(f"cannot group visibility rows by {c!r}")
        sql = self.sql.vis_count(query.where, group_by)
        found = await self._fetch(sql, [namespace_id, *query.params])
        n = len(group_by)
        return [(rows.group_key(r[:n], group_by), int(r[n])) for r in found]


def _check_max_events(max_events: int) -> None:
    if max_events <= 0:
        raise StoreError(f"max_events must be positive, not {max_events}")
