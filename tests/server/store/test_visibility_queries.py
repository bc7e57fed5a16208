"""server/visibility's compiled queries run against each store's real schema.

The visibility compiler is tested on its own tables; this checks the contract between
the two modules: column names, collations, JSON and Text encodings, placeholders, and
the ORDER BY and GROUP BY it hands to the store.
"""

from __future__ import annotations

import pytest

from perdure.server.store.base import ExecutionKey, SqlValue
from perdure.server.store.sqlstore import SqlStore
from perdure.server.visibility import compile_query
from perdure.server.visibility.values import text_column_value
from tests.server.store.builders import COMPLETED, NS, RUNNING, vis
from tests.server.store.test_conformance_visibility import put

ALIASES = {"Keyword01": "MyKw", "Int01": "MyInt", "KeywordList01": "MyKwl", "Text01": "MyText"}


@pytest.fixture
async def rows(store: SqlStore) -> SqlStore:
    specs = [
        ("a", 1, None, "alpha", 5, '["x","y"]', "Hello World"),
        ("b", 2, 20, "beta", 7, '["y"]', "goodbye world"),
        ("c", 3, None, "Alpha", 9, None, None),
        ("d", 4, 40, "alphabet", None, '["z"]', "hello there"),
    ]
    for name, start, close, kw, n, kwl, text in specs:
        columns = {"Keyword01": kw, "Int01": n, "KeywordList01": kwl}
        if text is not None:
            columns["Text01"] = text_column_value(text)
        key = ExecutionKey(NS, f"wf-{name}", f"run-{name}")
        status = RUNNING if close is None else COMPLETED
        await put(store, vis(key, start=start, close=close, status=status, **columns))
    return store


async def run_ids(store: SqlStore, query: str) -> list[str]:
    compiled = compile_query(query, aliases=ALIASES, dialect=store.dialect.name)
    out: list[str] = []
    token = b""
    while True:
        page = await store.list_visibility(NS, compiled, 2, token)
        out += [r.run_id.removeprefix("run-") for r in page.items]
        if not (token := page.next_page_token):
            return out


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["c", "a", "d", "b"]),
        ("ExecutionStatus = 'Running'", ["c", "a"]),
        ("MyKw = 'alpha'", ["a"]),
        ("MyKw STARTS_WITH 'alph'", ["a", "d"]),  # case-sensitive, code point order
        ("MyKw > 'alpha'", ["d", "b"]),
        ("MyInt BETWEEN 6 AND 9", ["c", "b"]),
        ("MyKwl = 'y'", ["a", "b"]),
        ("MyKwl IN ('x', 'z')", ["a", "d"]),
        ("MyText = 'hello'", ["a", "d"]),
        ("MyText = 'world'", ["a", "b"]),
        ("WorkflowId IN ('wf-a', 'wf-d') ORDER BY StartTime ASC", ["a", "d"]),
        ("ORDER BY MyInt DESC", ["c", "b", "a", "d"]),
        ("ORDER BY MyKw ASC", ["c", "a", "d", "b"]),
    ],
)
async def test_compiled_queries_list(rows: SqlStore, query: str, expected: list[str]) -> None:
    assert await run_ids(rows, query) == expected


async def test_compiled_count_and_group_by(rows: SqlStore) -> None:
    async def count(query: str) -> list[tuple[tuple[SqlValue, ...], int]]:
        compiled = compile_query(query, aliases=ALIASES, dialect=rows.dialect.name, for_count=True)
        return await rows.count_visibility(NS, compiled)

    assert await count("MyKw STARTS_WITH 'alph'") == [((), 2)]
    grouped = await count("GROUP BY ExecutionStatus")
    assert sorted(grouped) == [((RUNNING,), 2), ((COMPLETED,), 2)]
