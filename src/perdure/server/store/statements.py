"""The SQL every backend runs, written once with `?` placeholders and rendered per dialect.

Statements are built once per dialect when a store opens, so the drivers see the same
SQL text every time and keep it prepared.
"""

from __future__ import annotations

from perdure.server.store.dialect import Dialect
from perdure.server.store.schema import (
    SORT_CLOSE_TIME,
    VISIBILITY_COLUMN_TYPES,
    VISIBILITY_SELECT_COLUMNS,
    VISIBILITY_TABLE,
)

TASK_COLUMNS = (
    "key",
    "namespace_id",
    "task_queue",
    "kind",
    "workflow_id",
    "run_id",
    "scheduled_event_id",
    "created_time",
    "expiry_time",
    "data",
    "lease_owner",
    "lease_until",
)
TIMER_COLUMNS = (
    "key",
    "namespace_id",
    "workflow_id",
    "run_id",
    "fire_time",
    "data",
    "lease_owner",
    "lease_until",
)
NAMESPACE_COLUMNS = "id, name, info, config, version"
CURRENT_COLUMNS = (
    "namespace_id, workflow_id, run_id, status, start_request_id, start_time, close_time"
)

DEFAULT_ORDER = f"{SORT_CLOSE_TIME} DESC, start_time DESC, run_id DESC"
"""close_time DESC NULLS FIRST, start_time DESC, run_id DESC, as one index range."""

_VIS = VISIBILITY_TABLE


def _upsert(table: str, columns: tuple[str, ...], key: str, values: str) -> str:
    sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key.split(", "))
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"
        f" ON CONFLICT ({key}) DO UPDATE SET {sets}"
    )


def _placeholders(columns: tuple[str, ...], d: Dialect) -> str:
    return ", ".join(
        d.json_param if VISIBILITY_COLUMN_TYPES.get(c) == "KeywordList" else "?" for c in columns
    )


