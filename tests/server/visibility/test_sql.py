"""The compiler: attribute resolution, value conversion, errors and the SQL it emits.

Messages are compared with what the real server (Temporal 1.32 dev server) answers for the
same query; test_databases.py runs the emitted SQL.
"""

from __future__ import annotations

import pytest

from perdure.server.errors import InvalidArgument
from perdure.server.visibility import compile_query
from perdure.server.visibility.sql import prefix_upper_bound
from tests.server.visibility.dataset import ALIASES

TND = "(TemporalNamespaceDivision IS NULL)"


def sql(
    query: str, dialect: str = "sqlite", *, count: bool = False
) -> tuple[str, tuple[object, ...]]:
    compiled = compile_query(query, aliases=ALIASES, dialect=dialect, for_count=count)
    return compiled.where, tuple(compiled.params)


def test_empty_query_only_hides_other_namespace_divisions() -> None:
    compiled = compile_query("", aliases={}, dialect="sqlite")
    assert (compiled.where, tuple(compiled.params), compiled.order_by) == (TND, (), "")


def test_simple_comparison() -> None:
    assert sql("MyKw = 'a'") == (f"(Keyword01 = ?) AND {TND}", ("a",))
    assert sql("WorkflowId != 'a'") == (f"(workflow_id <> ?) AND {TND}", ("a",))
    assert sql("MyInt IN (1, 2)") == (f"(Int01 IN (?, ?)) AND {TND}", (1, 2))


def test_naming_the_division_drops_the_implicit_filter() -> None:
    for query in (
        "TemporalNamespaceDivision = 'x'",
        "WorkflowId = 'a' OR TemporalNamespaceDivision IS NOT NULL",
        "NamespaceDivision STARTS_WITH 'T'",
    ):
        where, _ = sql(query)
        assert "TemporalNamespaceDivision IS NULL" not in where
        assert where.startswith("(") and where.endswith(")")


def test_values_are_parameters_never_sql_text() -> None:
    evil = "x'); DROP TABLE executions_visibility; --"
    for query in (
        f"MyKw = '{evil.replace(chr(39), chr(39) * 2)}'",
        f'MyText = "{evil}"',
        f'MyKwl IN ("{evil}")',
        f'WorkflowId STARTS_WITH "{evil}"',
    ):
        for dialect in ("sqlite", "postgresql"):
            where, params = sql(query, dialect)
            assert "DROP" not in where
            assert any("drop" in str(p).lower() for p in params)


def test_keyword_order_is_code_points_in_postgres() -> None:
    where, params = sql("MyKw >= 'b'", "postgresql")
    assert where.startswith('(Keyword01 COLLATE "C" >= ?)')
    where, params = sql("MyKw STARTS_WITH 'ab'", "postgresql")
    assert where.startswith('(Keyword01 COLLATE "C" >= ? AND Keyword01 COLLATE "C" < ?)')
    assert params == ("ab", "ac")
    where, params = sql("MyKw STARTS_WITH ''")
    assert where.startswith("(Keyword01 >= ?)") and params == ("",)
    where, _ = sql("ExecutionStatus > 'Running'", "postgresql")
    assert "COLLATE" not in where  # statuses compare as numbers


def test_prefix_upper_bound() -> None:
    assert prefix_upper_bound("abc") == "abd"
    assert prefix_upper_bound("a\U0010ffff") == "b"
    assert prefix_upper_bound("\U0010ffff") is None
    assert prefix_upper_bound("") is None
    assert prefix_upper_bound("a\ud7ff") == "a\ue000"


def test_keyword_list_containment_per_dialect() -> None:
    where, params = sql("MyKwl IN ('x', 'y')")
    assert (
        "EXISTS (SELECT 1 FROM json_each(KeywordList01) WHERE json_each.value IN (?, ?))" in where
    )
    assert params == ("x", "y")
    where, params = sql("MyKwl != 'x'", "postgresql")
    assert where.startswith(
        "(NOT (KeywordList01 IS NOT NULL AND (KeywordList01 @> CAST(? AS jsonb))))"
    )
    assert params == ('["x"]',)


def test_text_match_is_like_on_token_phrases() -> None:
    where, params = sql("MyText = 'Hello-World  foo'")
    assert where.startswith("(Text01 IS NOT NULL AND (Text01 LIKE ? OR Text01 LIKE ?))")
    assert params == ("% hello world %", "% foo %")
    assert sql("MyText = '!!!'")[0].startswith("(1 = 0)")


