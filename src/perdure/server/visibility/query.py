"""Temporal's visibility query language: lexer, parser and syntax tree.

The language is the WHERE clause of a MySQL SELECT plus ORDER BY / GROUP BY, with
Temporal's STARTS_WITH operator. The parser knows names only as identifiers; which names
exist and what values they take is the compiler's business (sql.py).

Syntax errors read like the real server's ("invalid query: malformed SQL query: syntax
error at position N near 'x'"), except that N is the 1-based column of the offending token
in the caller's query (Temporal counts from an internal SELECT prefix).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn, TypeAlias

from perdure.server.errors import InvalidArgument

Value: TypeAlias = str | int | float | bool

# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class Comparison:
    """`column op value`; op is one of = != < <= > >= and the unsupported LIKE family,
    kept so that the compiler can name the attribute's type in its refusal."""

    column: Column
    op: str
    value: Value


@dataclass(frozen=True, slots=True)
class InList:
    column: Column
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Between:
    column: Column
    low: Value
    high: Value
    negated: bool = False


@dataclass(frozen=True, slots=True)
class StartsWith:
    column: Column
    prefix: Value
    negated: bool = False


@dataclass(frozen=True, slots=True)
class IsNull:
    column: Column
    negated: bool = False


@dataclass(frozen=True, slots=True)
class And:
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Or:
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr


Expr: TypeAlias = Comparison | InList | Between | StartsWith | IsNull | And | Or | Not


@dataclass(frozen=True, slots=True)
class OrderItem:
    column: Column
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    where: Expr | None = None
    order_by: tuple[OrderItem, ...] = ()
    group_by: tuple[Column, ...] = ()


def columns_of(expr: Expr | None) -> list[Column]:
    """Every column an expression mentions, left to right."""
    if expr is None:
        return []
    if isinstance(expr, And | Or):
        return columns_of(expr.left) + columns_of(expr.right)
    if isinstance(expr, Not):
        return columns_of(expr.operand)
    return [expr.column]


# --------------------------------------------------------------------------- errors

INVALID_QUERY = "invalid query"


def invalid_expression(detail: str) -> InvalidArgument:
    return InvalidArgument(f"{INVALID_QUERY}: invalid expression: {detail}")


def not_supported(detail: str) -> InvalidArgument:
    return InvalidArgument(f"{INVALID_QUERY}: operation is not supported: {detail}")


# --------------------------------------------------------------------------- lexer


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "ident", "string", "number", "keyword", "op", "eof"
    text: str  # keywords upper-cased; identifiers and strings unquoted
    pos: int  # 0-based offset in the query
    raw: str  # the source text, for messages


_KEYWORD_TEXT = """AND OR NOT IN BETWEEN IS NULL TRUE FALSE STARTS_WITH LIKE REGEXP RLIKE ORDER
GROUP BY ASC DESC LIMIT OFFSET XOR SELECT FROM WHERE HAVING UNION INSERT UPDATE DELETE DROP
CREATE ALTER CASE WHEN THEN ELSE END EXISTS INTERVAL DIV MOD ESCAPE"""
KEYWORDS = frozenset(_KEYWORD_TEXT.split())
"""Reserved words: a column with one of these names must be quoted with backticks."""
_OPERATORS = ("<=>", "<>", "!=", "<=", ">=", "&&", "||", "=", "<", ">", "(", ")", ",", ";",
              "+", "-", "*", "/", "!", ".", "%", "^", "&", "|", "~")  # fmt: skip
_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}


def _ident_start(ch: str) -> bool:
    return ch.isalpha() or ch in "_$" or ord(ch) >= 0x80


