"""Visibility reads and writes, checked identically against every backend.

Queries are hand-written `VisibilityQuery` objects of the kind server/visibility compiles.
"""

from __future__ import annotations

import json

import pytest

from perdure.server.store.base import (
    Commit,
    ExecutionKey,
    InvalidPageToken,
    StoreError,
    VisibilityQuery,
    VisibilityRow,
)
from perdure.server.store.sqlstore import SqlStore
from tests.server.store.builders import COMPLETED, NS, RUNNING, new_key, vis


async def put(store: SqlStore, *rows: VisibilityRow) -> None:
    for r in rows:
        await store.commit(Commit(r.namespace_id, r.workflow_id, visibility=[r]))


async def list_all(store: SqlStore, query: VisibilityQuery, page_size: int) -> list[str]:
    """Run ids over every page, checking that only the last page lacks a token."""
    out: list[str] = []
    token = b""
    while True:
        page = await store.list_visibility(NS, query, page_size, token)
        out += [r.run_id for r in page.items]
        if not page.next_page_token:
            return out
        assert len(page.items) == page_size
        token = page.next_page_token


def kw_list_contains(store: SqlStore, column: str) -> str:
    """How server/visibility spells "KeywordList contains ?" in each dialect."""
    if store.dialect.name == "sqlite":
        return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE value = ?)"
    return f"{column} @> jsonb_build_array(?::text)"


async def test_upsert_and_get_every_column_type(store: SqlStore) -> None:
    k = new_key()
    row = vis(
        k,
        start=5,
        Keyword01="kw",
        Text01="some words",
        Int01=-42,
        Double01=2.5,
        Bool01=True,
        Bool02=False,
        Datetime01=1_700_000_000_000_000_000,
        KeywordList01='["a","b"]',
        BuildIds='["1.0"]',
        TemporalSchedulePaused=False,
        BatcherUser="me",
    )
    await put(store, row)
    got = await store.get_visibility(NS, k.run_id)
    assert got is not None
    lists = {c for c in row.columns if c in ("KeywordList01", "BuildIds")}
    assert {c: v for c, v in got.columns.items() if c not in lists} == {
        c: v for c, v in row.columns.items() if c not in lists
    }
    for c in lists:  # PostgreSQL hands JSONB back normalized
        assert json.loads(str(got.columns[c])) == json.loads(str(row.columns[c]))
    assert type(got.columns["Bool02"]) is bool and type(got.columns["Int01"]) is int
    assert got == VisibilityRow(**{**_fields(row), "columns": got.columns})
    assert await store.get_visibility(NS, "nope") is None
    assert await store.get_visibility("other-ns", k.run_id) is None


def _fields(row: VisibilityRow) -> dict[str, object]:
    return {f: getattr(row, f) for f in row.__dataclass_fields__}


async def test_upsert_replaces_the_whole_row(store: SqlStore) -> None:
    k = new_key()
    await put(store, vis(k, Keyword01="a", Int01=1))
    closed = VisibilityRow(
        **{
            **_fields(vis(k, close=9, status=COMPLETED, Int01=2)),
            "execution_duration": 8,
            "history_length": 12,
            "history_size_bytes": 300,
            "state_transition_count": 4,
            "parent_workflow_id": "p",
            "parent_run_id": "pr",
            "root_workflow_id": "r",
            "root_run_id": "rr",
        }  # type: ignore[arg-type]
    )
    await put(store, closed)
    assert await store.get_visibility(NS, k.run_id) == closed  # Keyword01 is NULL again


async def test_unknown_column_is_rejected(store: SqlStore) -> None:
    with pytest.raises(StoreError):
        await put(store, vis(new_key(), Keyword99="x"))


async def _mixed(store: SqlStore) -> dict[str, ExecutionKey]:
    """Three running and four closed runs with chosen times (and one tie)."""
    specs = {
        "run-a": (10, None),
        "run-b": (30, None),
        "run-c": (20, None),
        "closed-x": (1, 100),
        "closed-y": (2, 300),
        "closed-z": (3, 200),
        "closed-w": (3, 200),
    }
    keys: dict[str, ExecutionKey] = {}
    for name, (start, close) in specs.items():
        k = ExecutionKey(NS, f"wf-{name}", name)
        keys[name] = k
        status = RUNNING if close is None else COMPLETED
        await put(
            store,
            vis(
                k,
                start=start,
                close=close,
                status=status,
                wf_type="even" if start % 2 == 0 else "odd",
                Int01=start,
            ),
        )
    await put(store, vis(new_key(ns="other-ns")))
    return keys


DEFAULT_ORDER = ["run-b", "run-c", "run-a", "closed-y", "closed-z", "closed-w", "closed-x"]


async def test_list_default_order_running_first(store: SqlStore) -> None:
    await _mixed(store)
    page = await store.list_visibility(NS, VisibilityQuery(), 100, b"")
    assert [r.run_id for r in page.items] == DEFAULT_ORDER
    assert page.next_page_token == b""


