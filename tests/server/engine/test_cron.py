"""Cron schedules: parsing as Temporal (robfig/cron) does, and the delay to the next run."""

from __future__ import annotations

import datetime as dt

import pytest

from perdure.server.engine.cron import next_cron_delay, next_time, parse_cron
from perdure.server.errors import InvalidArgument

SECOND = 1_000_000_000
MINUTE = 60 * SECOND


def at(text: str) -> int:
    """Nanoseconds of an ISO time (UTC)."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()) * SECOND


def test_fields_names_ranges_steps() -> None:
    s = parse_cron("5,10-12 */6 1 JAN-MAR mon-fri")
    assert s.minutes == {5, 10, 11, 12}
    assert s.hours == {0, 6, 12, 18}
    assert s.months == {1, 2, 3}
    assert s.days_of_week == {1, 2, 3, 4, 5}
    assert parse_cron("0 0 * * 7").days_of_week == {0}, "7 is Sunday too"
    assert parse_cron("5/20 * * * *").minutes == {5, 25, 45}


def test_descriptors_and_zone() -> None:
    assert parse_cron("@daily").minutes == {0} and parse_cron("@daily").hours == {0}
    assert parse_cron("@every 90s").every == 90 * SECOND
    s = parse_cron("CRON_TZ=America/New_York 0 9 * * *")
    nxt = next_time(s, dt.datetime(2024, 1, 10, 12, 0, tzinfo=dt.UTC))
    assert nxt is not None and nxt.astimezone(dt.UTC).hour == 14, "09:00 EST is 14:00 UTC"


@pytest.mark.parametrize("bad", ["", "* * * *", "61 * * * *", "* * * * * *", "@every x"])
def test_invalid_schedules_are_refused(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="Invalid CronSchedule"):
        parse_cron(bad)


def test_day_fields_combine_with_or_only_when_both_are_restricted() -> None:
    # The 13th, or any Friday.
    s = parse_cron("0 0 13 * 5")
    nxt = next_time(s, dt.datetime(2024, 9, 1, tzinfo=dt.UTC))
    assert nxt == dt.datetime(2024, 9, 6, tzinfo=dt.UTC), "Friday the 6th"
    # `*/2` is a starred field: odd days AND Fridays.
    s = parse_cron("0 0 */2 * 5")
    nxt = next_time(s, dt.datetime(2024, 9, 1, tzinfo=dt.UTC))
    assert nxt == dt.datetime(2024, 9, 13, tzinfo=dt.UTC)


def test_delay_to_the_next_schedule_time() -> None:
    now = at("2024-05-01T12:30:20")
    assert next_cron_delay("0 * * * *", now, now) == 29 * MINUTE + 40 * SECOND
    on_the_hour = at("2024-05-01T13:00:00")
    assert next_cron_delay("0 * * * *", on_the_hour, on_the_hour) == 60 * MINUTE, "after it"


def test_delay_counts_from_the_execution_time_and_skips_missed_times() -> None:
    executed = at("2024-05-01T12:00:00")
    # A run that ended at 12:00:00 exactly on a later schedule time starts the next at once.
    assert next_cron_delay("*/5 * * * *", at("2024-05-01T12:05:00"), executed) == 0
    # A run longer than the period skips the times it missed.
    assert next_cron_delay("*/5 * * * *", at("2024-05-01T12:17:00"), executed) == 3 * MINUTE


def test_every_counts_whole_seconds_from_the_execution_time() -> None:
    executed = at("2024-05-01T12:00:00") + 300_000_000  # .3 s past the second
    assert next_cron_delay("@every 10s", executed, executed) == 10 * SECOND - 300_000_000
    later = executed + 25 * SECOND
    assert next_cron_delay("@every 10s", later, executed) == 5 * SECOND - 300_000_000
    assert next_cron_delay("@every 500ms", executed, executed) == SECOND - 300_000_000
