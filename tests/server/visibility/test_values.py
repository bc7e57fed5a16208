"""Value conversions: datetimes, durations, statuses, Text tokens and Go-style printing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from perdure.server.visibility.values import (
    INT64_MAX,
    INT64_MIN,
    STATUS_BY_NAME,
    go_format,
    parse_datetime,
    parse_duration,
    status_name,
    text_column_value,
    text_match_phrases,
    text_tokens,
)

S = 1_000_000_000


def _nanos(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp()) * S


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("2024-01-01T00:00:00Z", _nanos(2024, 1, 1)),
        ("2024-01-01T01:30:00+01:30", _nanos(2024, 1, 1)),
        ("2023-12-31T23:00:00-01:00", _nanos(2024, 1, 1)),
        ("2024-02-29T12:00:00.5Z", _nanos(2024, 2, 29, 12) + S // 2),
        ("2024-01-01T00:00:00.123456789Z", _nanos(2024, 1, 1) + 123456789),
        ("2024-01-01T00:00:00.1234567891Z", _nanos(2024, 1, 1) + 123456789),  # truncated
        ("1969-12-31T23:59:59Z", -S),
        ("1970-01-01T00:00:00Z", 0),
        ("9999-12-31T23:59:59Z", INT64_MAX),  # past 2262: clamped, order kept
        ("0001-01-01T00:00:00Z", INT64_MIN),
    ],
)
def test_parse_datetime(text: str, nanos: int) -> None:
    assert parse_datetime(text) == nanos


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-01",
        "2024-01-01T00:00:00",
        "2024-01-01 00:00:00Z",
        "2024-01-01t00:00:00z",
        "2024-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:60:00Z",
        "2024-01-01T00:00:00+25:00",
        "2024-01-01T00:00:00.Z",
        " 2024-01-01T00:00:00Z",
        "abc",
    ],
)
def test_parse_datetime_rejects(text: str) -> None:
    assert parse_datetime(text) is None


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("10", 10),
        ("0", 0),
        ("-5", -5),
        ("1:2:3", (3600 + 120 + 3) * S),
        ("100:00:00", 100 * 3600 * S),
        ("00:10:00", 600 * S),
        ("1h30m", 5400 * S),
        ("1.5h", 5400 * S),
        ("-1h", -3600 * S),
        ("+2m", 120 * S),
        ("1d", 86400 * S),
        (".5s", S // 2),
        ("1.s", S),
        ("300ms", 300_000_000),
        ("1us", 1000),
        ("1µs", 1000),
        ("1μs", 1000),
        ("7ns", 7),
        ("1h1m1s1ms1us1ns", 3661 * S + 1_001_001),
    ],
)
def test_parse_duration(text: str, nanos: int) -> None:
    assert parse_duration(text) == nanos


@pytest.mark.parametrize(
    "text", ["", "abc", "1H", " 1h", "1h 30m", "1.5", "00:60:00", "1:00", ".s", "1x", "-", "h",
             "99999999999h"],
)  # fmt: skip
def test_parse_duration_rejects(text: str) -> None:
    assert parse_duration(text) is None


def test_status_names() -> None:
    assert STATUS_BY_NAME["Running"] == 1
    assert STATUS_BY_NAME["WORKFLOW_EXECUTION_STATUS_RUNNING"] == 1
    assert STATUS_BY_NAME["ContinuedAsNew"] == 6
    assert STATUS_BY_NAME["TimedOut"] == 7
    assert STATUS_BY_NAME["Canceled"] == 4
    assert "running" not in STATUS_BY_NAME and "Cancelled" not in STATUS_BY_NAME
    assert [status_name(n) for n in (0, 1, 2, 3, 4, 5, 6, 7)] == [
        "Unspecified", "Running", "Completed", "Failed", "Canceled", "Terminated",
        "ContinuedAsNew", "TimedOut",
    ]  # fmt: skip
    assert status_name(99) == "99"


def test_text_tokens_fold_case_and_accents_and_split_on_punctuation() -> None:
    assert text_tokens("Café-Bar_1, naïve ÉCOLE straße") == [
        "cafe", "bar", "1", "naive", "ecole", "strasse",
    ]  # fmt: skip
    assert text_tokens("!!! --- ") == []
    assert text_column_value("Hello, World!") == " hello world "
    assert text_column_value("") == "  "


def test_text_match_phrases() -> None:
    assert text_match_phrases("hello-world foo") == ["hello world", "foo"]
    assert text_match_phrases("Foo foo FOO") == ["foo"]
    assert text_match_phrases("!!! bar") == ["bar"]
    assert text_match_phrases("!!!") == []
    assert text_match_phrases("   ") is None
    # A phrase is a substring of the stored form exactly when its tokens are adjacent.
    stored = text_column_value("Hello World foo")
    assert f" {text_match_phrases('world-foo')[0]} " in stored  # type: ignore[index]
    assert f" {text_match_phrases('foo-world')[0]} " not in stored  # type: ignore[index]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (5, "5"),
        (5.0, "5"),
        (5.5, "5.5"),
        (1e20, "1e+20"),
        (1704067200.0, "1.7040672e+09"),
        (1000.0, "1000"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5e-7, "-2.5e-07"),
        (True, "true"),
        (["a", "b"], "[a b]"),
        ([1, 2], "[1 2]"),
        ({"k": 1}, "map[k:1]"),
        (None, "<nil>"),
        ("text", "text"),
    ],
)
def test_go_format(value: object, shown: str) -> None:
    assert go_format(value) == shown