@pytest.mark.parametrize("size", [1, 2, 3, 7])
async def test_list_paging_walks_everything_once(store: SqlStore, size: int) -> None:
    await _mixed(store)
    assert await list_all(store, VisibilityQuery(), size) == DEFAULT_ORDER


async def test_keyset_paging_is_stable_under_inserts(store: SqlStore) -> None:
    await _mixed(store)
    first = await store.list_visibility(NS, VisibilityQuery(), 3, b"")
    # A run started meanwhile sorts first; the next page must not repeat or skip.
    await put(store, vis(ExecutionKey(NS, "wf-new", "run-new"), start=99))
    second = await store.list_visibility(NS, VisibilityQuery(), 100, first.next_page_token)
    assert [r.run_id for r in first.items + second.items] == DEFAULT_ORDER


async def test_list_with_filter_and_params(store: SqlStore) -> None:
    await _mixed(store)
    q = VisibilityQuery(where="workflow_type = ? AND status = ?", params=("odd", COMPLETED))
    assert await list_all(store, q, 1) == ["closed-z", "closed-w", "closed-x"]
    q = VisibilityQuery(where="Int01 >= ? AND Int01 < ?", params=(3, 30))
    assert await list_all(store, q, 2) == ["run-c", "run-a", "closed-z", "closed-w"]
    q = VisibilityQuery(where="close_time IS NULL")
    assert await list_all(store, q, 2) == ["run-b", "run-c", "run-a"]


async def test_list_custom_order_pages_by_offset(store: SqlStore) -> None:
    await _mixed(store)
    q = VisibilityQuery(order_by="start_time ASC")
    by_start = ["closed-x", "closed-y", "closed-w", "closed-z", "run-a", "run-c", "run-b"]
    assert await list_all(store, q, 2) == by_start
    q = VisibilityQuery(where="status = ?", params=(RUNNING,), order_by="Int01 DESC")
    assert await list_all(store, q, 1) == ["run-b", "run-c", "run-a"]


async def test_page_tokens_are_checked(store: SqlStore) -> None:
    await _mixed(store)
    keyset = (await store.list_visibility(NS, VisibilityQuery(), 2, b"")).next_page_token
    ordered = VisibilityQuery(order_by="start_time")
    offset = (await store.list_visibility(NS, ordered, 2, b"")).next_page_token
    with pytest.raises(InvalidPageToken):
        await store.list_visibility(NS, VisibilityQuery(), 2, b"garbage")
    with pytest.raises(InvalidPageToken):
        await store.list_visibility(NS, VisibilityQuery(), 2, offset)
    with pytest.raises(InvalidPageToken):
        await store.list_visibility(NS, ordered, 2, keyset)


async def test_search_by_keyword_list_and_bool(store: SqlStore) -> None:
    a, b, c = new_key(), new_key(), new_key()
    await put(
        store,
        vis(a, start=1, KeywordList01='["x","y"]', Bool01=True),
        vis(b, start=2, KeywordList01='["y"]', Bool01=False),
        vis(c, start=3),
    )
    q = VisibilityQuery(where=kw_list_contains(store, "KeywordList01"), params=("y",))
    assert await list_all(store, q, 10) == [b.run_id, a.run_id]
    q = VisibilityQuery(where=kw_list_contains(store, "KeywordList01"), params=("x",))
    assert await list_all(store, q, 10) == [a.run_id]
    q = VisibilityQuery(where="Bool01 = ?", params=(True,))
    assert await list_all(store, q, 10) == [a.run_id]


async def test_count_and_group_by(store: SqlStore) -> None:
    await _mixed(store)
    assert await store.count_visibility(NS, VisibilityQuery()) == [((), 7)]
    q = VisibilityQuery(where="workflow_type = ?", params=("even",))
    assert await store.count_visibility(NS, q) == [((), 4)]
    grouped = await store.count_visibility(NS, VisibilityQuery(group_by=["status"]))
    assert sorted(grouped) == [((RUNNING,), 3), ((COMPLETED,), 4)]
    grouped = await store.count_visibility(
        NS,
        VisibilityQuery(
            where="status = ?", params=(COMPLETED,), group_by=["status", "workflow_type"]
        ),
    )
    assert sorted(grouped) == [((COMPLETED, "even"), 1), ((COMPLETED, "odd"), 3)]
    assert await store.count_visibility("empty-ns", VisibilityQuery()) == [((), 0)]


async def test_count_group_by_bool_gives_booleans(store: SqlStore) -> None:
    await put(store, vis(new_key(), Bool01=True), vis(new_key(), Bool01=True), vis(new_key()))
    grouped = await store.count_visibility(NS, VisibilityQuery(group_by=["Bool01"]))
    assert sorted(grouped, key=repr) == sorted([((True,), 2), ((None,), 1)], key=repr)
    assert all(type(k[0]) in (bool, type(None)) for k, _ in grouped)


async def test_group_by_is_checked(store: SqlStore) -> None:
    for bad in ("nope", "status; DROP TABLE executions", "memo"):
        with pytest.raises(StoreError):
            await store.count_visibility(NS, VisibilityQuery(group_by=[bad]))
