"""The compiled SQL is index-friendly: with the indexes a store would create, the planner
can answer each kind of condition from an index instead of reading every row.

PostgreSQL needs Keyword columns declared COLLATE "C" (the compiler compares keywords in
code point order), a GIN index for KeywordList (jsonb @>) and, for Text, a pg_trgm GIN
index (LIKE '% phrase %'). SQLite has no index for JSON arrays or substrings; those
conditions narrow the rows the other indexes select.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from perdure.server.visibility import compile_query
from tests.server.visibility.dataset import ALIASES, ROWS
from tests.server.visibility.tables import Table, sqlite_table


def _plan(table: Table, query: str) -> str:
    compiled = compile_query(query, aliases=ALIASES, dialect=table.dialect)
    where = f"namespace_id = ? AND ({compiled.where})"
    sql = f"SELECT workflow_id FROM executions_visibility WHERE {where}"
    params = ["ns", *compiled.params]
    if table.dialect == "sqlite":
        return "\n".join(str(r[-1]) for r in table.execute("EXPLAIN QUERY PLAN " + sql, params))
    return "\n".join(str(r[0]) for r in table.execute("EXPLAIN " + sql, params))


@pytest.fixture(scope="module")
def sqlite_indexed() -> Iterator[Table]:
    t = sqlite_table()
    t.insert(ROWS)
    for column in ("workflow_id", "start_time", "status", "Keyword01", "Int01", "Datetime01"):
        t.execute(f"CREATE INDEX by_{column} ON executions_visibility (namespace_id, {column})")
    yield t


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("WorkflowId = 'a'", "by_workflow_id"),
        ("WorkflowId STARTS_WITH 'wf-'", "by_workflow_id"),
        ("MyKw STARTS_WITH 'alph'", "by_Keyword01"),
        ("MyKw IN ('alpha', 'beta')", "by_Keyword01"),
        ("MyInt BETWEEN 1 AND 5", "by_Int01"),
        ("MyDt > '2024-01-01T00:00:00Z'", "by_Datetime01"),
        ("ExecutionStatus = 'Running'", "by_status"),
    ],
)
def test_sqlite_uses_the_index(sqlite_indexed: Table, query: str, index: str) -> None:
    plan = _plan(sqlite_indexed, query)
    assert f"USING INDEX {index}" in plan, plan


@pytest.fixture(scope="module")
def pg_indexed(pg_connection: Any) -> Iterator[Table]:
    t = Table("postgresql", pg_connection)
    for column in ("workflow_id", "keyword01"):
        t.execute(f'ALTER TABLE executions_visibility ALTER COLUMN {column} TYPE TEXT COLLATE "C"')
    t.insert(ROWS)
    t.execute(  # enough other runs that an index beats reading the namespace's rows
        "INSERT INTO executions_visibility (namespace_id, workflow_id, run_id, workflow_type,"
        " task_queue, status, start_time, execution_time, history_length, history_size_bytes,"
        " state_transition_count, root_workflow_id, root_run_id, Keyword01, Int01,"
        " KeywordList01, Text01) SELECT 'ns', 'w' || i, 'r' || i, 'Probe', 'tq', 1, i, i, 1,"
        " 1, 1, '', '', 'kw' || i, i, jsonb_build_array('k' || i), ' filler ' || i || ' '"
        " FROM generate_series(1, 5000) AS i"
    )
    t.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    statements = [
        "CREATE INDEX by_workflow_id ON executions_visibility (namespace_id, workflow_id)",
        "CREATE INDEX by_keyword01 ON executions_visibility (namespace_id, Keyword01)",
        "CREATE INDEX by_int01 ON executions_visibility (namespace_id, Int01)",
        "CREATE INDEX by_keywordlist01 ON executions_visibility USING GIN (KeywordList01)",
        "CREATE INDEX by_text01 ON executions_visibility USING GIN (Text01 gin_trgm_ops)",
        "ANALYZE executions_visibility",
        "SET enable_seqscan = off",
    ]
    for statement in statements:
        t.execute(statement)
    yield t
    t.execute("SET enable_seqscan = on")
    t.execute("DROP TABLE executions_visibility")


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("WorkflowId STARTS_WITH 'wf-'", "by_workflow_id"),
        ("MyKw STARTS_WITH 'alph'", "by_keyword01"),
        ("MyKw > 'kz'", "by_keyword01"),
        ("MyInt IN (1, 2)", "by_int01"),
        ("MyKwl = 'x'", "by_keywordlist01"),
        ("MyKwl IN ('x', 'y')", "by_keywordlist01"),
        ("MyText = 'hello world'", "by_text01"),
    ],
)
def test_postgres_uses_the_index(pg_indexed: Table, query: str, index: str) -> None:
    plan = _plan(pg_indexed, query)
    assert index in plan, plan
