"""Cron schedules of workflow ids (StartWorkflowExecution.cron_schedule).

Temporal's format: five fields (minute hour day-of-month month day-of-week) with `*`,
lists, ranges and steps, month and weekday names, the descriptors @yearly, @monthly,
@weekly, @daily, @hourly and `@every <duration>`, and an optional `CRON_TZ=<zone>` prefix.
Times are UTC unless a zone is given. When both day fields are restricted, a day matches
if either does (classic cron).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from perdure.server.errors import InvalidArgument

_NANOS = 1_000_000_000
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_NANOS = {
    "ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000,
    "s": _NANOS, "m": 60 * _NANOS, "h": 3600 * _NANOS,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CronSchedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    dom_restricted: bool
    dow_restricted: bool
    zone: dt.tzinfo
    every: int = 0
    """`@every` interval in nanoseconds (then the fields are unused)."""


def _parse_duration(text: str) -> int:
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_NANOS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text or total <= 0:
        raise ValueError(f"bad duration {text!r}")
    return int(total)


def _parse_field(text: str, low: int, high: int, names: list[str] | None) -> frozenset[int]:
    values: set[int] = set()

    def value(token: str) -> int:
        if names is not None and token.upper() in names:
            return names.index(token.upper()) + (1 if low == 1 else 0)
        number = int(token)
        if names is _DAYS and number == 7:
            return 0
        return number

    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
            if step <= 0:
                raise ValueError("step must be positive")
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = value(a), value(b)
        else:
            start = value(part)
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise ValueError(f"value out of range in {text!r}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_cron(expression: str) -> CronSchedule:
    """Parse a cron schedule; InvalidArgument if Temporal would refuse it."""
    try:
        return _parse(expression.strip())
    except (ValueError, ZoneInfoNotFoundError) as err:
        raise InvalidArgument(
            f"Invalid CronSchedule, failed to parse: {expression!r}: {err}"
        ) from err


def _parse(expression: str) -> CronSchedule:
    zone: dt.tzinfo = dt.UTC
    if expression.startswith(("CRON_TZ=", "TZ=")):
        head, _, expression = expression.partition(" ")
        zone = ZoneInfo(head.split("=", 1)[1])
        expression = expression.strip()
    if expression.startswith("@every "):
        every = _parse_duration(expression.removeprefix("@every ").strip())
        empty: frozenset[int] = frozenset()
        return CronSchedule(empty, empty, empty, empty, empty, False, False, zone, every)
    expression = _DESCRIPTORS.get(expression, expression)
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields, found {len(fields)}")
    minute, hour, dom, month, dow = fields
    return CronSchedule(
        minutes=_parse_field(minute, 0, 59, None),
        hours=_parse_field(hour, 0, 23, None),
        days_of_month=_parse_field(dom, 1, 31, None),
        months=_parse_field(month, 1, 12, _MONTHS),
        days_of_week=_parse_field(dow, 0, 6, _DAYS),
        dom_restricted=not _starred(dom),
        dow_restricted=not _starred(dow),
        zone=zone,
    )


def _starred(text: str) -> bool:
    """A field with a `*` or `?` part (`*/2` too): then the day fields combine with AND."""
    return any(part.split("/", 1)[0] in ("*", "?") for part in text.split(","))


def _day_matches(s: CronSchedule, day: dt.datetime) -> bool:
    dom_ok = day.day in s.days_of_month
    dow_ok = (day.isoweekday() % 7) in s.days_of_week
    if s.dom_restricted and s.dow_restricted:
        return dom_ok or dow_ok
    return dom_ok and dow_ok


def next_time(s: CronSchedule, after: dt.datetime) -> dt.datetime | None:
    """The first schedule time strictly after `after` (None if none within 5 years)."""
    t = after.astimezone(s.zone).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    limit = t + dt.timedelta(days=366 * 5)
    while t < limit:
        if t.month not in s.months:
            t = (t.replace(day=1, hour=0, minute=0) + dt.timedelta(days=32)).replace(day=1)
            continue
        if not _day_matches(s, t):
            t = (t + dt.timedelta(days=1)).replace(hour=0, minute=0)
            continue
        if t.hour not in s.hours:
            t = (t + dt.timedelta(hours=1)).replace(minute=0)
            continue
        if t.minute not in s.minutes:
            t += dt.timedelta(minutes=1)
            continue
        return t
    return None


def next_cron_delay(expression: str, now: int, execution_time: int) -> int | None:
    """Nanoseconds from `now` until the next run of the schedule (None: never).

    As Temporal computes it: the first schedule time after the run's execution time (its
    start plus any backoff) that is not before `now`. `@every` intervals are whole seconds
    (at least one) counted from the execution time cut to the whole second.
    """
    s = parse_cron(expression)
    if s.every:
        every = max(s.every - s.every % _NANOS, _NANOS)  # whole seconds, at least one
        nxt = execution_time - execution_time % _NANOS + every
        if nxt < now:
            nxt += -(-(now - nxt) // every) * every
        return nxt - now
    # Strictly after the execution time, and not before now.
    after_ns = max(execution_time, now - 1)
    after = dt.datetime.fromtimestamp(after_ns // _NANOS, dt.UTC) + dt.timedelta(
        microseconds=(after_ns % _NANOS) // 1000
    )
    nxt_time = next_time(s, after)
    if nxt_time is None:
        return None
    return max(int(nxt_time.timestamp()) * _NANOS - now, 0)
