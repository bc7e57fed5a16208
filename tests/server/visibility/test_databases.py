"""Compiled queries run against real SQLite and PostgreSQL: both return the expected runs.

The expectations follow the real server (see test_real_server.py for the differential
test) and the documented choices in visibility/sql.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from perdure.server.visibility import compile_query
from tests.server.visibility.dataset import ALIASES, ROWS
from tests.server.visibility.tables import Table, sqlite_table

ALL = "a b c d e g h"  # every run but f, which has TemporalNamespaceDivision

CASES: list[tuple[str, str]] = [
    ("", ALL),
    # Keyword
    ("MyKw = 'alpha'", "a"),
    ('MyKw = "alpha"', "a"),
    ("`MyKw` = 'alpha'", "a"),
    ("MyKw != 'alpha'", "b d e g h"),
    ("MyKw <> 'alpha'", "b d e g h"),
    ("MyKw > 'alpha'", "d e g h"),
    ("MyKw < 'alpha'", "b"),
    ("MyKw >= 'alpha'", "a d e g h"),
    ("MyKw <= 'alpha'", "a b"),
    ("MyKw BETWEEN 'a' AND 'b'", "a e"),
    ("MyKw NOT BETWEEN 'a' AND 'b'", "b d g h"),
    ("MyKw IN ('alpha', 'Alpha')", "a b"),
    ("MyKw NOT IN ('alpha', 'Alpha')", "d e g h"),
    ("MyKw STARTS_WITH 'alph'", "a e"),
    ("MyKw NOT STARTS_WITH 'alph'", "b d g h"),
    ("MyKw STARTS_WITH 'beta%'", "d"),
    ("MyKw STARTS_WITH 'beta_'", ""),
    ("MyKw STARTS_WITH 'ü'", "g"),
    ("MyKw STARTS_WITH ''", "a b d e g h"),
    ("MyKw = 'it''s'", "h"),
    ("MyKw = 'it\\'s'", "h"),
    ("MyKw IS NULL", "c"),
    ("MyKw IS NOT NULL", "a b d e g h"),
    ("Owner = 'alpha'", ""),
    # Text
    ("MyText = 'hello'", "a b"),
    ("MyText = 'HELLO'", "a b"),
    ("MyText = 'world hello'", "a b"),
    ("MyText = 'hello foo'", "a b d"),
    ("MyText = 'hello-world'", "a"),
    ("MyText = 'world-hello'", ""),
    ("MyText = 'cafe'", "d"),
    ("MyText = 'Café'", "d"),
    ("MyText = 'bar'", "d"),
    ("MyText = 'hell'", ""),
    ("MyText = 'hel%'", ""),
    ("MyText = '!!!'", ""),
    ("MyText != 'hello'", "c d e g h"),
    ("MyText IS NULL", "c g h"),
    # KeywordList
    ("MyKwl = 'x'", "a"),
    ("MyKwl = 'X'", "e"),
    ("MyKwl != 'x'", "b c d e g h"),
    ("MyKwl IN ('x', 'z')", "a b"),
    ("MyKwl NOT IN ('x', 'z')", "c d e g h"),
    ("MyKwl = 'a b'", "h"),
    ('MyKwl = "it\'s"', "h"),
    ("MyKwl IS NULL", "c d g"),
    ("MyKwl IS NOT NULL", "a b e h"),
    ("NOT MyKwl = 'y'", "c d e g h"),
    # Int, Double, Bool
    ("MyInt = 5", "a"),
    ("MyInt = 5.0", "a"),
    ("MyInt = 5.5", ""),
    ("MyInt > 0", "a b"),
    ("MyInt > 4.5", "a b"),
    ("MyInt >= 0", "a b e"),
    ("MyInt < 0", "d"),
    ("MyInt != 5", "b d e"),
    ("MyInt IN (5, 10)", "a b"),
    ("MyInt NOT IN (5, 10)", "d e"),
    ("MyInt BETWEEN 0 AND 5", "a e"),
    ("MyInt = - 3", "d"),
    ("MyInt = 9999999999999999999", ""),
    ("MyDouble = 1.5", "a"),
    ("MyDouble = -2", "b"),
    ("MyDouble > 0", "a"),
    ("MyDouble < -1", "b"),
    ("MyBool = true", "a"),
    ("MyBool = FALSE", "b"),
    ("MyBool != true", "b"),
    ("MyBool IN (true)", "a"),
    ("MyBool > false", "a"),
    ("MyBool IS NULL", "c d e g h"),
    # Datetime
    ("MyDt = '2024-01-01T00:00:00Z'", "a h"),
    ("MyDt = '2024-01-01T01:00:00+01:00'", "a h"),
    ("MyDt > '2024-06-01T00:00:00Z'", "d"),
    ("MyDt > 1704067200000000000", "d"),
    ("MyDt BETWEEN '2023-01-01T00:00:00Z' AND '2025-12-01T00:00:00Z'", "a d h"),
    ("MyDt IN ('2024-01-01T00:00:00.000Z')", "a h"),
    ("MyDt < '9999-12-31T00:00:00Z'", "a d h"),
    # system attributes
    ("CloseTime IS NULL", "a e"),
    ("CloseTime IS NOT NULL", "b c d g h"),
    ("StartTime > '2024-05-01T00:00:04Z'", "e g h"),
    ("ExecutionTime >= '2024-05-01T00:00:04Z'", "d e g h"),
    ("ExecutionDuration > '1m'", "d"),
    ("ExecutionDuration >= '1m'", "b d"),
    ("ExecutionDuration < '00:00:02'", "c g"),
    ("ExecutionDuration = 60000000000", "b"),
    ("ExecutionDuration BETWEEN '5s' AND '1h'", "b d h"),
    ("ExecutionDuration IS NULL", "a e"),
    ("ExecutionStatus = 'Running'", "a e"),
    ("ExecutionStatus = 1", "a e"),
    ("ExecutionStatus = 'WORKFLOW_EXECUTION_STATUS_RUNNING'", "a e"),
    ("ExecutionStatus != 'Running'", "b c d g h"),
    ("ExecutionStatus IN ('Completed', 'Failed')", "b d"),
    ("ExecutionStatus > 'Running'", "b c d g h"),
    ("ExecutionStatus BETWEEN 'Completed' AND 'Canceled'", "b d h"),
    ("ExecutionStatus = 'ContinuedAsNew'", "g"),
    ("ExecutionStatus = 'Canceled'", "h"),
    ("ExecutionStatus = 'TimedOut'", ""),
    ("WorkflowId = 'a'", "a"),
    ("ScheduleId = 'a'", "a"),
    ("RunId = 'run-a'", "a"),
    ("WorkflowType = 'Probe'", ALL),
    ("TaskQueue = 'tq' AND HistoryLength > 0", ALL),
    ("ParentWorkflowId = 'a'", "g"),
    ("ParentWorkflowId IS NULL", "a b c d e h"),
    # predefined attributes, the namespace division
    ("TemporalChangeVersion = 'v1'", "g"),
    ("ChangeVersion = 'v1'", "g"),
    ("BuildIds IN ('b1')", "g"),
    ("TemporalPauseInfo = 'x'", ""),
    ("TemporalPauseInfo != 'x'", ALL),
    ("TemporalPauseInfo IS NULL", ALL),
    ("BatcherNamespace = 'x'", ""),
    ("BatcherNamespace != 'x'", ""),
    ("NOT BatcherNamespace = 'x'", ""),
    ("BatcherNamespace = 'x' OR MyInt = 5", "a"),
    ("TemporalNamespaceDivision = 'TemporalScheduler'", "f"),
    ("TemporalNamespaceDivision IS NOT NULL", "f"),
    ("MyKw = 'alpha' OR TemporalNamespaceDivision = 'zz'", "a f"),
    ("NamespaceDivision IS NULL", ALL),
    # logic
    ("MyKw = 'alpha' OR MyKw = 'Alpha' AND MyInt = 5", "a"),
    ("(MyKw = 'alpha' OR MyKw = 'Alpha') AND MyInt = 10", "b"),
    ("NOT MyKw = 'alpha'", "b d e g h"),
    ("NOT NOT MyKw = 'alpha'", "a"),
    ("NOT (MyKw = 'alpha' OR MyInt = 10)", "d e"),  # NULL MyInt: unknown
    ("MyKw = 'alpha' || MyKw = 'Alpha'", "a b"),
    ("MyKw = 'alpha' && MyInt = 5", "a"),
    ("MyKw IN ('alpha') AND NOT MyKw NOT IN ('alpha')", "a"),
    ("my_kw_is_not_here = 1 OR 1 = 1", "ERROR"),
    # injection attempts are plain values
    ("MyKw = 'x'' OR ''1''=''1'", ""),
    ("MyKw = '; DROP TABLE executions_visibility; --'", ""),
    ("MyText = ''' OR 1=1 --'", ""),
    ("MyKwl = '\"]'", ""),
    # ordering (missing values last, run_id breaks ties)
    ("ORDER BY StartTime DESC", "h g e d c b a"),
    ("MyInt >= -100 ORDER BY MyInt", "d e a b"),
    ("ORDER BY MyInt DESC", "b a e d h g c"),
    ("ORDER BY MyKw", "b a e d h g c"),
    ("ORDER BY ExecutionStatus, WorkflowId DESC", "e a b d h c g"),
    ("ORDER BY BatcherNamespace", ALL),
]


def _ids(expected: str) -> list[str]:
    return expected.split()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def table(request: pytest.FixtureRequest) -> Iterator[Table]:
    if request.param == "sqlite":
        t = sqlite_table()
    else:
        conn: Any = request.getfixturevalue("pg_connection")
        t = Table("postgresql", conn)
    t.insert(ROWS)
    yield t
    t.execute("DROP TABLE executions_visibility")


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[q or "<empty>" for q, _ in CASES])
def test_query_returns_expected_runs(table: Table, query: str, expected: str) -> None:
    if expected == "ERROR":
        with pytest.raises(Exception, match="invalid query"):
            compile_query(query, aliases=ALIASES, dialect=table.dialect)
        return
    compiled = compile_query(query, aliases=ALIASES, dialect=table.dialect)
    ids = table.ids(compiled)
    if compiled.order_by:
        assert ids == _ids(expected)
    else:
        assert sorted(ids) == sorted(_ids(expected))


COUNTS: list[tuple[str, dict[tuple[Any, ...], int]]] = [
    ("", {(): 7}),
    ("MyInt > -10", {(): 4}),
    ("GROUP BY ExecutionStatus", {(1,): 2, (2,): 1, (3,): 1, (4,): 1, (5,): 1, (6,): 1}),
    ("MyInt > -10 GROUP BY ExecutionStatus", {(1,): 2, (2,): 1, (3,): 1}),
    ("MyInt > -10 ORDER BY StartTime", {(): 4}),
]


@pytest.mark.parametrize(("query", "expected"), COUNTS)
def test_count_groups(table: Table, query: str, expected: dict[tuple[Any, ...], int]) -> None:
    compiled = compile_query(query, aliases=ALIASES, dialect=table.dialect, for_count=True)
    assert table.counts(compiled) == expected


def test_injection_leaves_the_table_alone(table: Table) -> None:
    compiled = compile_query(
        "MyKw = 'a''; DELETE FROM executions_visibility; --'",
        aliases=ALIASES,
        dialect=table.dialect,
    )
    assert "DELETE" not in compiled.where
    assert table.ids(compiled) == []
    assert len(table.ids(compile_query("", aliases=ALIASES, dialect=table.dialect))) == 7