def test_values_are_converted_to_the_stored_form() -> None:
    assert sql("MyDt > '1970-01-01T00:00:01Z'")[1] == (1_000_000_000,)
    assert sql("MyDt > 5")[1] == (5,)
    assert sql("ExecutionDuration > '1.5s'")[1] == (1_500_000_000,)
    assert sql("ExecutionStatus IN ('Running', 7, 'WORKFLOW_EXECUTION_STATUS_FAILED')")[1] == (
        1, 7, 3,
    )  # fmt: skip
    assert sql("MyDouble = 1")[1] == (1.0,)
    assert type(sql("MyDouble = 1")[1][0]) is float
    assert sql("MyInt = 5.0")[1] == (5,) and type(sql("MyInt = 5.0")[1][0]) is int
    assert sql("MyInt = 5.5")[1] == (5.5,)
    assert sql("MyBool = true")[1] == (True,)


def test_attributes_without_a_column_are_always_null() -> None:
    assert sql("TemporalPauseInfo IS NULL")[0].startswith("(1 = 1)")
    assert sql("TemporalPauseInfo IS NOT NULL")[0].startswith("(1 = 0)")
    assert sql("TemporalPauseInfo = 'x'")[0].startswith("(1 = 0)")
    assert sql("BatcherNamespace > 'x'")[0].startswith("(CAST(NULL AS BOOLEAN))")


def test_shorthand_names() -> None:
    assert sql("ScheduleId = 's'")[0].startswith("(workflow_id = ?)")
    assert sql("ChangeVersion = 'v'")[0].startswith("(EXISTS (SELECT 1 FROM json_each(Temp")
    assert sql("SchedulePaused = true")[0].startswith("(TemporalSchedulePaused = ?)")


def test_custom_alias_wins_and_raw_columns_are_not_names() -> None:
    aliases = {"Keyword03": "Keyword01"}
    compiled = compile_query("Keyword01 = 'x'", aliases=aliases, dialect="sqlite")
    assert compiled.where.startswith("(Keyword03 = ?)")
    with pytest.raises(InvalidArgument, match="invalid search attribute: Keyword02"):
        compile_query("Keyword02 = 'x'", aliases=aliases, dialect="sqlite")


def test_order_by() -> None:
    compiled = compile_query("ORDER BY StartTime DESC, MyKw", aliases=ALIASES, dialect="postgresql")
    assert compiled.order_by == (
        'start_time DESC NULLS LAST, Keyword01 COLLATE "C" ASC NULLS LAST, run_id DESC'
    )
    compiled = compile_query("ORDER BY BatcherNamespace", aliases=ALIASES, dialect="sqlite")
    assert compiled.order_by == ""
    counted = compile_query("ORDER BY StartTime", aliases=ALIASES, dialect="sqlite", for_count=True)
    assert counted.order_by == ""


def test_group_by_only_for_counts() -> None:
    counted = compile_query(
        "GROUP BY ExecutionStatus", aliases={}, dialect="sqlite", for_count=True
    )
    assert tuple(counted.group_by) == ("status",)
    listed = compile_query("GROUP BY ExecutionStatus", aliases={}, dialect="sqlite")
    assert tuple(listed.group_by) == ()  # the real server ignores it in List
    assert compile_query("GROUP BY WorkflowType", aliases={}, dialect="sqlite").where == TND


def test_unknown_dialect() -> None:
    with pytest.raises(ValueError, match="unknown SQL dialect 'mysql'"):
        compile_query("", aliases={}, dialect="mysql")


