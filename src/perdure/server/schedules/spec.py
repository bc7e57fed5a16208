"""Schedule specs: validation, the canonical form Describe returns, and matching times.

Sans-IO. Semantics follow the comments of `temporal/api/schedule/v1/message.proto`:
calendars (structured, string or cron) and intervals (with phase, from the Unix epoch)
give nominal times at whole seconds; a time that matches an excluded calendar, lies
before `start_time` or after `end_time` is not one. Calendar fields are ANDed (also a
cron's day-of-month and day-of-week) and read in the spec's time zone. Jitter delays each
nominal time by a deterministic fraction of `jitter` (at most the gap to the next
nominal time), drawn from a hash of the time and the schedule, as Temporal draws it.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from temporalio.api.schedule.v1 import message_pb2 as sched_pb

from perdure.server.errors import InvalidArgument

SECOND = 1_000_000_000
MIN_YEAR = 2000
MAX_YEAR = 2100
_UTC = dt.UTC
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_EVERY_PART = re.compile(r"^(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    default: str
    names: Sequence[str] = ()


_SECOND = _Field("second", 0, 59, "0")
_MINUTE = _Field("minute", 0, 59, "0")
_HOUR = _Field("hour", 0, 23, "0")
_DOM = _Field("day_of_month", 1, 31, "*")
_MONTH = _Field("month", 1, 12, "*", _MONTHS)
_YEAR = _Field("year", MIN_YEAR, MAX_YEAR, "*")
_DOW = _Field("day_of_week", 0, 7, "*", _DAYS)


# --------------------------------------------------------------------------- parsing


def invalid_spec(detail: str) -> InvalidArgument:
    """Temporal's refusal of a spec: "Invalid schedule spec: <detail>"."""
    return InvalidArgument(f"Invalid schedule spec: {detail}")


def _value(text: str, f: _Field) -> int:
    lowered = text.lower()
    for i, name in enumerate(f.names):
        if lowered in (name, _full_name(f, i)):
            return i + (1 if f is _MONTH else 0)
    try:
        return int(text)
    except ValueError:
        raise invalid_spec(f"{f.name} value {text!r} is not valid") from None


def _full_name(f: _Field, i: int) -> str:
    if f is _MONTH:
        return _calendar.month_name[i + 1].lower()
    return _calendar.day_name[(i - 1) % 7].lower()


def _ranges(text: str, f: _Field) -> list[sched_pb.Range]:
    """A calendar string field ("1-5/2,7", "*", "mon-fri") as ranges."""
    text = text.strip() or f.default
    out: list[sched_pb.Range] = []
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            try:
                step = int(step_text)
            except ValueError:
                raise invalid_spec(f"{f.name} step {step_text!r} is not valid") from None
            if step <= 0:
                raise invalid_spec(f"{f.name} step {step_text!r} is not valid")
        if part == "*":
            if f is _YEAR and step == 1:
                continue  # every year: no range
            start, end = f.low, (6 if f is _DOW else f.high)
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, f), _value(b, f)
        else:
            start = _value(part, f)
            end = (6 if f is _DOW else f.high) if "/" in text and step > 1 else start
        out.append(sched_pb.Range(start=start, end=end, step=step))
    return out


def calendar_to_structured(cal: sched_pb.CalendarSpec) -> sched_pb.StructuredCalendarSpec:
    """A string calendar in structured form (as Temporal stores and describes it)."""
    return sched_pb.StructuredCalendarSpec(
        second=_ranges(cal.second, _SECOND),
        minute=_ranges(cal.minute, _MINUTE),
        hour=_ranges(cal.hour, _HOUR),
        day_of_month=_ranges(cal.day_of_month, _DOM),
        month=_ranges(cal.month, _MONTH),
        year=_ranges(cal.year, _YEAR),
        day_of_week=_ranges(cal.day_of_week, _DOW),
        comment=cal.comment,
    )


@dataclass(frozen=True, slots=True)
class ParsedCron:
    calendar: sched_pb.StructuredCalendarSpec | None
    interval: sched_pb.IntervalSpec | None
    timezone: str


