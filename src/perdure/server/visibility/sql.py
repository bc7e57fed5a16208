"""Compile a parsed visibility query to SQL over the executions_visibility table.

Two dialects, "sqlite" and "postgresql"; both return the same rows for the same query. Values
only ever travel as `?` parameters, and column names come only from store/base.py's sets.

Semantics (as the real server, unless noted):
- Comparisons follow SQL's three-valued logic: `MyKw != 'a'` skips rows without MyKw.
- Keyword order is by code point (PostgreSQL compares with COLLATE "C"); STARTS_WITH is the
  index-friendly range `col >= prefix AND col < next(prefix)`, case-sensitive. (The dev
  server's SQLite LIKE makes it case-insensitive; Temporal on MySQL/PostgreSQL/ES is not.)
- KeywordList `=` means "contains", `IN` "contains any"; `!=`/`NOT IN` are their negation and
  so include rows without a value. Matching is exact (the dev server's FTS5 table folds case).
- Text `=` is a full-text match: the value is split on whitespace, each piece is a phrase of
  its tokens, and a row matches when its text holds any of the phrases. Text columns store
  tokens as ' tok tok ' (see values.text_column_value), so a phrase is `LIKE '% a b %'`; a
  pg_trgm GIN index serves that on PostgreSQL. `!=` is the negation (includes NULL rows).
- ExecutionStatus compares by status number ('Running' < 'Completed' as 1 < 2).
- Unless the query names TemporalNamespaceDivision, only rows without it are returned (this
  hides schedulers' internal workflows, as Temporal does).
- ORDER BY (which Temporal supports only on Elasticsearch) is allowed on every type but Text
  and KeywordList; missing values sort last in both directions, run_id breaks ties.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from perdure.server.errors import InvalidArgument
from perdure.server.store.base import SqlValue, VisibilityQuery
from perdure.server.visibility import catalog as cat
from perdure.server.visibility.catalog import Attribute
from perdure.server.visibility.query import (
    And,
    Between,
    Column,
    Comparison,
    Expr,
    InList,
    IsNull,
    Not,
    Or,
    Query,
    StartsWith,
    Value,
    columns_of,
    invalid_expression,
    not_supported,
    parse_query,
)
from perdure.server.visibility.values import (
    STATUS_BY_NAME,
    STATUS_NAMES,
    clamp_int64,
    go_format,
    go_type,
    parse_datetime,
    parse_duration,
    text_match_phrases,
)

DIALECTS = ("sqlite", "postgresql")

_TRUE = "1 = 1"
_FALSE = "1 = 0"
_UNKNOWN = "CAST(NULL AS BOOLEAN)"  # what any comparison with an always-NULL column yields
_RANGE_OPS = frozenset({"<", "<=", ">", ">="})


def compile_query(
    query: str, *, aliases: Mapping[str, str], dialect: str, for_count: bool = False
) -> VisibilityQuery:
    """Compile a List/Scan (or, with for_count, Count) query for one SQL dialect.

    `aliases` is the namespace's custom search attribute map (column -> user's name).
    Raises InvalidArgument for malformed or unsupported queries, unknown attributes and
    values of the wrong type.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}; expected one of {DIALECTS}")
    return _Compiler(aliases, dialect).compile(parse_query(query), for_count=for_count)


