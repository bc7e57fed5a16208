"""Schedules as stored: one row per schedule, and the SQL both backends run for them.

A schedule's whole state (its definition, counters, buffered starts, running workflows)
is one opaque blob owned by server/schedules/; the store adds only what it must query:
the version that every update is conditional on, and `wake_time`, when the scheduler
must next look at the schedule (its next fire, or a re-check of its running workflows).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from perdure.server.store import plans
from perdure.server.store.base import (
    AlreadyExists,
    ConditionFailed,
    Nanos,
    ScheduleRecord,
    SqlValue,
)
from perdure.server.store.dialect import Dialect
from perdure.server.store.rows import Row

SCHEDULES_DDL = [
    """CREATE TABLE schedules (
    namespace_id {TEXT} NOT NULL,
    schedule_id {TEXT} NOT NULL,
    state {BLOB} NOT NULL,
    version {INT} NOT NULL,
    wake_time {INT},
    lease_owner {TEXT},
    lease_until {INT},
    PRIMARY KEY (namespace_id, schedule_id)
)""",
    "CREATE INDEX schedules_by_wake_time ON schedules (wake_time) WHERE wake_time IS NOT NULL",
]


_COLUMNS = "namespace_id, schedule_id, state, version, wake_time"
SCHEDULE_COLUMNS = _COLUMNS


class ScheduleStatements:
    def __init__(self, d: Dialect) -> None:
        q = d.sql
        self.insert = q(
            f"INSERT INTO schedules ({_COLUMNS}) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
        )
        self.update = q(
            "UPDATE schedules SET state = ?, version = ?, wake_time = ?"
            " WHERE namespace_id = ? AND schedule_id = ? AND version = ?"
        )
        self.delete = q("DELETE FROM schedules WHERE namespace_id = ? AND schedule_id = ?")
        self.get = q(f"SELECT {_COLUMNS} FROM schedules WHERE namespace_id = ? AND schedule_id = ?")
        self.list = q(
            f"SELECT {_COLUMNS} FROM schedules WHERE namespace_id = ? AND schedule_id > ?"
            " ORDER BY schedule_id LIMIT ?"
        )
        self.due = q(
            f"SELECT {_COLUMNS} FROM schedules WHERE wake_time IS NOT NULL AND wake_time <= ?"
            " ORDER BY wake_time LIMIT ?"
        )
        self.next_wake = q("SELECT MIN(wake_time) FROM schedules WHERE wake_time IS NOT NULL")


def schedule_record(row: Row) -> ScheduleRecord:
    return ScheduleRecord(
        namespace_id=row[0],
        schedule_id=row[1],
        state=bytes(row[2]),
        version=int(row[3]),
        wake_time=None if row[4] is None else int(row[4]),
    )


class ScheduleSqlMixin(abc.ABC):
    """`ScheduleStore` over a backend's `_fetch` and `_write` (mixed into SqlStore)."""

    @property
    @abc.abstractmethod
    def schedule_sql(self) -> ScheduleStatements: ...

    @abc.abstractmethod
    async def _fetch(self, sql: str, params: Sequence[SqlValue]) -> list[Row]: ...

    @abc.abstractmethod
    async def _write(self, steps: Sequence[plans.Step]) -> None: ...

    async def create_schedule(self, record: ScheduleRecord) -> None:
        r = record
        await self._write(
            [
                plans.Step(
                    self.schedule_sql.insert,
                    [(r.namespace_id, r.schedule_id, r.state, 1, r.wake_time)],
                    1,
                    AlreadyExists,
                    f"schedule {r.schedule_id!r} already exists",
                )
            ]
        )

    async def update_schedule(self, record: ScheduleRecord, expected_version: int) -> None:
        r = record
        await self._write(
            [
                plans.Step(
                    self.schedule_sql.update,
                    [
                        (
                            r.state,
                            expected_version + 1,
                            r.wake_time,
                            r.namespace_id,
                            r.schedule_id,
                            expected_version,
                        )
                    ],
                    1,
                    ConditionFailed,
                    f"schedule {r.schedule_id!r} is gone or no longer at version"
                    f" {expected_version}",
                )
            ]
        )

    async def delete_schedule(self, namespace_id: str, schedule_id: str) -> bool:
        try:
            await self._write(
                [plans.Step(self.schedule_sql.delete, [(namespace_id, schedule_id)], 1)]
            )
        except ConditionFailed:
            return False
        return True

    async def get_schedule(self, namespace_id: str, schedule_id: str) -> ScheduleRecord | None:
        found = await self._fetch(self.schedule_sql.get, (namespace_id, schedule_id))
        return schedule_record(found[0]) if found else None

    async def list_schedules(
        self, namespace_id: str, after_id: str, limit: int
    ) -> list[ScheduleRecord]:
        found = await self._fetch(self.schedule_sql.list, (namespace_id, after_id, limit))
        return [schedule_record(r) for r in found]

    async def due_schedules(self, until: Nanos, limit: int) -> list[ScheduleRecord]:
        return [
            schedule_record(r) for r in await self._fetch(self.schedule_sql.due, (until, limit))
        ]

    async def next_schedule_wake(self) -> Nanos | None:
        found = await self._fetch(self.schedule_sql.next_wake, ())
        return None if not found or found[0][0] is None else int(found[0][0])