class Statements:
    """All fixed statements, in one dialect's placeholder style."""

    def __init__(self, d: Dialect) -> None:
        self.dialect = d
        q = d.sql
        # namespaces
        self.ns_insert = q(
            f"INSERT INTO namespaces ({NAMESPACE_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING"
        )
        self.ns_update = q(
            "UPDATE namespaces SET name = ?, info = ?, config = ?, version = ?"
            " WHERE id = ? AND version = ?"
        )
        self.ns_by_name = q(f"SELECT {NAMESPACE_COLUMNS} FROM namespaces WHERE name = ?")
        self.ns_by_id = q(f"SELECT {NAMESPACE_COLUMNS} FROM namespaces WHERE id = ?")
        self.ns_list = q(f"SELECT {NAMESPACE_COLUMNS} FROM namespaces ORDER BY name")
        # current executions
        self.cur_get = q(
            f"SELECT {CURRENT_COLUMNS} FROM current_executions"
            " WHERE namespace_id = ? AND workflow_id = ?"
        )
        self.cur_insert = q(
            f"INSERT INTO current_executions ({CURRENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING"
        )
        self.cur_update = q(
            "UPDATE current_executions SET run_id = ?, status = ?, start_request_id = ?,"
            " start_time = ?, close_time = ?"
            " WHERE namespace_id = ? AND workflow_id = ? AND run_id = ?"
        )
        self.cur_delete = q(
            "DELETE FROM current_executions"
            " WHERE namespace_id = ? AND workflow_id = ? AND run_id = ?"
        )
        # executions
        self.exec_get = q(
            "SELECT state, version FROM executions"
            " WHERE namespace_id = ? AND workflow_id = ? AND run_id = ?"
        )
        self.exec_insert = q(
            "INSERT INTO executions (namespace_id, workflow_id, run_id, state, version)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
        )
        self.exec_update = q(
            "UPDATE executions SET state = ?, version = ?"
            " WHERE namespace_id = ? AND workflow_id = ? AND run_id = ? AND version = ?"
        )
        self.exec_delete = q(
            "DELETE FROM executions WHERE namespace_id = ? AND workflow_id = ? AND run_id = ?"
        )
        # history
        self.hist_truncate = q(
            "DELETE FROM history WHERE namespace_id = ? AND run_id = ? AND first_event_id >= ?"
        )
        # Appends only right after the stored last event: no overlap, no gap.
        self.hist_append = q(
            "INSERT INTO history (namespace_id, run_id, first_event_id, last_event_id, data)"
            " SELECT ?, ?, ?, ?, ? WHERE COALESCE((SELECT last_event_id FROM history"
            " WHERE namespace_id = ? AND run_id = ? ORDER BY first_event_id DESC LIMIT 1),"
            " 0) = ?"
        )
        _batch_start = (
            "COALESCE((SELECT MAX(first_event_id) FROM history"
            " WHERE namespace_id = ? AND run_id = ? AND first_event_id <= ?), 0)"
        )
        self.hist_forward = q(
            "SELECT first_event_id, last_event_id, data FROM history"
            f" WHERE namespace_id = ? AND run_id = ? AND first_event_id >= {_batch_start}"
            " AND last_event_id >= ? AND first_event_id < ? ORDER BY first_event_id"
        )
        # Counting starts at to_event_id or at the last stored event, whichever is lower.
        _lowest_counted = (
            "(SELECT CASE WHEN last_event_id < ? THEN last_event_id ELSE ? END - ? + 1"
            " FROM history WHERE namespace_id = ? AND run_id = ?"
            " ORDER BY first_event_id DESC LIMIT 1)"
        )
        self.hist_reverse = q(
            "SELECT first_event_id, last_event_id, data FROM history"
            " WHERE namespace_id = ? AND run_id = ? AND first_event_id <= ?"
            " AND first_event_id >= COALESCE((SELECT MAX(first_event_id) FROM history"
            f" WHERE namespace_id = ? AND run_id = ? AND first_event_id <= {_lowest_counted}),"
            " 0) ORDER BY first_event_id DESC"
        )
        self.hist_delete = q("DELETE FROM history WHERE namespace_id = ? AND run_id = ?")
        # tasks
        self.task_upsert = q(
            _upsert("tasks", TASK_COLUMNS, "key", ", ".join("?" * len(TASK_COLUMNS)))
        )
        self.task_delete = q("DELETE FROM tasks WHERE key = ?")
        self.task_delete_run = q("DELETE FROM tasks WHERE namespace_id = ? AND run_id = ?")
        self.task_get = q(
            f"SELECT seq, {', '.join(TASK_COLUMNS)} FROM tasks"
            " WHERE namespace_id = ? AND task_queue = ? AND kind = ? AND seq > ?"
            " ORDER BY seq LIMIT ?"
        )
        self.task_stats = q(
            "SELECT COUNT(*), MIN(created_time) FROM tasks"
            " WHERE namespace_id = ? AND task_queue = ? AND kind = ?"
        )
        # timers
        self.timer_upsert = q(
            _upsert("timers", TIMER_COLUMNS, "key", ", ".join("?" * len(TIMER_COLUMNS)))
        )
        self.timer_delete = q("DELETE FROM timers WHERE key = ?")
        self.timer_delete_run = q("DELETE FROM timers WHERE namespace_id = ? AND run_id = ?")
        self.timer_due = q(
            f"SELECT {', '.join(TIMER_COLUMNS)} FROM timers WHERE fire_time <= ?"
            " ORDER BY fire_time, key LIMIT ?"
        )
        # visibility
        self.vis_upsert = q(
            _upsert(
                _VIS,
                VISIBILITY_SELECT_COLUMNS,
                "namespace_id, run_id",
                _placeholders(VISIBILITY_SELECT_COLUMNS, d),
            )
        )
        self.vis_select = f"SELECT {', '.join(VISIBILITY_SELECT_COLUMNS)} FROM {_VIS}"
        self.vis_get = q(f"{self.vis_select} WHERE namespace_id = ? AND run_id = ?")
        self.vis_delete = q(f"DELETE FROM {_VIS} WHERE namespace_id = ? AND run_id = ?")

    def vis_list(self, where: str, keyset: bool, order_by: str) -> str:
        """A page of visibility rows: keyset-paged in the default order, else offset."""
        sql = f"{self.vis_select} WHERE namespace_id = ?"
        if where:
            sql += f" AND ({where})"
        if order_by:
            sql += f" ORDER BY {order_by}, run_id LIMIT ? OFFSET ?"
        else:
            if keyset:
                sql += f" AND ({SORT_CLOSE_TIME}, start_time, run_id) < (?, ?, ?)"
            sql += f" ORDER BY {DEFAULT_ORDER} LIMIT ?"
        return self.dialect.sql(sql)

    def vis_count(self, where: str, group_by: tuple[str, ...]) -> str:
        cols = ", ".join(group_by)
        sql = f"SELECT {cols + ', ' if cols else ''}COUNT(*) FROM {_VIS} WHERE namespace_id = ?"
        if where:
            sql += f" AND ({where})"
        if cols:
            sql += f" GROUP BY {cols}"
        return self.dialect.sql(sql)
