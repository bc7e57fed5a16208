"""The database schema, defined once for every dialect, and its versioned migrations.

DDL is written with logical type markers ({INT}, {BLOB}, ...) that each dialect fills in,
so SQLite and PostgreSQL get the same tables, columns and indexes. A database records the
migrations it has applied in `schema_version`; opening a store applies the missing ones
in order, each in its own transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields

from perdure.server.store.base import (
    CUSTOM_COLUMN_SLOTS,
    VISIBILITY_PREDEFINED_COLUMNS,
    VISIBILITY_SYSTEM_COLUMNS,
    VisibilityRow,
    custom_columns,
)
from perdure.server.store.dialect import Dialect

MAX_INT64 = 9223372036854775807

# --------------------------------------------------------------------------- visibility

VISIBILITY_TABLE = "executions_visibility"

SORT_CLOSE_TIME = "sort_close_time"
"""Internal generated column COALESCE(close_time, max): running rows sort first under
DESC, and the default order becomes a plain index range that keyset paging can seek."""

_SYSTEM_TYPES: Mapping[str, str] = {
    "workflow_id": "Keyword",
    "run_id": "Keyword",
    "workflow_type": "Keyword",
    "status": "Int",
    "start_time": "Datetime",
    "execution_time": "Datetime",
    "close_time": "Datetime",
    "execution_duration": "Int",
    "history_length": "Int",
    "history_size_bytes": "Int",
    "state_transition_count": "Int",
    "task_queue": "Keyword",
    "parent_workflow_id": "Keyword",
    "parent_run_id": "Keyword",
    "root_workflow_id": "Keyword",
    "root_run_id": "Keyword",
}

_PREDEFINED_TYPES: Mapping[str, str] = {
    "TemporalChangeVersion": "KeywordList",
    "BinaryChecksums": "KeywordList",
    "BuildIds": "KeywordList",
    "BatcherUser": "Keyword",
    "TemporalScheduledStartTime": "Datetime",
    "TemporalScheduledById": "Keyword",
    "TemporalSchedulePaused": "Bool",
    "TemporalNamespaceDivision": "Keyword",
    "TemporalWorkerDeploymentVersion": "Keyword",
    "TemporalWorkflowVersioningBehavior": "Keyword",
    "TemporalWorkerDeployment": "Keyword",
}

SYSTEM_COLUMNS: tuple[str, ...] = tuple(
    f.name
    for f in fields(VisibilityRow)
    if f.name not in ("namespace_id", "memo", "search_attributes", "columns")
)
"""The visibility row's own columns (besides namespace_id, memo and search attributes)."""

EXTRA_COLUMNS: tuple[str, ...] = tuple(VISIBILITY_PREDEFINED_COLUMNS.values()) + tuple(
    custom_columns()
)
"""Predefined and custom search attribute columns: what `VisibilityRow.columns` may name."""

VISIBILITY_COLUMN_TYPES: Mapping[str, str] = {
    **_SYSTEM_TYPES,
    **{VISIBILITY_PREDEFINED_COLUMNS[k]: t for k, t in _PREDEFINED_TYPES.items()},
    **{c: c[:-2] for c in custom_columns()},
}
"""Every queryable visibility column -> how it is stored, named like Temporal's indexed
value types ("Keyword", "Text", "Int", "Double", "Bool", "Datetime", "KeywordList").
ExecutionStatus is stored as its enum number, so `status` is "Int"."""

BOOL_COLUMNS = frozenset(c for c, t in VISIBILITY_COLUMN_TYPES.items() if t == "Bool")

VISIBILITY_SELECT_COLUMNS: tuple[str, ...] = (
    "namespace_id",
    *SYSTEM_COLUMNS,
    "memo",
    "search_attributes",
    *EXTRA_COLUMNS,
)
"""The columns a visibility read selects, in the order the row decoder expects."""

_NULLABLE_SYSTEM = frozenset(
    {"close_time", "execution_duration", "parent_workflow_id", "parent_run_id"}
)

_TYPE_MARKERS: Mapping[str, str] = {
    "Keyword": "{TEXT}",
    "Text": "{TEXT}",
    "Int": "{INT}",
    "Datetime": "{INT}",
    "Double": "{REAL}",
    "Bool": "{BOOL}",
    "KeywordList": "{JSON}",
}


def _check_names() -> None:
    """base.py and this module must agree on the visibility column names."""
    if (
        set(VISIBILITY_SYSTEM_COLUMNS.values()) != set(SYSTEM_COLUMNS)
        or set(_PREDEFINED_TYPES) != set(VISIBILITY_PREDEFINED_COLUMNS)
        or not set(CUSTOM_COLUMN_SLOTS) <= set(_TYPE_MARKERS)
    ):
        raise RuntimeError("store schema is out of step with the columns in store/base.py")


_check_names()


