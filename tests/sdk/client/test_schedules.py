"""Schedules through Perdure's client (the real server runs them on temporalio's worker)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from perdure.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from perdure.common import RetryPolicy
from tests.sdk.client.conftest import Env

pytestmark = pytest.mark.timeout(60)


async def test_schedule_lifecycle(env: Env) -> None:
    schedule_id = f"sched-{uuid.uuid4().hex[:10]}"
    action = ScheduleActionStartWorkflow(
        "Echo",
        "scheduled",
        id=f"{schedule_id}-wf",
        task_queue=env.task_queue,
        retry_policy=RetryPolicy(maximum_attempts=2),
        memo={"from": "schedule"},
        static_summary="started by a schedule",
    )
    spec = ScheduleSpec(
        intervals=[ScheduleIntervalSpec(every=timedelta(hours=1), offset=timedelta(minutes=5))],
        calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(9, 17, 2)], comment="office")],
        cron_expressions=["0 12 * * MON"],
        skip=[ScheduleCalendarSpec(day_of_week=[ScheduleRange(0)])],
        jitter=timedelta(seconds=3),
        time_zone_name="UTC",
    )
    handle = await env.client.create_schedule(
        schedule_id,
        Schedule(
            action=action,
            spec=spec,
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
            state=ScheduleState(note="created", paused=True),
        ),
        memo={"owner": "tests"},
    )
    with pytest.raises(ScheduleAlreadyRunningError):
        await env.client.create_schedule(schedule_id, Schedule(action=action, spec=spec))

    description = await handle.describe()
    assert description.id == schedule_id
    assert await description.memo_value("owner") == "tests"
    read_action = description.schedule.action
    assert isinstance(read_action, ScheduleActionStartWorkflow)
    assert (read_action.workflow, read_action.id, read_action.task_queue) == (
        "Echo",
        f"{schedule_id}-wf",
        env.task_queue,
    )
    assert read_action.retry_policy is not None and read_action.retry_policy.maximum_attempts == 2
    assert description.schedule.state.paused and description.schedule.state.note == "created"
    assert description.schedule.policy.overlap == ScheduleOverlapPolicy.ALLOW_ALL
    read_spec = description.schedule.spec
    assert read_spec.intervals == spec.intervals and read_spec.jitter == timedelta(seconds=3)
    assert read_spec.calendars[0].hour == (ScheduleRange(9, 17, 2),)
    assert len(read_spec.calendars) >= 1  # the server turns the cron into calendars too

    # trigger runs the action now, even though the schedule is paused
    await handle.trigger()
    result = await _eventually_result(env, handle)
    assert result == ["scheduled"]

    await handle.unpause(note="resumed")
    assert not (await handle.describe()).schedule.state.paused
    await handle.pause()
    assert (await handle.describe()).schedule.state.note == "Paused via Python SDK"

    def change(input: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule = input.description.schedule
        schedule.spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))])
        schedule.state.note = "updated"
        return ScheduleUpdate(schedule=schedule)

    await handle.update(change)
    updated = await handle.describe()
    assert updated.schedule.spec.intervals == [ScheduleIntervalSpec(every=timedelta(days=1))]
    assert updated.schedule.state.note == "updated"
    assert await handle.update(lambda _: None) is None  # nothing sent

    now = datetime.now(UTC).replace(microsecond=0)
    await handle.backfill(
        ScheduleBackfill(start_at=now - timedelta(days=3), end_at=now - timedelta(days=1))
    )
    with pytest.raises(ValueError):
        await handle.backfill()

    listed = await _eventually_listed(env, schedule_id)
    assert listed is not None and listed.schedule is not None
    assert listed.schedule.action.workflow == "Echo"  # type: ignore[attr-defined]
    await handle.delete()
    with pytest.raises(Exception):  # noqa: B017 - RPCError NOT_FOUND
        await handle.describe()


async def _eventually_result(env: Env, handle: object) -> object:
    for _ in range(100):
        description = await handle.describe()  # type: ignore[attr-defined]
        if description.info.recent_actions:
            started = description.info.recent_actions[0].action
            workflow = env.client.get_workflow_handle(started.workflow_id)
            return await workflow.result()
        await asyncio.sleep(0.1)
    raise AssertionError("the schedule never took an action")


async def _eventually_listed(env: Env, schedule_id: str) -> object:
    for _ in range(100):
        async for entry in await env.client.list_schedules():
            if entry.id == schedule_id and entry.schedule is not None:
                return entry
        await asyncio.sleep(0.2)
    return None


def test_schedule_value_rules() -> None:
    assert ScheduleRange(5) == ScheduleRange(5, 5, 1)
    with pytest.raises(ValueError):
        ScheduleActionStartWorkflow("Echo", id="", task_queue="q")
    with pytest.raises(ValueError):
        ScheduleActionStartWorkflow("Echo", id="x", task_queue="")