def _ident_part(ch: str) -> bool:
    return _ident_start(ch) or ch.isdigit()


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def syntax_error(self, pos: int, near: str = "") -> NoReturn:
        where = f" near '{near}'" if near else ""
        raise InvalidArgument(
            f"{INVALID_QUERY}: malformed SQL query: syntax error at position {pos + 1}{where}"
        )

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        while True:
            token = self._next()
            out.append(token)
            if token.kind == "eof":
                return out

    def _skip_space_and_comments(self) -> None:
        text = self.text
        while self.i < len(text):
            ch = text[self.i]
            if ch.isspace():
                self.i += 1
            elif text.startswith("--", self.i) or ch == "#":
                end = text.find("\n", self.i)
                self.i = len(text) if end < 0 else end + 1
            elif text.startswith("/*", self.i):
                end = text.find("*/", self.i + 2)
                if end < 0:
                    self.syntax_error(self.i, text[self.i :])
                self.i = end + 2
            else:
                return

    def _next(self) -> Token:
        self._skip_space_and_comments()
        text, start = self.text, self.i
        if start >= len(text):
            return Token("eof", "", start, "")
        ch = text[start]
        if ch in "'\"":
            value = self._quoted(ch, backslash=True)
            return Token("string", value, start, text[start : self.i])
        if ch == "`":
            value = self._quoted("`", backslash=False)
            if not value:
                self.syntax_error(start, "``")
            return Token("ident", value, start, text[start : self.i])
        if ch.isdigit() or (ch == "." and text[start + 1 : start + 2].isdigit()):
            return self._number()
        if _ident_start(ch):
            while self.i < len(text) and (_ident_part(text[self.i]) or text[self.i] == "."):
                self.i += 1
            word = text[start : self.i]
            if word.upper() in KEYWORDS:
                return Token("keyword", word.upper(), start, word)
            return Token("ident", word, start, word)
        for op in _OPERATORS:
            if text.startswith(op, start):
                self.i += len(op)
                return Token("op", op, start, op)
        self.syntax_error(start, ch)

    def _quoted(self, quote: str, *, backslash: bool) -> str:
        text = self.text
        start = self.i
        self.i += 1
        out: list[str] = []
        while self.i < len(text):
            ch = text[self.i]
            if ch == quote:
                if text[self.i + 1 : self.i + 2] == quote:  # doubled quote
                    out.append(quote)
                    self.i += 2
                    continue
                self.i += 1
                return "".join(out)
            if ch == "\\" and backslash and self.i + 1 < len(text):
                nxt = text[self.i + 1]
                # MySQL keeps the backslash of \% and \_ (they matter to LIKE only).
                out.append(_ESCAPES.get(nxt, "\\" + nxt if nxt in "%_" else nxt))
                self.i += 2
                continue
            out.append(ch)
            self.i += 1
        self.syntax_error(start, text[start + 1 :])

    def _number(self) -> Token:
        text, start = self.text, self.i
        while self.i < len(text) and text[self.i].isdigit():
            self.i += 1
        if self.i < len(text) and text[self.i] == ".":
            self.i += 1
            while self.i < len(text) and text[self.i].isdigit():
                self.i += 1
        if self.i < len(text) and text[self.i] in "eE":
            j = self.i + 1
            if j < len(text) and text[j] in "+-":
                j += 1
            if j < len(text) and text[j].isdigit():
                self.i = j
                while self.i < len(text) and text[self.i].isdigit():
                    self.i += 1
        while self.i < len(text) and _ident_part(text[self.i]):
            self.i += 1  # '0x10', '1abc': reported as an unparsable value below
        raw = text[start : self.i]
        return Token("number", raw, start, raw)


# --------------------------------------------------------------------------- parser

_COMPARISONS = frozenset({"=", "!=", "<>", "<", "<=", ">", ">=", "<=>"})
_PATTERN_OPS = frozenset({"LIKE", "REGEXP", "RLIKE"})


def parse_query(text: str) -> Query:
    """Parse a List/Count/Scan query; raises InvalidArgument on any malformed input."""
    return _Parser(text).query()