def _visibility_ddl(d: Dialect) -> list[str]:
    cols = ["namespace_id {TEXT} NOT NULL"]
    for c in SYSTEM_COLUMNS:
        null = "" if c in _NULLABLE_SYSTEM else " NOT NULL"
        cols.append(f"{c} {_TYPE_MARKERS[_SYSTEM_TYPES[c]]}{null}")
    cols.append("memo {BLOB} NOT NULL")
    cols.append("search_attributes {BLOB} NOT NULL")
    cols.extend(f"{c} {_TYPE_MARKERS[VISIBILITY_COLUMN_TYPES[c]]}" for c in EXTRA_COLUMNS)
    cols.append(
        f"{SORT_CLOSE_TIME} {{INT}} GENERATED ALWAYS AS (COALESCE(close_time, {MAX_INT64}))"
        " {GENERATED}"
    )
    cols.append("PRIMARY KEY (namespace_id, run_id)")
    t = VISIBILITY_TABLE
    out = [f"CREATE TABLE {t} (\n    " + ",\n    ".join(cols) + "\n)"]
    out.append(
        f"CREATE INDEX {t}_by_default_order ON {t} "
        f"(namespace_id, {SORT_CLOSE_TIME}, start_time, run_id)"
    )
    for c in SYSTEM_COLUMNS:
        if c == "run_id":  # the primary key covers (namespace_id, run_id)
            continue
        # NULL while running or for top-level runs: a partial index costs those rows
        # nothing, and every comparison (= < > IN) still uses it.
        partial = f" WHERE {c} IS NOT NULL" if c in _NULLABLE_SYSTEM else ""
        out.append(f"CREATE INDEX {t}_by_{c} ON {t} (namespace_id, {c}){partial}")
    for c in EXTRA_COLUMNS:
        kind = VISIBILITY_COLUMN_TYPES[c]
        if kind in ("KeywordList", "Text"):
            # Containment and substring tests need the dialect's inverted index, if any.
            using = d.json_index if kind == "KeywordList" else d.text_index
            if using:
                out.append(f"CREATE INDEX {t}_by_{c} ON {t} {using.format(col=c)}")
        else:  # mostly NULL: partial, as above
            out.append(f"CREATE INDEX {t}_by_{c} ON {t} (namespace_id, {c}) WHERE {c} IS NOT NULL")
    return out


# --------------------------------------------------------------------------- core tables

_CORE_V1 = [
    """CREATE TABLE namespaces (
    id {TEXT} NOT NULL PRIMARY KEY,
    name {TEXT} NOT NULL UNIQUE,
    info {BLOB} NOT NULL,
    config {BLOB} NOT NULL,
    version {INT} NOT NULL
)""",
    """CREATE TABLE current_executions (
    namespace_id {TEXT} NOT NULL,
    workflow_id {TEXT} NOT NULL,
    run_id {TEXT} NOT NULL,
    status {INT} NOT NULL,
    start_request_id {TEXT} NOT NULL,
    start_time {INT} NOT NULL,
    close_time {INT},
    PRIMARY KEY (namespace_id, workflow_id)
)""",
    """CREATE TABLE executions (
    namespace_id {TEXT} NOT NULL,
    workflow_id {TEXT} NOT NULL,
    run_id {TEXT} NOT NULL,
    state {BLOB} NOT NULL,
    version {INT} NOT NULL,
    PRIMARY KEY (namespace_id, workflow_id, run_id)
)""",
    """CREATE TABLE history (
    namespace_id {TEXT} NOT NULL,
    run_id {TEXT} NOT NULL,
    first_event_id {INT} NOT NULL,
    last_event_id {INT} NOT NULL,
    data {BLOB} NOT NULL,
    PRIMARY KEY (namespace_id, run_id, first_event_id)
)""",
    """CREATE TABLE tasks (
    seq {SERIAL_PK},
    key {TEXT} NOT NULL UNIQUE,
    namespace_id {TEXT} NOT NULL,
    task_queue {TEXT} NOT NULL,
    kind {INT} NOT NULL,
    workflow_id {TEXT} NOT NULL,
    run_id {TEXT} NOT NULL,
    scheduled_event_id {INT} NOT NULL,
    created_time {INT} NOT NULL,
    expiry_time {INT},
    data {BLOB} NOT NULL
)""",
    "CREATE INDEX tasks_by_queue ON tasks (namespace_id, task_queue, kind, seq)",
    "CREATE INDEX tasks_by_run ON tasks (namespace_id, run_id)",
    """CREATE TABLE timers (
    key {TEXT} NOT NULL PRIMARY KEY,
    namespace_id {TEXT} NOT NULL,
    workflow_id {TEXT} NOT NULL,
    run_id {TEXT} NOT NULL,
    fire_time {INT} NOT NULL,
    data {BLOB} NOT NULL
)""",
    "CREATE INDEX timers_by_fire_time ON timers (fire_time, key)",
    "CREATE INDEX timers_by_run ON timers (namespace_id, run_id)",
]