def parse_cron_string(text: str) -> ParsedCron:
    """One `cron_string`: 5-7 fields, a descriptor or `@every <interval>[/<phase>]`,
    an optional `CRON_TZ=`/`TZ=` prefix and a `#` comment."""
    original = text
    comment = ""
    if "#" in text:
        text, comment = text.split("#", 1)
        comment = comment.strip()
    text = text.strip()
    zone = ""
    if text.startswith(("CRON_TZ=", "TZ=")):
        head, _, text = text.partition(" ")
        zone = head.split("=", 1)[1]
        text = text.strip()
    if text.startswith("@every"):
        args = text.removeprefix("@every").strip()
        every_text, _, phase_text = args.partition("/")
        interval = sched_pb.IntervalSpec()
        interval.interval.FromSeconds(_every_seconds(every_text, original))
        if phase_text:
            interval.phase.FromSeconds(_every_seconds(phase_text, original))
        return ParsedCron(None, interval, zone)
    text = _DESCRIPTORS.get(text, text)
    fields = text.split()
    if len(fields) == 5:
        second, (minute, hour, dom, month, dow), year = "0", fields, "*"
    elif len(fields) == 6:
        second, (minute, hour, dom, month, dow, year) = "0", fields
    elif len(fields) == 7:
        second, minute, hour, dom, month, dow, year = fields
    else:
        raise invalid_spec("CronString does not have 5-7 fields")
    cal = sched_pb.CalendarSpec(
        second=second,
        minute=minute,
        hour=hour,
        day_of_month=dom.replace("?", "*"),
        month=month,
        year=year,
        day_of_week=dow.replace("?", "*"),
        comment=comment,
    )
    return ParsedCron(calendar_to_structured(cal), None, zone)


def _every_seconds(text: str, original: str) -> int:
    match = _EVERY_PART.match(text.strip())
    if match is None:
        raise invalid_spec(f"invalid interval in CronString {original!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def canonical_spec(spec: sched_pb.ScheduleSpec) -> sched_pb.ScheduleSpec:
    """The spec as stored and described: every calendar structured, `@every` crons as
    intervals, a cron's time zone in `timezone_name`. InvalidArgument if invalid."""
    out = sched_pb.ScheduleSpec()
    out.CopyFrom(spec)
    del out.calendar[:]
    del out.cron_string[:]
    del out.exclude_calendar[:]
    for cal in spec.calendar:
        out.structured_calendar.append(calendar_to_structured(cal))
    for cron in spec.cron_string:
        parsed = parse_cron_string(cron)
        if parsed.calendar is not None:
            out.structured_calendar.append(parsed.calendar)
        if parsed.interval is not None:
            out.interval.append(parsed.interval)
        if parsed.timezone:
            if out.timezone_name and out.timezone_name != parsed.timezone:
                raise invalid_spec("CronString time zone conflicts with timezone_name")
            out.timezone_name = parsed.timezone
    for cal in spec.exclude_calendar:
        out.exclude_structured_calendar.append(calendar_to_structured(cal))
    compile_spec(out)  # validates
    return out


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True, slots=True)
class _Calendar:
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    years: frozenset[int] | None
    """None: every year."""
    days_of_week: frozenset[int]

    def matches_day(self, day: dt.date) -> bool:
        return (
            (self.years is None or day.year in self.years)
            and day.month in self.months
            and day.day in self.days_of_month
            and (day.isoweekday() % 7) in self.days_of_week
        )

    def matches(self, local: dt.datetime) -> bool:
        return (
            self.matches_day(local.date())
            and local.hour in self.hours
            and local.minute in self.minutes
            and local.second in self.seconds
        )