class _Compiler:
    def __init__(self, aliases: Mapping[str, str], dialect: str) -> None:
        self.aliases = aliases
        self.postgres = dialect == "postgresql"
        self.params: list[SqlValue] = []

    def compile(self, query: Query, *, for_count: bool) -> VisibilityQuery:
        clauses: list[str] = []
        if query.where is not None:
            clauses.append(self.expr(query.where))
        division = cat.system_attribute(cat.NAMESPACE_DIVISION)
        named = {self.resolve(c).name for c in columns_of(query.where)}
        if division is not None and division.column and cat.NAMESPACE_DIVISION not in named:
            clauses.append(f"{division.column} IS NULL")
        # Parenthesized, so that the store can AND it to its namespace filter as it is.
        where = " AND ".join(f"({c})" for c in clauses)
        order_by = self.order_by(query)  # validated for counts too, but not used there
        if not for_count:
            return VisibilityQuery(where=where, params=tuple(self.params), order_by=order_by)
        return VisibilityQuery(
            where=where, params=tuple(self.params), group_by=self.group_by(query)
        )

    # ------------------------------------------------------------------ names
    def resolve(self, column: Column) -> Attribute:
        found = cat.resolve_for_query(column.name, self.aliases)
        if found is None:
            raise InvalidArgument(f"invalid query: invalid search attribute: {column.name}")
        return found

    def ordered(self, attr: Attribute) -> str:
        """The column as it compares in order (code points, in both dialects)."""
        assert attr.column is not None
        if self.postgres and attr.type == cat.KEYWORD and attr.name != "ExecutionStatus":
            return f'{attr.column} COLLATE "C"'
        return attr.column

    # ------------------------------------------------------------------ clauses
    def order_by(self, query: Query) -> str:
        parts: list[str] = []
        for item in query.order_by:
            attr = self.resolve(item.column)
            if attr.type in (cat.TEXT, cat.KEYWORD_LIST):
                raise not_supported(f"unable to sort by search attribute type {attr.type}")
            if attr.column is None:
                continue  # always NULL: sorting by it changes nothing
            direction = "DESC" if item.descending else "ASC"
            parts.append(f"{self.ordered(attr)} {direction} NULLS LAST")
        if not parts:
            return ""
        last = "DESC" if query.order_by[0].descending else "ASC"
        return ", ".join([*parts, f"run_id {last}"])

    def group_by(self, query: Query) -> tuple[str, ...]:
        if not query.group_by:
            return ()
        if len(query.group_by) > 1:
            raise not_supported("'GROUP BY' clause supports only a single field")
        attr = self.resolve(query.group_by[0])
        if attr.name != "ExecutionStatus" or attr.column is None:
            raise not_supported(
                f"'GROUP BY' clause is not supported for search attribute {query.group_by[0].name}"
            )
        return (attr.column,)

    # ------------------------------------------------------------------ expressions
    def expr(self, e: Expr) -> str:
        if isinstance(e, And):
            return f"({self.expr(e.left)}) AND ({self.expr(e.right)})"
        if isinstance(e, Or):
            return f"({self.expr(e.left)}) OR ({self.expr(e.right)})"
        if isinstance(e, Not):
            return f"NOT ({self.expr(e.operand)})"
        attr = self.resolve(e.column)
        name = e.column.name
        if isinstance(e, IsNull):
            if attr.column is None:
                return _FALSE if e.negated else _TRUE
            return f"{attr.column} IS {'NOT ' if e.negated else ''}NULL"
        if isinstance(e, Comparison):
            return self.comparison(attr, name, e)
        if isinstance(e, InList):
            self.check_op(attr, name, "NOT IN" if e.negated else "IN")
            values = [self.convert(attr, name, v) for v in e.values]
            return self.membership(attr, values, e.negated)
        if isinstance(e, Between):
            op = "NOT BETWEEN" if e.negated else "BETWEEN"
            if attr.type == cat.KEYWORD_LIST:
                raise invalid_expression(
                    f"cannot do range condition on search attribute '{name}' of type KeywordList"
                )
            self.check_op(attr, name, op)
            low, high = self.convert(attr, name, e.low), self.convert(attr, name, e.high)
            if attr.column is None:
                return _UNKNOWN
            return f"{self.ordered(attr)} {op} {self.param(low)} AND {self.param(high)}"
        assert isinstance(e, StartsWith)
        return self.starts_with(attr, name, e)

    def comparison(self, attr: Attribute, name: str, e: Comparison) -> str:
        self.check_op(attr, name, e.op)
        value = self.convert(attr, name, e.value)
        if e.op in ("=", "!="):
            if attr.type == cat.TEXT:
                assert isinstance(value, str)
                match = self.text_match(attr, name, value)
                return f"NOT ({match})" if e.op == "!=" else match
            return self.membership(attr, [value], negated=e.op == "!=")
        if attr.column is None:
            return _UNKNOWN
        return f"{self.ordered(attr)} {e.op} {self.param(value)}"

    def membership(self, attr: Attribute, values: list[SqlValue], negated: bool) -> str:
        """`=`/IN and `!=`/NOT IN; for KeywordList, containment of any of the values."""
        if attr.type == cat.KEYWORD_LIST:
            contains = self.list_contains(attr, values)
            return f"NOT ({contains})" if negated else contains
        if attr.column is None:
            return _UNKNOWN
        if len(values) == 1:
            return f"{attr.column} {'<>' if negated else '='} {self.param(values[0])}"
        marks = ", ".join(self.param(v) for v in values)
        return f"{attr.column} {'NOT IN' if negated else 'IN'} ({marks})"

    def list_contains(self, attr: Attribute, values: list[SqlValue]) -> str:
        """Two-valued (never NULL), so that its negation includes rows without a list."""
        if attr.column is None:
            return _FALSE
        col = attr.column
        if self.postgres:
            tests = " OR ".join(
                f"{col} @> CAST({self.param(json.dumps([v]))} AS jsonb)" for v in values
            )
            return f"{col} IS NOT NULL AND ({tests})"
        if len(values) == 1:
            test = f"json_each.value = {self.param(values[0])}"
        else:
            test = f"json_each.value IN ({', '.join(self.param(v) for v in values)})"
        return f"EXISTS (SELECT 1 FROM json_each({col}) WHERE {test})"

    def text_match(self, attr: Attribute, name: str, value: str) -> str:
        phrases = text_match_phrases(value)
        if phrases is None:
            raise invalid_expression(
                f"no tokens found filtering on Text type search attribute {name}"
            )
        if attr.column is None or not phrases:
            return _FALSE
        col = attr.column
        tests = " OR ".join(f"{col} LIKE {self.param(f'% {p} %')}" for p in phrases)
        return f"{col} IS NOT NULL AND ({tests})"

    def starts_with(self, attr: Attribute, name: str, e: StartsWith) -> str:
        self.check_op(attr, name, "NOT STARTS_WITH" if e.negated else "STARTS_WITH")
        prefix = self.convert(attr, name, e.prefix)
        assert isinstance(prefix, str)
        if attr.column is None:
            return _UNKNOWN
        col = self.ordered(attr)
        upper = prefix_upper_bound(prefix)
        test = f"{col} >= {self.param(prefix)}"
        if upper is not None:
            test = f"{test} AND {col} < {self.param(upper)}"
        return f"NOT ({test})" if e.negated else test

    def param(self, value: SqlValue) -> str:
        self.params.append(value)
        return "?"

    # ------------------------------------------------------------------ types
    def check_op(self, attr: Attribute, name: str, op: str) -> None:
        if op in _ALLOWED_OPS[attr.type] and not (
            attr.name == "ExecutionStatus" and "STARTS_WITH" in op
        ):
            return
        raise not_supported(f"operator '{op}' not supported for {attr.type} type search "
                            f"attribute '{name}'")  # fmt: skip

    def convert(self, attr: Attribute, name: str, value: Value) -> SqlValue:
        """A query literal -> the column's stored form, or Temporal's error for it."""
        if attr.name == "ExecutionStatus":
            return _status(value)
        if attr.name == "ExecutionDuration":
            return _duration(value)
        kind = attr.type
        if isinstance(value, str) and "\x00" in value:
            raise invalid_expression(f"value of search attribute {name} contains a NUL character")
        if kind in (cat.KEYWORD, cat.TEXT, cat.KEYWORD_LIST) and isinstance(value, str):
            return value
        if kind == cat.BOOL and isinstance(value, bool):
            return value
        if not isinstance(value, bool) and isinstance(value, int | float):
            if kind == cat.DOUBLE:
                return float(value)
            if kind == cat.INT:
                return int(value) if float(value).is_integer() and abs(value) < 2**63 else value
            if kind == cat.DATETIME and isinstance(value, int):
                return clamp_int64(value)
        if kind == cat.DATETIME and isinstance(value, str):
            nanos = parse_datetime(value)
            if nanos is None:
                raise invalid_expression(f"unable to parse datetime '{value}'")
            return nanos
        raise _wrong_type(name, kind, value)


