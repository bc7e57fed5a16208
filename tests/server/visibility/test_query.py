"""The parser: syntax tree shapes, lexing details and error messages."""

from __future__ import annotations

import pytest

from perdure.server.errors import InvalidArgument
from perdure.server.visibility.query import (
    And,
    Between,
    Column,
    Comparison,
    InList,
    IsNull,
    Not,
    Or,
    OrderItem,
    Query,
    StartsWith,
    columns_of,
    parse_query,
)


def where(text: str) -> object:
    return parse_query(text).where


def cmp(name: str, op: str, value: object, pos: int = 0) -> Comparison:
    return Comparison(Column(name, pos), op, value)  # type: ignore[arg-type]


def test_empty_query_has_no_clauses() -> None:
    assert parse_query("") == Query()
    assert parse_query("   \n\t") == Query()


def test_and_binds_tighter_than_or() -> None:
    tree = where("A = 1 OR B = 2 AND C = 3")
    assert isinstance(tree, Or)
    assert tree.left == cmp("A", "=", 1)
    assert tree.right == And(cmp("B", "=", 2, 9), cmp("C", "=", 3, 19))


def test_parentheses_and_not() -> None:
    tree = where("NOT (A = 1 OR B = 2) AND C = 3")
    assert isinstance(tree, And)
    assert tree.left == Not(Or(cmp("A", "=", 1, 5), cmp("B", "=", 2, 14)))
    # NOT applies to the whole comparison, as in MySQL.
    assert where("NOT A = 1") == Not(cmp("A", "=", 1, 4))
    assert where("not not A = 1") == Not(Not(cmp("A", "=", 1, 8)))


def test_symbolic_and_or_and_keywords_in_any_case() -> None:
    assert where("A = 1 && B = 2") == And(cmp("A", "=", 1), cmp("B", "=", 2, 9))
    assert where("A = 1 || B = 2") == Or(cmp("A", "=", 1), cmp("B", "=", 2, 9))
    assert where("A = 1 and B = 2") == where("A = 1 AnD B = 2")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A IN ('x', 'y')", InList(Column("A", 0), ("x", "y"))),
        ("A not in (1)", InList(Column("A", 0), (1,), negated=True)),
        ("A BETWEEN 1 AND 5", Between(Column("A", 0), 1, 5)),
        ("A NOT BETWEEN 'a' AND 'b'", Between(Column("A", 0), "a", "b", negated=True)),
        ("A STARTS_WITH 'pre'", StartsWith(Column("A", 0), "pre")),
        ("A not starts_with 'pre'", StartsWith(Column("A", 0), "pre", negated=True)),
        ("A IS NULL", IsNull(Column("A", 0))),
        ("A is not null", IsNull(Column("A", 0), negated=True)),
        ("A <> 'x'", cmp("A", "!=", "x")),
        ("A != 'x'", cmp("A", "!=", "x")),
        ("A >= 1", cmp("A", ">=", 1)),
        ("A LIKE 'x%'", cmp("A", "LIKE", "x%")),
        ("A NOT LIKE 'x%'", cmp("A", "NOT LIKE", "x%")),
        ("A REGEXP 'x'", cmp("A", "REGEXP", "x")),
    ],
)
def test_predicates(text: str, expected: object) -> None:
    assert where(text) == expected


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'plain'", "plain"),
        ('"double"', "double"),
        ("'it''s'", "it's"),
        ("'it\\'s'", "it's"),
        ('"say ""hi"""', 'say "hi"'),
        ("'a\\nb\\tc'", "a\nb\tc"),
        ("'50\\%'", "50\\%"),
        ("'back\\\\slash'", "back\\slash"),
        ("''", ""),
        ("'ünï ☃'", "ünï ☃"),
        ("42", 42),
        ("-42", -42),
        ("- 42", -42),
        ("+7", 7),
        ("1.5", 1.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("9999999999999999999", 9999999999999999999.0),
        ("true", True),
        ("FALSE", False),
    ],
)
def test_values(literal: str, value: object) -> None:
    tree = where(f"A = {literal}")
    assert isinstance(tree, Comparison)
    assert tree.value == value
    assert type(tree.value) is type(value)


def test_backtick_identifiers_and_dotted_names() -> None:
    assert where("`My Attr` = 1") == cmp("My Attr", "=", 1)
    assert where("`a``b` = 1") == cmp("a`b", "=", 1)
    assert where("`ORDER` = 1") == cmp("ORDER", "=", 1)
    assert where("a.b = 1") == cmp("a.b", "=", 1)


