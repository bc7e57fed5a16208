"""Schedule specs without a server: parsing, canonical form, matching times, jitter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from temporalio.api.schedule.v1 import message_pb2 as sched_pb

from perdure.server.errors import InvalidArgument
from perdure.server.schedules.spec import (
    SECOND,
    canonical_spec,
    compile_spec,
    jitter_ms,
    parse_cron_string,
)


def _ns(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp()) * SECOND  # type: ignore[misc]


def _times(spec: sched_pb.ScheduleSpec, start: int, end: int) -> list[datetime]:
    compiled = compile_spec(canonical_spec(spec))
    return [
        datetime.fromtimestamp(t.nominal // SECOND, UTC) for t in compiled.times(start, end, "s")
    ]


def _interval(seconds: int, phase: int = 0) -> sched_pb.IntervalSpec:
    iv = sched_pb.IntervalSpec()
    iv.interval.FromSeconds(seconds)
    if phase:
        iv.phase.FromSeconds(phase)
    return iv


def test_interval_counts_from_the_epoch_with_phase() -> None:
    spec = sched_pb.ScheduleSpec(interval=[_interval(3600, 300)])
    assert _times(spec, _ns(2024, 1, 1, 0, 10), _ns(2024, 1, 1, 3)) == [
        datetime(2024, 1, 1, 1, 5, tzinfo=UTC),
        datetime(2024, 1, 1, 2, 5, tzinfo=UTC),
    ]


def test_cron_fields_descriptors_and_every() -> None:
    spec = sched_pb.ScheduleSpec(cron_string=["30 12 * * Fri", "@daily"])
    assert _times(spec, _ns(2024, 3, 7), _ns(2024, 3, 9)) == [
        datetime(2024, 3, 8, 0, 0, tzinfo=UTC),
        datetime(2024, 3, 8, 12, 30, tzinfo=UTC),
        datetime(2024, 3, 9, 0, 0, tzinfo=UTC),
    ]
    every = parse_cron_string("@every 90m/15m")
    assert every.calendar is None and every.interval is not None
    assert every.interval.interval.seconds == 5400 and every.interval.phase.seconds == 900


def test_day_of_month_and_day_of_week_are_anded() -> None:
    # Friday the 13th only, unlike classic cron's OR.
    spec = sched_pb.ScheduleSpec(cron_string=["0 0 13 * 5"])
    assert _times(spec, _ns(2024, 1, 1), _ns(2025, 1, 1)) == [
        datetime(2024, 9, 13, tzinfo=UTC),
        datetime(2024, 12, 13, tzinfo=UTC),
    ]


def test_cron_time_zone_moves_to_the_spec_and_follows_dst() -> None:
    spec = canonical_spec(sched_pb.ScheduleSpec(cron_string=["CRON_TZ=Europe/Paris 0 9 * * *"]))
    assert spec.timezone_name == "Europe/Paris" and not spec.cron_string
    times = _times(spec, _ns(2024, 3, 29), _ns(2024, 4, 2))
    assert [t.hour for t in times] == [8, 8, 7, 7]  # CET, then CEST from March 31st


def test_skip_and_start_end() -> None:
    spec = sched_pb.ScheduleSpec(
        interval=[_interval(86400)],
        exclude_calendar=[sched_pb.CalendarSpec(day_of_week="sat,sun", hour="*", minute="*")],
    )
    spec.start_time.FromSeconds(_ns(2024, 3, 5) // SECOND)
    spec.end_time.FromSeconds(_ns(2024, 3, 12) // SECOND)
    assert [t.day for t in _times(spec, _ns(2024, 3, 1), _ns(2024, 4, 1))] == [5, 6, 7, 8, 11, 12]


def test_canonical_form_structures_calendars() -> None:
    spec = canonical_spec(
        sched_pb.ScheduleSpec(calendar=[sched_pb.CalendarSpec(hour="9-17/2", comment="office")])
    )
    assert not spec.calendar
    (cal,) = spec.structured_calendar
    assert [(r.start, r.end, r.step) for r in cal.hour] == [(9, 17, 2)]
    assert [(r.start, r.end) for r in cal.minute] == [(0, 0)]
    assert cal.comment == "office"


@pytest.mark.parametrize(
    "spec",
    [
        sched_pb.ScheduleSpec(cron_string=["not a cron"]),
        sched_pb.ScheduleSpec(cron_string=["0 25 * * *"]),
        sched_pb.ScheduleSpec(cron_string=["@every 0s"]),
        sched_pb.ScheduleSpec(interval=[_interval(0)]),
        sched_pb.ScheduleSpec(interval=[_interval(60, 60)]),
        sched_pb.ScheduleSpec(timezone_name="Mars/Olympus_Mons"),
    ],
)
def test_invalid_specs(spec: sched_pb.ScheduleSpec) -> None:
    with pytest.raises(InvalidArgument):
        canonical_spec(spec)


def test_end_before_start_is_invalid() -> None:
    spec = sched_pb.ScheduleSpec(interval=[_interval(60)])
    spec.start_time.FromSeconds(2000)
    spec.end_time.FromSeconds(1000)
    with pytest.raises(InvalidArgument):
        canonical_spec(spec)


def test_jitter_is_deterministic_bounded_and_capped_by_the_next_time() -> None:
    assert jitter_ms(1_700_000_000, "ns-a", 10_000) == jitter_ms(1_700_000_000, "ns-a", 10_000)
    values = {jitter_ms(1_700_000_000 + n, "ns-a", 10_000) for n in range(50)}
    assert len(values) > 40 and all(0 <= v < 10_000 for v in values)
    assert jitter_ms(1_700_000_000, "ns-a", 0) == 0
    spec = sched_pb.ScheduleSpec(interval=[_interval(10)])
    spec.jitter.FromSeconds(3600)
    compiled = compile_spec(spec)
    for t in compiled.times(_ns(2024, 1, 1), _ns(2024, 1, 1, 0, 5), "seed"):
        assert 0 <= t.actual - t.nominal < 10 * SECOND


def test_dst_gap_times_never_happen_and_repeated_ones_happen_twice() -> None:
    gap = sched_pb.ScheduleSpec(cron_string=["30 2 * * *"], timezone_name="America/New_York")
    assert [t.day for t in _times(gap, _ns(2024, 3, 9), _ns(2024, 3, 12))] == [9, 11]
    repeat = sched_pb.ScheduleSpec(cron_string=["30 1 3 11 *"], timezone_name="America/New_York")
    assert _times(repeat, _ns(2024, 11, 3), _ns(2024, 11, 4)) == [
        datetime(2024, 11, 3, 5, 30, tzinfo=UTC),  # 1:30 EDT
        datetime(2024, 11, 3, 6, 30, tzinfo=UTC),  # 1:30 EST
    ]
