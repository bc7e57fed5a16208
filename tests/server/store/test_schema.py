"""The schema's promises: every visibility column exists and is indexed, the hot queries
are index seeks, and shared SQL is rendered right for PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from perdure.server.store.dialect import POSTGRES, qmark_to_format
from perdure.server.store.schema import (
    MIGRATIONS,
    SYSTEM_COLUMNS,
    VISIBILITY_COLUMN_TYPES,
    VISIBILITY_TABLE,
)
from perdure.server.store.sqlite import SQLiteStore


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> SQLiteStore:
    return await SQLiteStore.open(tmp_path / "schema.db")


async def test_every_visibility_column_exists_and_is_indexed(sqlite_store: SQLiteStore) -> None:
    try:
        info = await sqlite_store._fetch(f"PRAGMA table_xinfo({VISIBILITY_TABLE})", ())
        cols = {r[1] for r in info}
        assert set(VISIBILITY_COLUMN_TYPES) <= cols
        indexed = set()
        for (name,) in await sqlite_store._fetch(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?",
            (VISIBILITY_TABLE,),
        ):
            info = await sqlite_store._fetch(f"PRAGMA index_info({name})", ())
            names = [r[2] for r in info]
            if names[:1] == ["namespace_id"] and len(names) >= 2:
                indexed.add(names[1])
        expected = {
            c
            for c, t in VISIBILITY_COLUMN_TYPES.items()
            if t not in ("KeywordList", "Text") and c != "run_id"
        }
        assert expected <= indexed, expected - indexed
    finally:
        await sqlite_store.close()


async def _plan(store: SQLiteStore, sql: str, n: int) -> str:
    rows = await store._fetch("EXPLAIN QUERY PLAN " + sql, (1,) * n)
    return " | ".join(str(r[-1]) for r in rows)


async def test_hot_queries_are_index_seeks(sqlite_store: SQLiteStore) -> None:
    s = sqlite_store.sql
    try:
        for sql in (
            s.exec_get,
            s.cur_get,
            s.task_get,
            s.task_stats,
            s.timer_due,
            s.hist_forward,
            s.hist_reverse,
            s.vis_get,
            s.task_delete,
            s.timer_delete,
            s.hist_append,
            s.vis_list("", True, ""),
            s.vis_list("status = ?", False, ""),
            s.vis_list("workflow_type = ?", False, ""),
            s.vis_list("workflow_type = ? AND status = ?", False, ""),
        ):
            plan = await _plan(sqlite_store, sql, sql.count("?"))
            assert "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), (sql, plan)
            assert "TEMP B-TREE" not in plan, (sql, plan)
        keyset = await _plan(sqlite_store, s.vis_list("", True, ""), 5)
        assert "by_default_order (namespace_id=? AND (sort_close_time,start_time,run_id)<" in (
            keyset
        )
        # The first page of a filter on both stops after a page of rows, on any table size.
        both = await _plan(
            sqlite_store, s.vis_list("workflow_type = ? AND status = ?", False, ""), 4
        )
        assert "by_workflow_type_status (namespace_id=? AND workflow_type=? AND status=?)" in both
    finally:
        await sqlite_store.close()


def test_postgres_statements_use_format_placeholders() -> None:
    assert qmark_to_format("""a = ? AND b LIKE '%?%' AND "c?" = 1 AND d % 2 = ?""") == (
        """a = %s AND b LIKE '%%?%%' AND "c?" = 1 AND d %% 2 = %s"""
    )
    assert POSTGRES.sql("x = ?") == "x = %s"


def test_migrations_are_numbered_in_order() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert "namespace_id" not in SYSTEM_COLUMNS
