"""Conversions of search attribute values to their stored form, shared by queries and rows.

Datetimes become int nanoseconds since the epoch, durations int nanoseconds, execution
statuses `WorkflowExecutionStatus` numbers, Text a normalized token string. The parsers are
as strict as Temporal's (Go's RFC3339Nano and duration syntax), so a value the real server
rejects is rejected here too.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from fractions import Fraction

from temporalio.api.enums.v1 import WorkflowExecutionStatus

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# --------------------------------------------------------------------------- statuses


def _camel(enum_name: str) -> str:
    suffix = enum_name.removeprefix("WORKFLOW_EXECUTION_STATUS_")
    return "".join(part.capitalize() for part in suffix.split("_"))


STATUS_BY_NAME: dict[str, int] = {}
"""'Running' and 'WORKFLOW_EXECUTION_STATUS_RUNNING' -> 1, and so on (names are exact)."""
STATUS_NAMES: dict[int, str] = {}
"""1 -> 'Running': how Temporal spells a status in queries and GROUP BY results."""

for _name, _number in WorkflowExecutionStatus.items():
    STATUS_BY_NAME[_name] = _number
    STATUS_BY_NAME[_camel(_name)] = _number
    STATUS_NAMES[_number] = _camel(_name)


def status_name(status: int) -> str:
    """The name a GROUP BY ExecutionStatus count reports for a stored status number."""
    return STATUS_NAMES.get(status, str(status))


# --------------------------------------------------------------------------- datetimes

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def clamp_int64(value: int) -> int:
    """Keep nanoseconds inside a SQL BIGINT; order against stored values is preserved."""
    return max(INT64_MIN, min(INT64_MAX, value))


def parse_datetime(text: str) -> int | None:
    """RFC3339 with optional fraction and a mandatory zone -> nanoseconds, else None.

    Like Go's time.RFC3339Nano: '2024-01-01' or a missing zone is rejected; digits past
    nanoseconds are truncated; years past 2262 are clamped to the int64 range.
    """
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    if not 1 <= month <= 12 or hour > 23 or minute > 59 or second > 59:
        return None
    if not 1 <= day <= _days_in_month(year, month):
        return None
    offset = 0
    if m.group(8) is None:
        off_h, off_m = int(m.group(10)), int(m.group(11))
        if off_h > 23 or off_m > 59:
            return None
        offset = (off_h * 3600 + off_m * 60) * (1 if m.group(9) == "+" else -1)
    days = _days_from_civil(year, month, day)
    seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset
    fraction = (m.group(7) or "")[:9].ljust(9, "0")
    return clamp_int64(seconds * 1_000_000_000 + int(fraction))


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (any year >= 0)."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


# --------------------------------------------------------------------------- durations

_UNITS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
    "d": 86400 * 1_000_000_000,  # Temporal's extension of Go's syntax
}
_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?([a-z\u00b5\u03bc]+)")
_CLOCK = re.compile(r"(\d+):(\d{1,2}):(\d{1,2})", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)


def parse_duration(text: str) -> int | None:
    """An ExecutionDuration value -> nanoseconds, else None.

    Accepts what Temporal's query converter accepts: a bare integer (nanoseconds), 'hh:mm:ss'
    (hours unbounded, minutes and seconds below 60), or Go's duration syntax with a 'd' unit
    ('1h30m', '1.5h', '-2d', '300ms').
    """
    if _INTEGER.fullmatch(text):
        return _checked(int(text))
    clock = _CLOCK.fullmatch(text)
    if clock is not None:
        hours, minutes, seconds = (int(g) for g in clock.groups())
        if minutes > 59 or seconds > 59:
            return None
        return _checked((hours * 3600 + minutes * 60 + seconds) * 1_000_000_000)
    sign = 1
    rest = text
    if rest[:1] in ("+", "-"):
        sign = -1 if rest[0] == "-" else 1
        rest = rest[1:]
    if not rest:
        return None
    total = Fraction(0)
    pos = 0
    while pos < len(rest):
        m = _DURATION_PART.match(rest, pos)
        if m is None or (not m.group(1) and not m.group(2)) or m.group(3) not in _UNITS:
            return None
        whole = int(m.group(1) or "0")
        frac = Fraction(int(m.group(2)), 10 ** len(m.group(2))) if m.group(2) else Fraction(0)
        total += (whole + frac) * _UNITS[m.group(3)]
        pos = m.end()
    return _checked(sign * int(total))


def _checked(nanos: int) -> int | None:
    return nanos if INT64_MIN <= nanos <= INT64_MAX else None


# --------------------------------------------------------------------------- text

_TOKEN = re.compile(r"[^\W_]+")


def text_tokens(text: str) -> list[str]:
    """Words of a Text value as full-text search sees them.

    Case-folded, accents removed, split on anything that is not a letter or digit (like
    SQLite FTS5's unicode61 tokenizer, which Temporal's dev server uses): 'Café-Bar_1'
    -> ['cafe', 'bar', '1'].
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _TOKEN.findall(stripped)


def text_column_value(text: str) -> str:
    """The stored form of a Text value: its tokens, space-separated, with a space at each
    end, so that a phrase is a plain substring (' hello world ') for LIKE '% hello %'."""
    return " " + " ".join(text_tokens(text)) + " "


def text_match_phrases(query: str) -> list[str] | None:
    """The phrases a Text `=` filter matches any of, None when the value has no words.

    Temporal splits the filter value on whitespace and ORs the pieces, each a phrase of
    its tokens ('hello-world foo' matches rows with the phrase 'hello world' or the word
    'foo'). Pieces without a letter or digit match nothing and are dropped.
    """
    pieces = query.split()
    if not pieces:
        return None
    phrases: list[str] = []
    for piece in pieces:
        tokens = text_tokens(piece)
        phrase = " ".join(tokens)
        if tokens and phrase not in phrases:
            phrases.append(phrase)
    return phrases


# --------------------------------------------------------------------------- messages


def go_format(value: object) -> str:
    """A value spelled the way Temporal's (Go) error messages print it with %v."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, list):
        return "[" + " ".join(go_format(v) for v in value) + "]"
    if isinstance(value, dict):
        items = " ".join(f"{k}:{go_format(v)}" for k, v in sorted(value.items()))
        return f"map[{items}]"
    return str(value)


def _go_float(value: float) -> str:
    """Go's %v for float64: shortest digits, exponent form when exp < -4 or exp >= 6."""
    if value != value or value in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}[repr(value)]
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits)) or "0"
    exp10 = len(mantissa) - 1 + exponent
    prefix = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:
        body = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
        return f"{prefix}{body}e{'+' if exp10 >= 0 else '-'}{abs(exp10):02d}"
    return prefix + format(Decimal(repr(value)).normalize(), "f")


def go_type(value: object) -> str:
    """The Go type name Temporal reports for a query literal of this Python type."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return "string"
