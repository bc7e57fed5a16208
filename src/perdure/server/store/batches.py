"""Batch operations as stored: one row per job, its progress in an opaque blob."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from perdure.server.store import plans
from perdure.server.store.base import (
    AlreadyExists,
    BatchRecord,
    ConditionFailed,
    Nanos,
    SqlValue,
)
from perdure.server.store.dialect import Dialect
from perdure.server.store.rows import Row

BATCHES_DDL = [
    """CREATE TABLE batch_operations (
    namespace_id {TEXT} NOT NULL,
    job_id {TEXT} NOT NULL,
    state {INT} NOT NULL,
    start_time {INT} NOT NULL,
    data {BLOB} NOT NULL,
    version {INT} NOT NULL,
    PRIMARY KEY (namespace_id, job_id)
)""",
    "CREATE INDEX batch_operations_by_start ON batch_operations (namespace_id, start_time, job_id)",
    "CREATE INDEX batch_operations_by_state ON batch_operations (state, namespace_id)",
]

_COLUMNS = "namespace_id, job_id, state, start_time, data, version"


class BatchStatements:
    def __init__(self, d: Dialect) -> None:
        q = d.sql
        self.insert = q(
            f"INSERT INTO batch_operations ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING"
        )
        self.update = q(
            "UPDATE batch_operations SET state = ?, data = ?, version = ?"
            " WHERE namespace_id = ? AND job_id = ? AND version = ?"
        )
        self.get = q(
            f"SELECT {_COLUMNS} FROM batch_operations WHERE namespace_id = ? AND job_id = ?"
        )
        self.first_page = q(
            f"SELECT {_COLUMNS} FROM batch_operations WHERE namespace_id = ?"
            " ORDER BY start_time DESC, job_id DESC LIMIT ?"
        )
        self.next_page = q(
            f"SELECT {_COLUMNS} FROM batch_operations WHERE namespace_id = ?"
            " AND (start_time < ? OR (start_time = ? AND job_id < ?))"
            " ORDER BY start_time DESC, job_id DESC LIMIT ?"
        )
        self.in_state = q(
            f"SELECT {_COLUMNS} FROM batch_operations WHERE state = ? ORDER BY start_time LIMIT ?"
        )
        self.in_state_ns = q(
            f"SELECT {_COLUMNS} FROM batch_operations WHERE state = ? AND namespace_id = ?"
            " ORDER BY start_time LIMIT ?"
        )


def _record(row: Row) -> BatchRecord:
    return BatchRecord(
        namespace_id=row[0],
        job_id=row[1],
        state=int(row[2]),
        start_time=int(row[3]),
        data=bytes(row[4]),
        version=int(row[5]),
    )


class BatchSqlMixin(abc.ABC):
    """`BatchStore` over a backend's `_fetch` and `_write` (mixed into SqlStore)."""

    @property
    @abc.abstractmethod
    def batch_sql(self) -> BatchStatements: ...

    @abc.abstractmethod
    async def _fetch(self, sql: str, params: Sequence[SqlValue]) -> list[Row]: ...

    @abc.abstractmethod
    async def _write(self, steps: Sequence[plans.Step]) -> None: ...

    async def create_batch(self, record: BatchRecord) -> None:
        r = record
        await self._write(
            [
                plans.Step(
                    self.batch_sql.insert,
                    [(r.namespace_id, r.job_id, r.state, r.start_time, r.data, 1)],
                    1,
                    AlreadyExists,
                    f"batch operation {r.job_id!r} already exists",
                )
            ]
        )

    async def update_batch(self, record: BatchRecord, expected_version: int) -> None:
        r = record
        await self._write(
            [
                plans.Step(
                    self.batch_sql.update,
                    [
                        (
                            r.state,
                            r.data,
                            expected_version + 1,
                            r.namespace_id,
                            r.job_id,
                            expected_version,
                        )
                    ],
                    1,
                    ConditionFailed,
                    f"batch operation {r.job_id!r} is no longer at version {expected_version}",
                )
            ]
        )

    async def get_batch(self, namespace_id: str, job_id: str) -> BatchRecord | None:
        found = await self._fetch(self.batch_sql.get, (namespace_id, job_id))
        return _record(found[0]) if found else None

    async def list_batches(
        self, namespace_id: str, before: tuple[Nanos, str] | None, limit: int
    ) -> list[BatchRecord]:
        if before is None:
            found = await self._fetch(self.batch_sql.first_page, (namespace_id, limit))
        else:
            t, job = before
            found = await self._fetch(self.batch_sql.next_page, (namespace_id, t, t, job, limit))
        return [_record(r) for r in found]

    async def batches_in_state(
        self, state: int, namespace_id: str | None, limit: int
    ) -> list[BatchRecord]:
        if namespace_id is None:
            found = await self._fetch(self.batch_sql.in_state, (state, limit))
        else:
            found = await self._fetch(self.batch_sql.in_state_ns, (state, namespace_id, limit))
        return [_record(r) for r in found]