def _values(ranges: Sequence[sched_pb.Range], f: _Field) -> frozenset[int] | None:
    """The values ranges cover (None for an empty list of an unrestricted field)."""
    if not ranges:
        if f.default == "*":
            return None
        return frozenset({int(f.default)})
    out: set[int] = set()
    for r in ranges:
        end = max(r.end, r.start)
        step = r.step or 1
        if r.start < f.low or end > f.high or step < 0:
            raise invalid_spec(f"{f.name} range {r.start}-{r.end} is out of range")
        out.update(range(r.start, end + 1, step))
    if f is _DOW and 7 in out:
        out = (out - {7}) | {0}
    return frozenset(out)


def _compile_calendar(c: sched_pb.StructuredCalendarSpec) -> _Calendar:
    def full(ranges: Sequence[sched_pb.Range], f: _Field) -> frozenset[int]:
        found = _values(ranges, f)
        return found if found is not None else frozenset(range(f.low, f.high + 1))

    return _Calendar(
        seconds=full(c.second, _SECOND),
        minutes=full(c.minute, _MINUTE),
        hours=full(c.hour, _HOUR),
        days_of_month=full(c.day_of_month, _DOM),
        months=full(c.month, _MONTH),
        years=_values(c.year, _YEAR),
        days_of_week=full(c.day_of_week, _DOW) & frozenset(range(7)) or frozenset(range(7)),
    )


@dataclass(frozen=True, slots=True)
class NextTime:
    nominal: int
    """The matching time (nanoseconds, whole seconds)."""
    actual: int
    """The nominal time plus jitter: when the action is taken."""