def _v1(d: Dialect) -> list[str]:
    return [*d.prelude, *(d.render(s) for s in [*_CORE_V1, *_visibility_ddl(d)]), *d.functions]


TABLES = (
    "namespaces",
    "current_executions",
    "executions",
    "history",
    "tasks",
    "timers",
    VISIBILITY_TABLE,
    "query_tasks",
    "pollers",
    "schedules",
    "batch_operations",
)
"""Every data table (schema_version aside)."""

# --------------------------------------------------------------------------- migrations


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema's history: never edited once released, only appended to."""

    version: int
    description: str
    statements: Callable[[Dialect], list[str]]


_V2 = [
    # Leases: which server process dispatches a task or fires a timer, and until when
    # (several processes on one database; see store/shared.py).
    "ALTER TABLE tasks ADD COLUMN lease_owner {TEXT}",
    "ALTER TABLE tasks ADD COLUMN lease_until {INT}",
    "ALTER TABLE timers ADD COLUMN lease_owner {TEXT}",
    "ALTER TABLE timers ADD COLUMN lease_until {INT}",
    # Queries in flight between processes: asked on one, answered by a worker polling
    # another. Rows live for the few seconds a query takes.
    """CREATE TABLE query_tasks (
    id {TEXT} NOT NULL PRIMARY KEY,
    namespace_id {TEXT} NOT NULL,
    task_queue {TEXT} NOT NULL,
    workflow_id {TEXT} NOT NULL,
    run_id {TEXT} NOT NULL,
    query {BLOB} NOT NULL,
    origin {TEXT} NOT NULL,
    created_time {INT} NOT NULL,
    lease_owner {TEXT},
    answer {BLOB}
)""",
    "CREATE INDEX query_tasks_by_queue ON query_tasks (namespace_id, task_queue, created_time)",
]


def _v2(d: Dialect) -> list[str]:
    return [d.render(s) for s in _V2]


_V3 = [
    # Who polls which queue, on any server process (DescribeTaskQueue); refreshed by each
    # process every few seconds per poller, not on every poll.
    """CREATE TABLE pollers (
    namespace_id {TEXT} NOT NULL,
    task_queue {TEXT} NOT NULL,
    kind {INT} NOT NULL,
    identity {TEXT} NOT NULL,
    build_id {TEXT} NOT NULL,
    last_access {INT} NOT NULL,
    PRIMARY KEY (namespace_id, task_queue, kind, identity)
)""",
]


def _v3(d: Dialect) -> list[str]:
    return [d.render(s) for s in _V3]


def _v4_schedules_and_batches(d: Dialect) -> list[str]:
    from perdure.server.store.batches import BATCHES_DDL
    from perdure.server.store.schedules import SCHEDULES_DDL

    return [d.render(s) for s in [*SCHEDULES_DDL, *BATCHES_DDL]]


def _v5_listing_indexes(d: Dialect) -> list[str]:
    """Filters on workflow type and status, read in the default order, as index ranges.

    With (namespace_id, column) alone, `WorkflowType = 'X' AND ExecutionStatus =
    'Running'` ordered by close and start time read every row of the type (or status)
    and sorted them: 0.1-1 s on a million stored runs. Ending each index in the default
    order (as Temporal's SQL visibility does) lets the first page stop after a page of rows.
    """
    t = VISIBILITY_TABLE
    order = f"{SORT_CLOSE_TIME}, start_time, run_id"
    return [
        d.render(s)
        for s in [
            f"DROP INDEX {t}_by_workflow_type",
            f"DROP INDEX {t}_by_status",
            f"CREATE INDEX {t}_by_workflow_type ON {t} (namespace_id, workflow_type, {order})",
            f"CREATE INDEX {t}_by_status ON {t} (namespace_id, status, {order})",
            f"CREATE INDEX {t}_by_workflow_type_status ON {t}"
            f" (namespace_id, workflow_type, status, {order})",
        ]
    ]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _v1),
    Migration(2, "leases for tasks and timers; query tasks between processes", _v2),
    Migration(3, "pollers seen by any server process", _v3),
    Migration(4, "schedules and batch operations", _v4_schedules_and_batches),
    Migration(5, "visibility indexes on type and status in the default order", _v5_listing_indexes),
)

SCHEMA_VERSION = MIGRATIONS[-1].version

SCHEMA_VERSION_DDL = """CREATE TABLE IF NOT EXISTS schema_version (
    version {INT} NOT NULL PRIMARY KEY,
    description {TEXT} NOT NULL,
    applied_time {INT} NOT NULL
)"""


def pending_migrations(current: int) -> list[Migration]:
    """The migrations a database at `current` still needs, in order."""
    return [m for m in MIGRATIONS if m.version > current]