# Messages as the real server words them ("invalid query: " + ...).
ERRORS = [
    ("Foo = 'x'", "invalid search attribute: Foo"),
    ("workflowid = 'x'", "invalid search attribute: workflowid"),
    ("`My Kw` = 'x'", "invalid search attribute: My Kw"),
    ("Status = 'Running'", "invalid search attribute: Status"),
    ("ORDER BY Nope", "invalid search attribute: Nope"),
    ("MyKw = 5", "invalid expression: invalid value type for search attribute MyKw of type "
                 "Keyword: 5 (type: int64)"),
    ("MyKw = true", "MyKw of type Keyword: true (type: bool)"),
    ("MyInt = '5'", 'MyInt of type Int: "5" (type: string)'),
    ("MyInt = true", "MyInt of type Int: true (type: bool)"),
    ("MyDouble = '1.5'", 'MyDouble of type Double: "1.5" (type: string)'),
    ("MyBool = 'true'", 'MyBool of type Bool: "true" (type: string)'),
    ("MyBool = 1", "MyBool of type Bool: 1 (type: int64)"),
    ("MyDt > 1.5", "MyDt of type Datetime: 1.5 (type: float64)"),
    ("MyDt > true", "MyDt of type Datetime: true (type: bool)"),
    ("HistoryLength > '1'", 'HistoryLength of type Int: "1" (type: string)'),
    ("WorkflowId IN ('a', 5)", "WorkflowId of type Keyword: 5 (type: int64)"),
    ("MyDt < '2024-06-01'", "invalid expression: unable to parse datetime '2024-06-01'"),
    ("MyDt = 'abc'", "unable to parse datetime 'abc'"),
    ("ExecutionStatus = 'running'", "invalid expression: invalid ExecutionStatus value 'running'"),
    ("ExecutionStatus = 'Cancelled'", "invalid ExecutionStatus value 'Cancelled'"),
    ("ExecutionStatus = 99", "invalid ExecutionStatus value 99"),
    ("ExecutionStatus = 2.0", "unexpected value type float64 for search attribute ExecutionStatus"),
    ("ExecutionStatus = true", "ExecutionStatus of type Keyword: true (type: bool)"),
    ("ExecutionDuration < 'abc'", "invalid duration value for search attribute "
                                  "ExecutionDuration: abc"),
    ("ExecutionDuration < '00:60:00'", "ExecutionDuration: 00:60:00"),
    ("ExecutionDuration < 1.5", "unexpected value type float64 for search attribute "
                                "ExecutionDuration"),
    ("MyKw LIKE 'a%'", "operation is not supported: operator 'LIKE' not supported for Keyword "
                       "type search attribute 'MyKw'"),
    ("WorkflowId NOT LIKE 'x'", "operator 'NOT LIKE' not supported for Keyword type search "
                                "attribute 'WorkflowId'"),
    ("WorkflowId REGEXP 'x'", "operator 'REGEXP' not supported for Keyword"),
    ("MyKw <=> 'x'", "operator '<=>' not supported for Keyword"),
    ("MyText IN ('hello')", "operator 'IN' not supported for Text type search attribute 'MyText'"),
    ("MyText > 'a'", "operator '>' not supported for Text type search attribute 'MyText'"),
    ("MyText STARTS_WITH 'hel'", "operator 'STARTS_WITH' not supported for Text type"),
    ("MyText BETWEEN 'a' AND 'b'", "operator 'BETWEEN' not supported for Text type"),
    ("MyKwl > 'x'", "operator '>' not supported for KeywordList type search attribute 'MyKwl'"),
    ("MyKwl STARTS_WITH 'x'", "operator 'STARTS_WITH' not supported for KeywordList"),
    ("MyKwl BETWEEN 'a' AND 'z'", "invalid expression: cannot do range condition on search "
                                  "attribute 'MyKwl' of type KeywordList"),
    ("MyInt STARTS_WITH '5'", "operator 'STARTS_WITH' not supported for Int type"),
    ("ExecutionStatus STARTS_WITH 'Run'", "operator 'STARTS_WITH' not supported for Keyword"),
    ("MyText = ''", "invalid expression: no tokens found filtering on Text type search "
                    "attribute MyText"),
    ("MyKw = 'a\\0b'", "contains a NUL character"),
    ("ORDER BY MyText", "operation is not supported: unable to sort by search attribute type Text"),
    ("ORDER BY MyKwl", "unable to sort by search attribute type KeywordList"),
]  # fmt: skip

COUNT_ERRORS = [
    ("GROUP BY WorkflowType", "operation is not supported: 'GROUP BY' clause is not supported "
                              "for search attribute WorkflowType"),
    ("GROUP BY MyKw", "'GROUP BY' clause is not supported for search attribute MyKw"),
    ("GROUP BY ExecutionStatus, WorkflowType", "operation is not supported: 'GROUP BY' clause "
                                               "supports only a single field"),
    ("GROUP BY Nope", "invalid search attribute: Nope"),
]  # fmt: skip


@pytest.mark.parametrize(("query", "message"), ERRORS + COUNT_ERRORS)
@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_errors(query: str, message: str, dialect: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        compile_query(query, aliases=ALIASES, dialect=dialect, for_count=True)
    assert info.value.message.startswith("invalid query: ")
    assert message in info.value.message