@dataclass(frozen=True, slots=True)
class CompiledSpec:
    calendars: tuple[_Calendar, ...]
    intervals: tuple[tuple[int, int], ...]
    """(interval, phase) in seconds."""
    excluded: tuple[_Calendar, ...]
    start: int | None
    """Seconds since the epoch; no time before it."""
    end: int | None
    jitter_ms: int
    zone: dt.tzinfo

    def next_time(self, after_ns: int, seed: str) -> NextTime | None:
        """The first time strictly after `after_ns`, with its jitter; None: no more."""
        after = after_ns // SECOND
        if self.start is not None:
            after = max(after, self.start - 1)
        while True:
            nominal = self._raw_next(after)
            if nominal is None or (self.end is not None and nominal > self.end):
                return None
            if not self._is_excluded(nominal):
                break
            after = nominal
        max_jitter = self.jitter_ms
        following = self._raw_next(nominal)
        if following is not None:
            max_jitter = min(max_jitter, (following - nominal) * 1000)
        jitter = jitter_ms(nominal, seed, max_jitter)
        return NextTime(nominal * SECOND, nominal * SECOND + jitter * 1_000_000)

    def times(self, after_ns: int, until_ns: int, seed: str) -> Iterator[NextTime]:
        """Every time after `after_ns` whose nominal time is at or before `until_ns`."""
        t = after_ns
        while True:
            nxt = self.next_time(t, seed)
            if nxt is None or nxt.nominal > until_ns:
                return
            yield nxt
            t = nxt.nominal

    def _raw_next(self, after: int) -> int | None:
        best: int | None = None
        for iv, phase in self.intervals:
            t = ((after - phase) // iv + 1) * iv + phase
            best = t if best is None else min(best, t)
        for cal in self.calendars:
            t2 = self._calendar_next(cal, after, best)
            if t2 is not None:
                best = t2 if best is None else min(best, t2)
        return best

    def _is_excluded(self, t: int) -> bool:
        if not self.excluded:
            return False
        local = dt.datetime.fromtimestamp(t, self.zone)
        return any(c.matches(local) for c in self.excluded)

    def _calendar_next(self, cal: _Calendar, after: int, bound: int | None) -> int | None:
        """The first second after `after` whose wall-clock time in the spec's zone `cal`
        matches (stop looking past `bound`, which another part of the spec already gives).

        As Temporal: a wall-clock time that a DST change skips never happens, and one it
        repeats happens twice."""
        start = dt.datetime.fromtimestamp(after, self.zone)
        day = start.date()
        last = dt.date(MAX_YEAR, 12, 31)
        if bound is not None:
            last = min(last, dt.datetime.fromtimestamp(bound, self.zone).date())
        hours = sorted(cal.hours)
        minutes = sorted(cal.minutes)
        seconds = sorted(cal.seconds)
        while day <= last:
            if cal.years is not None and day.year not in cal.years:
                day = dt.date(day.year + 1, 1, 1)
                continue
            if day.month not in cal.months:
                day = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
                continue
            if cal.matches_day(day):
                # On a day with a DST change, wall-clock order is not time order: look at
                # every candidate of the day and keep the earliest.
                changes = self._offset(day) != self._offset(day + dt.timedelta(days=1))
                prune = day == start.date() and not changes
                best: int | None = None
                for h in hours:
                    if prune and h < start.hour:
                        continue
                    for m in minutes:
                        if prune and h == start.hour and m < start.minute:
                            continue
                        for s in seconds:
                            local = dt.datetime(day.year, day.month, day.day, h, m, s)
                            for t in self._instants(local):
                                if t > after and (best is None or t < best):
                                    best = t
                            if best is not None and not changes:
                                return best
                if best is not None:
                    return best
            day += dt.timedelta(days=1)
        return None

    def _offset(self, day: dt.date) -> dt.timedelta | None:
        return dt.datetime(day.year, day.month, day.day, tzinfo=self.zone).utcoffset()

    def _instants(self, local: dt.datetime) -> list[int]:
        """The seconds since the epoch at which the zone's clocks show `local`: none in a
        DST gap, two in a repeated hour."""
        out: list[int] = []
        for fold in (0, 1):
            t = int(local.replace(tzinfo=self.zone, fold=fold).timestamp())
            shown = dt.datetime.fromtimestamp(t, self.zone).replace(tzinfo=None)
            if shown == local and t not in out:
                out.append(t)
        return out


def jitter_ms(nominal_s: int, seed: str, max_ms: int) -> int:
    """Deterministic jitter in milliseconds: FNV-1a over the nominal time (in Go's binary
    time encoding, UTC) and the schedule's seed, scaled into [0, max_ms)."""
    if max_ms <= 0:
        return 0
    data = struct.pack(">bqih", 1, nominal_s + 62135596800, 0, -1) + seed.encode()
    h = 0xCBF29CE484222325
    for byte in data:
        h ^= byte
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return int(h / 0xFFFFFFFFFFFFFFFF * max_ms)


def _zone(name: str) -> dt.tzinfo:
    if not name or name == "UTC":
        return _UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid_spec(f"unknown time zone {name}") from None


def compile_spec(spec: sched_pb.ScheduleSpec) -> CompiledSpec:
    """A canonical spec ready to match times; InvalidArgument if it is invalid."""
    if spec.calendar or spec.cron_string or spec.exclude_calendar:
        spec = canonical_spec(spec)
    intervals: list[tuple[int, int]] = []
    for iv in spec.interval:
        every = iv.interval.ToNanoseconds()
        phase = iv.phase.ToNanoseconds()
        if every < SECOND or every % SECOND:
            raise invalid_spec("interval is too small")
        if phase < 0 or phase >= every or phase % SECOND:
            raise invalid_spec(
                "phase must be whole seconds, not negative and less than the interval"
            )
        intervals.append((every // SECOND, phase // SECOND))
    start = spec.start_time.seconds if spec.HasField("start_time") else None
    end = spec.end_time.seconds if spec.HasField("end_time") else None
    if start is not None and end is not None and end < start:
        raise invalid_spec("end_time is before start_time")
    jitter = spec.jitter.ToMilliseconds() if spec.HasField("jitter") else 0
    if jitter < 0:
        raise invalid_spec("jitter is negative")
    return CompiledSpec(
        calendars=tuple(_compile_calendar(c) for c in spec.structured_calendar),
        intervals=tuple(intervals),
        excluded=tuple(_compile_calendar(c) for c in spec.exclude_structured_calendar),
        start=start,
        end=end,
        jitter_ms=jitter,
        zone=_zone(spec.timezone_name),
    )
