"""A minimal executions_visibility table in SQLite or PostgreSQL, and a runner for queries.

Column names and types come from store/base.py and follow the store's conventions: times
and durations INTEGER nanoseconds, Bool 0/1 (SQLite) or BOOLEAN, KeywordList a JSON array
as TEXT (SQLite) or JSONB, names unquoted (PostgreSQL folds them to lower case).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from perdure.server.store.base import (
    VISIBILITY_PREDEFINED_COLUMNS,
    SqlValue,
    VisibilityQuery,
    custom_columns,
)
from perdure.server.visibility import catalog

_SYSTEM = {
    "workflow_id": "TEXT NOT NULL",
    "run_id": "TEXT NOT NULL",
    "workflow_type": "TEXT NOT NULL",
    "task_queue": "TEXT NOT NULL",
    "status": "{INT} NOT NULL",
    "start_time": "{INT} NOT NULL",
    "execution_time": "{INT} NOT NULL",
    "close_time": "{INT}",
    "execution_duration": "{INT}",
    "history_length": "{INT} NOT NULL",
    "history_size_bytes": "{INT} NOT NULL",
    "state_transition_count": "{INT} NOT NULL",
    "parent_workflow_id": "TEXT",
    "parent_run_id": "TEXT",
    "root_workflow_id": "TEXT NOT NULL",
    "root_run_id": "TEXT NOT NULL",
}
_TYPES = {
    "sqlite": {"INT": "INTEGER", "Keyword": "TEXT", "Text": "TEXT", "Int": "INTEGER",
               "Datetime": "INTEGER", "Double": "REAL", "Bool": "INTEGER", "KeywordList": "TEXT"},
    "postgresql": {"INT": "BIGINT", "Keyword": "TEXT", "Text": "TEXT", "Int": "BIGINT",
                   "Datetime": "BIGINT", "Double": "DOUBLE PRECISION", "Bool": "BOOLEAN",
                   "KeywordList": "JSONB"},
}  # fmt: skip


def extra_column_types() -> dict[str, str]:
    """Predefined and custom columns -> their Temporal type."""
    out = {
        column: catalog.PREDEFINED_TYPES[name]
        for name, column in VISIBILITY_PREDEFINED_COLUMNS.items()
    }
    for column in custom_columns():
        kind = catalog.column_type(column)
        assert kind is not None
        out[column] = kind
    return out


def ddl(dialect: str) -> list[str]:
    types = _TYPES[dialect]
    cols = ["namespace_id TEXT NOT NULL"]
    cols += [f"{c} {t.format_map(types)}" for c, t in _SYSTEM.items()]
    cols += [f"{c} {types[kind]}" for c, kind in extra_column_types().items()]
    cols.append("PRIMARY KEY (namespace_id, run_id)")
    return [
        "DROP TABLE IF EXISTS executions_visibility",
        "CREATE TABLE executions_visibility (" + ", ".join(cols) + ")",
    ]


@dataclass
class Row:
    """The fields of a VisibilityRow that queries can see."""

    workflow_id: str
    status: int
    start_time: int
    run_id: str = ""
    workflow_type: str = "Probe"
    task_queue: str = "tq"
    execution_time: int = 0
    close_time: int | None = None
    execution_duration: int | None = None
    history_length: int = 2
    history_size_bytes: int = 100
    state_transition_count: int = 1
    parent_workflow_id: str | None = None
    parent_run_id: str | None = None
    root_workflow_id: str = ""
    root_run_id: str = ""
    columns: Mapping[str, SqlValue] = field(default_factory=dict)

    def values(self) -> dict[str, SqlValue]:
        out: dict[str, SqlValue] = {
            c: getattr(self, c) for c in _SYSTEM if c not in ("run_id", "execution_time")
        }
        out["run_id"] = self.run_id or f"run-{self.workflow_id}"
        out["execution_time"] = self.execution_time or self.start_time
        out.update(self.columns)
        return out


def qmark_to_format(sql: str) -> str:
    """`?` -> `%s` outside quotes, `%` doubled: what psycopg wants."""
    out: list[str] = []
    quote = ""
    for ch in sql:
        if quote:
            quote = "" if ch == quote else quote
            out.append("%%" if ch == "%" else ch)
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        else:
            out.append({"?": "%s", "%": "%%"}.get(ch, ch))
    return "".join(out)


class Table:
    """The table in one database; `ids(query)` runs a compiled query like the store would."""

    def __init__(self, dialect: str, conn: Any, namespace_id: str = "ns") -> None:
        self.dialect = dialect
        self.conn = conn
        self.namespace_id = namespace_id
        for statement in ddl(dialect):
            self.execute(statement)

    def execute(self, sql: str, params: Sequence[SqlValue] = ()) -> list[tuple[Any, ...]]:
        if self.dialect == "sqlite":
            return list(self.conn.execute(sql, tuple(params)).fetchall())
        cursor = self.conn.execute(qmark_to_format(sql), tuple(params))
        return list(cursor.fetchall()) if cursor.description else []

    def insert(self, rows: Sequence[Row]) -> None:
        kinds = extra_column_types()
        for row in rows:
            values = {"namespace_id": self.namespace_id, **row.values()}
            marks = []
            for column in values:
                json_col = kinds.get(column) == "KeywordList" and self.dialect == "postgresql"
                marks.append("CAST(? AS jsonb)" if json_col else "?")
            self.execute(
                f"INSERT INTO executions_visibility ({', '.join(values)}) "
                f"VALUES ({', '.join(marks)})",
                list(values.values()),
            )

    def select(self, query: VisibilityQuery, what: str = "workflow_id") -> list[tuple[Any, ...]]:
        where = "namespace_id = ?" + (f" AND ({query.where})" if query.where else "")
        order = query.order_by or "workflow_id"
        return self.execute(
            f"SELECT {what} FROM executions_visibility WHERE {where} ORDER BY {order}",
            [self.namespace_id, *query.params],
        )

    def ids(self, query: VisibilityQuery) -> list[str]:
        """Workflow ids in the query's order (by workflow id when it has none)."""
        return [r[0] for r in self.select(query)]

    def counts(self, query: VisibilityQuery) -> dict[tuple[Any, ...], int]:
        where = "namespace_id = ?" + (f" AND ({query.where})" if query.where else "")
        keys = ", ".join(query.group_by)
        select = f"{keys + ', ' if keys else ''}COUNT(*)"
        group = f" GROUP BY {keys}" if keys else ""
        rows = self.execute(
            f"SELECT {select} FROM executions_visibility WHERE {where}{group}",
            [self.namespace_id, *query.params],
        )
        return {tuple(r[:-1]): r[-1] for r in rows}


def sqlite_table(namespace_id: str = "ns") -> Table:
    return Table("sqlite", sqlite3.connect(":memory:"), namespace_id)


def json_list(values: Sequence[str]) -> str:
    return json.dumps(list(values))
