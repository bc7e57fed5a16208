"""Schedule specs compared with the real server: the same spec, the same matching times.

Each spec is created (paused) on Perdure's server and on the real Temporal dev server,
and ListScheduleMatchingTimes over the same range must answer the same times. Specs
without jitter (Temporal seeds jitter with the namespace's id, which differs).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.schedule.v1 import message_pb2 as sched_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr
from temporalio.client import Client

from tests.servers import ServerProcess

pytestmark = pytest.mark.timeout(180)


def _spec(**kw: object) -> sched_pb.ScheduleSpec:
    spec = sched_pb.ScheduleSpec()
    for cron in kw.pop("cron", []):  # type: ignore[attr-defined]
        spec.cron_string.append(cron)
    for cal in kw.pop("calendar", []):  # type: ignore[attr-defined]
        spec.calendar.append(cal)
    for cal in kw.pop("exclude", []):  # type: ignore[attr-defined]
        spec.exclude_calendar.append(cal)
    for every, phase in kw.pop("interval", []):  # type: ignore[attr-defined]
        iv = spec.interval.add()
        iv.interval.FromTimedelta(every)
        if phase:
            iv.phase.FromTimedelta(phase)
    if "tz" in kw:
        spec.timezone_name = str(kw.pop("tz"))
    if "start" in kw:
        spec.start_time.FromDatetime(kw.pop("start"))  # type: ignore[arg-type]
    if "end" in kw:
        spec.end_time.FromDatetime(kw.pop("end"))  # type: ignore[arg-type]
    assert not kw
    return spec


C = sched_pb.CalendarSpec
SPECS: dict[str, tuple[sched_pb.ScheduleSpec, datetime, datetime]] = {
    "cron names ranges steps": (
        _spec(cron=["15,45 9-17/4 * jan-mar mon-fri"]),
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 10, tzinfo=UTC),
    ),
    "cron dom and dow": (
        _spec(cron=["0 12 1-7 * sun"]),
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 8, 1, tzinfo=UTC),
    ),
    "cron seconds and year": (
        _spec(cron=["*/20 30 10 1 * * 2025"]),
        datetime(2024, 12, 1, tzinfo=UTC),
        datetime(2025, 3, 2, tzinfo=UTC),
    ),
    "descriptors": (
        _spec(cron=["@weekly", "@monthly # comment"]),
        datetime(2024, 2, 1, tzinfo=UTC),
        datetime(2024, 4, 2, tzinfo=UTC),
    ),
    "every with phase": (
        _spec(cron=["@every 90m/15m"]),
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 1, 12, tzinfo=UTC),
    ),
    "intervals with phase": (
        _spec(interval=[(timedelta(hours=5), timedelta(minutes=7)), (timedelta(days=1), None)]),
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 4, tzinfo=UTC),
    ),
    "calendar strings": (
        _spec(calendar=[C(second="30", minute="*/30", hour="8-10", day_of_week="tue,thu")]),
        datetime(2024, 5, 1, tzinfo=UTC),
        datetime(2024, 5, 10, tzinfo=UTC),
    ),
    "spring forward gap": (
        _spec(cron=["30 2 * * *"], tz="America/New_York"),
        datetime(2024, 3, 8, tzinfo=UTC),
        datetime(2024, 3, 13, tzinfo=UTC),
    ),
    "fall back repeat": (
        _spec(cron=["30 1 * * *", "0 * 3 11 *"], tz="America/New_York"),
        datetime(2024, 11, 2, tzinfo=UTC),
        datetime(2024, 11, 5, tzinfo=UTC),
    ),
    "cron tz prefix": (
        _spec(cron=["CRON_TZ=Asia/Kolkata 0 9 * * *"]),
        datetime(2024, 6, 1, tzinfo=UTC),
        datetime(2024, 6, 5, tzinfo=UTC),
    ),
    "sunday as 7, weekday steps": (
        _spec(cron=["0 6 * * 7", "0 18 * * mon-fri/2"]),
        datetime(2024, 7, 1, tzinfo=UTC),
        datetime(2024, 7, 15, tzinfo=UTC),
    ),
    "leap days": (
        _spec(cron=["0 0 29 2 *"]),
        datetime(2023, 1, 1, tzinfo=UTC),
        datetime(2033, 1, 1, tzinfo=UTC),
    ),
    "hourly from a start time": (
        _spec(cron=["@hourly"], start=datetime(2024, 1, 1, 5, 30, tzinfo=UTC)),
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 1, 9, tzinfo=UTC),
    ),
    "excluded and bounded": (
        _spec(
            interval=[(timedelta(hours=6), None)],
            exclude=[C(hour="12", minute="*", second="*")],
            start=datetime(2024, 1, 2, 5, tzinfo=UTC),
            end=datetime(2024, 1, 4, 6, tzinfo=UTC),
        ),
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 6, tzinfo=UTC),
    ),
}


async def _matching(
    server: ServerProcess, spec: sched_pb.ScheduleSpec, start: datetime, end: datetime
) -> list[datetime] | str:
    client = await Client.connect(server.target)
    sid = f"parity-{uuid.uuid4().hex[:10]}"
    schedule = sched_pb.Schedule(spec=spec)
    schedule.state.paused = True
    info = schedule.action.start_workflow
    info.workflow_id, info.workflow_type.name, info.task_queue.name = "w", "T", "q"
    await client.workflow_service.create_schedule(
        rr.CreateScheduleRequest(
            namespace="default", schedule_id=sid, schedule=schedule, request_id=sid
        )
    )
    try:
        req = rr.ListScheduleMatchingTimesRequest(namespace="default", schedule_id=sid)
        req.start_time.FromDatetime(start)
        req.end_time.FromDatetime(end)
        resp = await client.workflow_service.list_schedule_matching_times(req)
        return [t.ToDatetime(tzinfo=UTC) for t in resp.start_time]
    finally:
        await client.get_schedule_handle(sid).delete()


@pytest.mark.parametrize("name", list(SPECS))
async def test_matching_times_equal_temporal_s(
    name: str, perdure_server: ServerProcess, temporal_server: ServerProcess
) -> None:
    spec, start, end = SPECS[name]
    ours = await _matching(perdure_server, spec, start, end)
    theirs = await _matching(temporal_server, spec, start, end)
    assert theirs, "the spec matches nothing in the range: a useless case"
    assert ours == theirs