class _Parser:
    def __init__(self, text: str) -> None:
        self.lexer = _Lexer(text)
        self.tokens = self.lexer.tokens()
        self.k = 0

    # helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.k]

    def advance(self) -> Token:
        token = self.tokens[self.k]
        if token.kind != "eof":
            self.k += 1
        return token

    def at(self, kind: str, *texts: str) -> bool:
        return self.tok.kind == kind and (not texts or self.tok.text in texts)

    def accept(self, kind: str, *texts: str) -> bool:
        if self.at(kind, *texts):
            self.advance()
            return True
        return False

    def expect(self, kind: str, *texts: str) -> Token:
        if not self.at(kind, *texts):
            self.fail()
        return self.advance()

    def fail(self, token: Token | None = None) -> NoReturn:
        token = token or self.tok
        self.lexer.syntax_error(token.pos, token.raw)

    # grammar
    def query(self) -> Query:
        where: Expr | None = None
        if not self.at("eof") and not self.at("keyword", "ORDER", "GROUP", "LIMIT"):
            if self.at("op", ";"):
                self.fail()
            where = self.disjunction()
        group_by: list[Column] = []
        if self.accept("keyword", "GROUP"):
            self.expect("keyword", "BY")
            group_by.append(self.column())
            while self.accept("op", ","):
                group_by.append(self.column())
        order_by: list[OrderItem] = []
        if self.accept("keyword", "ORDER"):
            self.expect("keyword", "BY")
            order_by.append(self.order_item())
            while self.accept("op", ","):
                order_by.append(self.order_item())
        if self.at("keyword", "LIMIT"):
            raise not_supported("'LIMIT' clause")
        self.accept("op", ";")
        if not self.at("eof"):
            self.fail()
        return Query(where, tuple(order_by), tuple(group_by))

    def column(self) -> Column:
        token = self.expect("ident")
        return Column(token.text, token.pos)

    def order_item(self) -> OrderItem:
        column = self.column()
        if self.accept("keyword", "DESC"):
            return OrderItem(column, descending=True)
        self.accept("keyword", "ASC")
        return OrderItem(column)

    def disjunction(self) -> Expr:
        expr = self.conjunction()
        while self.accept("keyword", "OR") or self.accept("op", "||"):
            expr = Or(expr, self.conjunction())
        return expr

    def conjunction(self) -> Expr:
        expr = self.negation()
        while self.accept("keyword", "AND") or self.accept("op", "&&"):
            expr = And(expr, self.negation())
        return expr

    def negation(self) -> Expr:
        if self.accept("keyword", "NOT"):
            return Not(self.negation())
        if self.accept("op", "("):
            expr = self.disjunction()
            self.expect("op", ")")
            return expr
        return self.predicate()

    def predicate(self) -> Expr:
        token = self.tok
        if token.kind in ("string", "number") or self.at("keyword", "TRUE", "FALSE"):
            self.advance()
            if self.tok.kind in ("op", "keyword") and self.tok.text not in ("AND", "OR", ")"):
                raise invalid_expression(f"must be a column name but was {token.raw}")
            raise not_supported(f"expression {token.raw} is not a condition")
        if token.kind != "ident":
            self.fail()
        column = self.column()
        tok = self.tok
        if tok.kind == "op" and tok.text in _COMPARISONS:
            self.advance()
            op = "!=" if tok.text == "<>" else tok.text
            return Comparison(column, op, self.value())
        negated = self.accept("keyword", "NOT")
        if self.accept("keyword", "IN"):
            self.expect("op", "(")
            values = [self.value()]
            while self.accept("op", ","):
                values.append(self.value())
            self.expect("op", ")")
            return InList(column, tuple(values), negated)
        if self.accept("keyword", "BETWEEN"):
            low = self.value()
            self.expect("keyword", "AND")
            return Between(column, low, self.value(), negated)
        if self.accept("keyword", "STARTS_WITH"):
            return StartsWith(column, self.value(), negated)
        if self.at("keyword", *_PATTERN_OPS):
            op = self.advance().text
            return Comparison(column, f"NOT {op}" if negated else op, self.value())
        if negated:
            self.fail()
        if self.accept("keyword", "IS"):
            is_not = self.accept("keyword", "NOT")
            if not self.accept("keyword", "NULL"):
                if self.at("keyword", "TRUE", "FALSE"):
                    raise invalid_expression(
                        "'IS' operator can only be used as 'IS NULL' or 'IS NOT NULL'"
                    )
                self.fail()
            return IsNull(column, is_not)
        if (
            self.at("eof")
            or self.at("keyword", "AND", "OR", "ORDER", "GROUP", "LIMIT")
            or (self.at("op", ")", "&&", "||", ";"))
        ):
            raise invalid_expression(f"incomplete expression: '{column.name}' needs an operator")
        self.fail()

    def value(self) -> Value:
        token = self.tok
        if token.kind == "string":
            self.advance()
            return token.text
        if self.accept("keyword", "TRUE"):
            return True
        if self.accept("keyword", "FALSE"):
            return False
        if token.kind == "op" and token.text in ("-", "+"):
            self.advance()
            if self.tok.kind != "number":
                raise invalid_expression(f"unary operator not supported in '{token.text}'")
            number = self.number(self.advance())
            return -number if token.text == "-" else number
        if token.kind == "number":
            return self.number(self.advance())
        if self.at("keyword", "NULL"):
            raise invalid_expression("unexpected value NULL: use IS NULL or IS NOT NULL")
        if token.kind == "ident":
            raise not_supported(
                "column name on the right side of comparison expression "
                f'(did you forget to quote "{token.raw}"?)'
            )
        if self.at("op", "("):
            raise invalid_expression("unexpected parenthesized value: give a single value")
        self.fail()

    @staticmethod
    def number(token: Token) -> int | float:
        raw = token.text
        try:
            if raw.isdigit():
                value = int(raw)
                # Like the real server: integers past int64 are read as floats.
                return value if value < 2**63 else float(value)
            number = float(raw)
        except ValueError:
            raise invalid_expression(f'unable to parse value "{raw}"') from None
        if number in (float("inf"), float("-inf")):
            raise invalid_expression(f'unable to parse value "{raw}"')
        return number