_SCALAR_OPS = frozenset({"=", "!=", "IN", "NOT IN", "BETWEEN", "NOT BETWEEN", *_RANGE_OPS})
_ALLOWED_OPS: Mapping[str, frozenset[str]] = {
    cat.KEYWORD: _SCALAR_OPS | {"STARTS_WITH", "NOT STARTS_WITH"},
    cat.TEXT: frozenset({"=", "!="}),
    cat.KEYWORD_LIST: frozenset({"=", "!=", "IN", "NOT IN"}),
    cat.INT: _SCALAR_OPS,
    cat.DOUBLE: _SCALAR_OPS,
    cat.BOOL: _SCALAR_OPS,
    cat.DATETIME: _SCALAR_OPS,
}


def _wrong_type(name: str, kind: str, value: Value) -> Exception:
    shown = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else go_format(value)
    return invalid_expression(
        f"invalid value type for search attribute {name} of type {kind}: "
        f"{shown} (type: {go_type(value)})"
    )


def _status(value: Value) -> int:
    if isinstance(value, str):
        if value in STATUS_BY_NAME:
            return STATUS_BY_NAME[value]
        raise invalid_expression(f"invalid ExecutionStatus value '{value}'")
    if isinstance(value, bool):
        raise _wrong_type("ExecutionStatus", cat.KEYWORD, value)
    if isinstance(value, int):
        if value in STATUS_NAMES:
            return value
        raise invalid_expression(f"invalid ExecutionStatus value {value}")
    raise invalid_expression(
        f"unexpected value type {go_type(value)} for search attribute ExecutionStatus"
    )


def _duration(value: Value) -> int:
    if isinstance(value, str):
        nanos = parse_duration(value)
        if nanos is None:
            raise invalid_expression(
                f"invalid duration value for search attribute ExecutionDuration: {value}"
            )
        return nanos
    if isinstance(value, bool):
        raise _wrong_type("ExecutionDuration", cat.INT, value)
    if isinstance(value, int):
        return clamp_int64(value)
    raise invalid_expression(
        f"unexpected value type {go_type(value)} for search attribute ExecutionDuration"
    )


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string above every string that starts with `prefix` (code point order),
    None when there is none (empty prefix, or only U+10FFFF characters)."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < 0x10FFFF:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:  # surrogates cannot be stored; skip them
                nxt = 0xE000
            return "".join(chars) + chr(nxt)
    return None