def test_comments_and_trailing_semicolon() -> None:
    expected = cmp("A", "=", 1)
    assert where("A = 1 -- the rest is a comment") == expected
    assert where("A = 1 # MySQL comment") == expected
    assert where("/* c */ A = 1 /* d */") == cmp("A", "=", 1, 8)
    assert where("A = 1;") == expected


def test_order_by_and_group_by() -> None:
    q = parse_query("A = 1 GROUP BY ExecutionStatus ORDER BY StartTime DESC, B asc, C")
    assert q.group_by == (Column("ExecutionStatus", 15),)
    assert q.order_by == (
        OrderItem(Column("StartTime", 40), descending=True),
        OrderItem(Column("B", 56)),
        OrderItem(Column("C", 63)),
    )
    assert parse_query("order by StartTime").where is None


def test_columns_of_lists_every_mention() -> None:
    tree = parse_query("A = 1 AND (NOT B IS NULL OR C IN (1))").where
    assert [c.name for c in columns_of(tree)] == ["A", "B", "C"]
    assert columns_of(None) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("WorkflowId = ", "malformed SQL query: syntax error at position 14"),
        ("WorkflowId = 'wf-a", "syntax error at position 14 near 'wf-a'"),
        ("WorkflowId == 'x'", "syntax error at position 13 near '='"),
        ("A = 'x' AND", "syntax error at position 12"),
        ("(A = 'x'", "syntax error at position 9"),
        ("A IN ()", "syntax error at position 7 near ')'"),
        ("A IN ('x',)", "syntax error at position 11 near ')'"),
        ("A IN 'x'", "syntax error at position 6 near ''x''"),
        ("A = 'x' 'y'", "syntax error at position 9 near ''y''"),
        ("A = 'x'; DROP TABLE t", "syntax error at position 10 near 'DROP'"),
        ("SELECT * FROM t", "syntax error at position 1 near 'SELECT'"),
        ("WHERE A = 1", "syntax error at position 1 near 'WHERE'"),
        ("A = 1 XOR B = 2", "syntax error at position 7 near 'XOR'"),
        ("A IS NOT 'x'", "syntax error at position 10 near ''x''"),
        ("A NOT = 'x'", "syntax error at position 7 near '='"),
        ("A = 'x' GROUP BY", "syntax error at position 17"),
        ("A = 'x' ORDER BY", "syntax error at position 17"),
        ("`A = 1", "syntax error at position 1 near 'A = 1'"),
        ("`` = 1", "syntax error at position 1 near '``'"),
        ("A = 1 /* open", "syntax error at position 7"),
        ("A = @x", "syntax error at position 5 near '@'"),
        (";", "syntax error at position 1 near ';'"),
        ("()", "syntax error at position 2 near ')'"),
        ("A = 1 + 2", "syntax error at position 7 near '+'"),
        ("'wf-a' = WorkflowId", "invalid expression: must be a column name but was 'wf-a'"),
        ("5 > A", "invalid expression: must be a column name but was 5"),
        ("'abc'", "operation is not supported: expression 'abc' is not a condition"),
        ("true", "operation is not supported: expression true is not a condition"),
        ("MyBool", "invalid expression: incomplete expression"),
        ("A = 1 AND (MyBool)", "invalid expression: incomplete expression"),
        ("WorkflowId = RunId", 'column name on the right side of comparison expression '
                               '(did you forget to quote "RunId"?)'),
        ("WorkflowId = `wf-a`", '(did you forget to quote "`wf-a`"?)'),
        ('"MyKw" = 1', "must be a column name but was \"MyKw\""),
        ("A = NULL", "invalid expression: unexpected value NULL"),
        ("A != NULL", "invalid expression: unexpected value NULL"),
        ("A IS TRUE", "'IS' operator can only be used as 'IS NULL' or 'IS NOT NULL'"),
        ("A = -(3)", "invalid expression: unary operator not supported"),
        ("A = 0x10", 'invalid expression: unable to parse value "0x10"'),
        ("A = 1e400", 'invalid expression: unable to parse value "1e400"'),
        ("A STARTS_WITH ('a')", "unexpected parenthesized value"),
        ("A IN (('a'))", "unexpected parenthesized value"),
        ("A = 1 LIMIT 5", "operation is not supported: 'LIMIT' clause"),
        ("ORDER BY A LIMIT 5", "operation is not supported: 'LIMIT' clause"),
    ],
)  # fmt: skip
def test_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_query(text)
    assert info.value.message.startswith("invalid query: ")
    assert message in info.value.message
