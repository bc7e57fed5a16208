"""What differs between the SQL dialects: type names, placeholders, JSON columns.

Everything else (tables, statements, commit plans, row decoding) is shared and written
once with `?` placeholders; a dialect renders it for its database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Dialect:
    """One SQL dialect's spelling of the shared schema and statements."""

    name: str
    types: Mapping[str, str]
    """Logical type marker (INT, BLOB, ...) -> the dialect's DDL."""
    format_placeholders: bool
    """True when the driver wants `%s` (psycopg) instead of `?` (sqlite3)."""
    json_param: str
    """How a KeywordList value (a JSON array as text) is bound: "?" or "?::jsonb"."""
    json_index: str
    """DDL after `ON table` for a KeywordList index ({col}), "" for none."""
    text_index: str
    """DDL after `ON table` for a Text index serving LIKE '% phrase %', "" for none."""
    prelude: tuple[str, ...] = ()
    """Statements the first migration runs before creating tables (extensions)."""
    functions: tuple[str, ...] = ()
    """Server-side helper functions the schema creates (PostgreSQL's row-count check)."""

    def render(self, template: str) -> str:
        """Fill a DDL template's type markers."""
        return template.format_map(self.types)

    def sql(self, qmark_sql: str) -> str:
        """Turn shared `?`-placeholder SQL into this dialect's placeholder style."""
        return qmark_to_format(qmark_sql) if self.format_placeholders else qmark_sql


def qmark_to_format(sql: str) -> str:
    """Rewrite `?` placeholders as `%s` and escape `%`, leaving quoted text alone."""
    out: list[str] = []
    quote = ""
    for ch in sql:
        if quote:
            if ch == quote:
                quote = ""
            out.append("%%" if ch == "%" else ch)
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


SQLITE = Dialect(
    name="sqlite",
    types={
        "TEXT": "TEXT",  # BINARY collation: UTF-8 bytes, so code point order
        "INT": "INTEGER",
        "REAL": "REAL",
        "BOOL": "INTEGER",
        "BLOB": "BLOB",
        "JSON": "TEXT",
        "SERIAL_PK": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "GENERATED": "VIRTUAL",
    },
    format_placeholders=False,
    json_param="?",
    # A JSON array in TEXT cannot be searched through a b-tree, nor a substring: those
    # conditions narrow the rows that the other conditions' indexes select.
    json_index="",
    text_index="",
)

POSTGRES = Dialect(
    name="postgresql",
    types={
        # Code point order, as the visibility compiler compares keywords and as SQLite
        # sorts; and byte comparison is the cheapest for keys.
        "TEXT": 'TEXT COLLATE "C"',
        "INT": "BIGINT",
        "REAL": "DOUBLE PRECISION",
        "BOOL": "BOOLEAN",
        "BLOB": "BYTEA",
        "JSON": "JSONB",
        "SERIAL_PK": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "GENERATED": "STORED",
    },
    format_placeholders=True,
    json_param="?::jsonb",
    json_index="USING GIN ({col})",
    text_index="USING GIN ({col} gin_trgm_ops)",
    prelude=("CREATE EXTENSION IF NOT EXISTS pg_trgm",),
    functions=(
        # Fails the statement, and so its implicit transaction, when a conditional write
        # touched the wrong number of rows: the check happens on the server, so a whole
        # plan is sent in one round trip with no BEGIN/COMMIT of its own.
        """CREATE OR REPLACE FUNCTION perdure_expect(
    affected BIGINT, expected BIGINT, code TEXT, message TEXT) RETURNS BIGINT
LANGUAGE plpgsql AS $$
BEGIN
    IF affected <> expected THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
    END IF;
    RETURN affected;
END $$""",
    ),
)
