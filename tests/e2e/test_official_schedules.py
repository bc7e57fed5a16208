"""Schedules from the official SDK, with the same assertions on both servers.

Fires are real time (intervals of a second or two), so the checks wait for what must
happen and allow for load; they never assert an exact lateness.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from temporalio import workflow
from temporalio.api.schedule.v1 import message_pb2 as sched_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    WorkflowExecutionStatus,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

pytestmark = pytest.mark.timeout(120)
T = TypeVar("T")


@workflow.defn(name="SchedCounter")
class SchedCounter:
    """Returns one more than the previous run of its schedule returned."""

    @workflow.run
    async def run(self) -> int:
        last = workflow.get_last_completion_result(int)
        return (last or 0) + 1


@workflow.defn(name="SchedWait")
class SchedWait:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


@workflow.defn(name="SchedFail")
class SchedFail:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("scheduled failure", non_retryable=True)


@pytest.fixture
async def worker(official_client: Client, task_queue: str) -> AsyncIterator[Worker]:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[SchedCounter, SchedWait, SchedFail],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ) as w:
        yield w


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.3)


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _action(workflow_name: str, wid: str, task_queue: str) -> ScheduleActionStartWorkflow:
    return ScheduleActionStartWorkflow(workflow_name, id=wid, task_queue=task_queue)


async def _create(client: Client, schedule_id: str, schedule: Schedule) -> ScheduleHandle:
    return await client.create_schedule(schedule_id, schedule)


async def test_interval_fires_with_temporal_ids_and_attributes(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    sid, base = _id("sched"), _id("wf")
    handle = await _create(
        official_client,
        sid,
        Schedule(
            action=_action("SchedCounter", base, task_queue),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=2))]),
        ),
    )
    try:

        async def two_actions() -> ScheduleDescription:
            d = await handle.describe()
            assert d.info.num_actions >= 2
            assert len(d.info.recent_actions) >= 2
            return d

        desc = await eventually(two_actions)
        assert desc.info.next_action_times, "future action times are described"
        for t in desc.info.next_action_times:
            assert t.second % 2 == 0 and t.microsecond == 0
        for action in desc.info.recent_actions:
            started = action.action
            assert isinstance(started.workflow_id, str)
            stamp = started.workflow_id.removeprefix(base + "-")
            assert stamp != started.workflow_id
            nominal = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            assert nominal.second % 2 == 0
            assert action.scheduled_at == nominal
            assert action.started_at >= nominal
            wf = official_client.get_workflow_handle(
                started.workflow_id, run_id=started.first_execution_run_id
            )
            wf_desc = await wf.describe()
            attrs = wf_desc.raw_description.workflow_execution_info.search_attributes
            assert "TemporalScheduledById" in attrs.indexed_fields
            assert "TemporalScheduledStartTime" in attrs.indexed_fields
            assert wf_desc.workflow_type == "SchedCounter"

        async def listed_by_schedule() -> None:
            found = [
                w async for w in official_client.list_workflows(f"TemporalScheduledById = '{sid}'")
            ]
            assert len(found) >= 2
            assert all(w.id.startswith(base + "-") for w in found)

        await eventually(listed_by_schedule)
    finally:
        await handle.delete()
    with pytest.raises(RPCError) as err:
        await handle.describe()
    assert err.value.status == RPCStatusCode.NOT_FOUND


async def test_last_completion_result_reaches_the_next_run(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    sid, base = _id("sched"), _id("wf")
    handle = await _create(
        official_client,
        sid,
        Schedule(
            action=_action("SchedCounter", base, task_queue),
            spec=ScheduleSpec(),
            state=ScheduleState(paused=True),
        ),
    )
    try:
        results: list[int] = []
        for n in (1, 2):
            await handle.trigger()

            async def started(count: int = n) -> str:
                d = await handle.describe()
                assert len(d.info.recent_actions) == count
                return d.info.recent_actions[-1].action.workflow_id

            wid = await eventually(started)
            results.append(await official_client.get_workflow_handle(wid).result())
            await asyncio.sleep(1.1)  # the next trigger's workflow id is a later second
        assert results == [1, 2]
    finally:
        await handle.delete()


async def test_overlap_skip_counts_and_limited_actions(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    sid, base = _id("sched"), _id("wf")
    handle = await _create(
        official_client,
        sid,
        Schedule(
            action=_action("SchedWait", base, task_queue),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            state=ScheduleState(limited_actions=True, remaining_actions=2),
        ),
    )
    try:

        async def skipped() -> ScheduleDescription:
            d = await handle.describe()
            assert d.info.num_actions == 1
            assert d.info.num_actions_skipped_overlap >= 2
            assert len(d.info.running_actions) == 1
            return d

        desc = await eventually(skipped)
        assert desc.schedule.state.remaining_actions == 1
        running = desc.info.running_actions[0]
        await official_client.get_workflow_handle(running.workflow_id).terminate("done")

        async def second_and_last() -> ScheduleDescription:
            d = await handle.describe()
            assert d.info.num_actions == 2
            assert d.schedule.state.remaining_actions == 0
            return d

        desc = await eventually(second_and_last)
        assert desc.info.next_action_times == []
        for action in desc.info.running_actions:
            await official_client.get_workflow_handle(action.workflow_id).terminate("done")
    finally:
        await handle.delete()


async def test_pause_on_failure(official_client: Client, worker: Worker, task_queue: str) -> None:
    sid, base = _id("sched"), _id("wf")
    handle = await _create(
        official_client,
        sid,
        Schedule(
            action=_action("SchedFail", base, task_queue),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
            policy=SchedulePolicy(pause_on_failure=True),
        ),
    )
    try:
        await handle.trigger()

        async def paused() -> ScheduleDescription:
            d = await handle.describe()
            assert d.schedule.state.paused
            return d

        desc = await eventually(paused)
        assert desc.info.recent_actions[0].action.workflow_id in desc.schedule.state.note
        wid = desc.info.recent_actions[0].action.workflow_id
        status = (await official_client.get_workflow_handle(wid).describe()).status
        assert status == WorkflowExecutionStatus.FAILED
    finally:
        await handle.delete()


async def test_matching_times_in_a_time_zone(official_client: Client, task_queue: str) -> None:
    sid = _id("sched")
    handle = await _create(
        official_client,
        sid,
        Schedule(
            action=_action("SchedCounter", _id("wf"), task_queue),
            spec=ScheduleSpec(
                calendars=[
                    ScheduleCalendarSpec(
                        hour=[ScheduleRange(9)],
                        minute=[ScheduleRange(30)],
                        day_of_week=[ScheduleRange(1, 5)],
                    )
                ],
                cron_expressions=["0 0 1 * *"],
                skip=[
                    ScheduleCalendarSpec(
                        day_of_month=[ScheduleRange(1, 7)],
                        hour=[ScheduleRange(0, 23)],
                        minute=[ScheduleRange(0, 59)],
                    )
                ],
                time_zone_name="America/New_York",
            ),
            state=ScheduleState(paused=True),
        ),
    )
    try:
        req = rr.ListScheduleMatchingTimesRequest(namespace="default", schedule_id=sid)
        req.start_time.FromDatetime(datetime(2024, 3, 1, tzinfo=UTC))
        req.end_time.FromDatetime(datetime(2024, 3, 15, tzinfo=UTC))
        resp = await official_client.workflow_service.list_schedule_matching_times(req)
        times = [t.ToDatetime(tzinfo=UTC) for t in resp.start_time]
        # Weekdays from the 8th (the 1st-7th are skipped, and with them the monthly cron);
        # 9:30 New York is 14:30 UTC before the DST change of March 10th, 13:30 after.
        assert times == [
            datetime(2024, 3, 8, 14, 30, tzinfo=UTC),
            datetime(2024, 3, 11, 13, 30, tzinfo=UTC),
            datetime(2024, 3, 12, 13, 30, tzinfo=UTC),
            datetime(2024, 3, 13, 13, 30, tzinfo=UTC),
            datetime(2024, 3, 14, 13, 30, tzinfo=UTC),
        ]
        desc = await handle.describe()
        assert len(desc.schedule.spec.calendars) == 2  # the cron became a calendar
        assert desc.schedule.spec.cron_expressions == []
    finally:
        await handle.delete()


async def test_update_backfill_and_list(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    sid, base = _id("sched"), _id("wf")
    handle = await _create(
        official_client,
        sid,
        Schedule(
            action=_action("SchedCounter", base, task_queue),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
            state=ScheduleState(paused=True, note="first"),
        ),
    )
    try:
        from temporalio.client import ScheduleBackfill, ScheduleUpdate, ScheduleUpdateInput

        def change(input: ScheduleUpdateInput) -> ScheduleUpdate:
            s = input.description.schedule
            s.spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))])
            s.state.note = "second"
            return ScheduleUpdate(schedule=s)

        await handle.update(change)
        desc = await handle.describe()
        assert desc.schedule.state.note == "second"
        assert desc.schedule.spec.intervals == [ScheduleIntervalSpec(every=timedelta(hours=1))]

        end = datetime(2024, 1, 1, 5, 0, tzinfo=UTC)
        await handle.backfill(
            ScheduleBackfill(start_at=datetime(2024, 1, 1, 2, 0, tzinfo=UTC), end_at=end)
        )

        async def backfilled() -> list[str]:
            d = await handle.describe()
            assert d.info.num_actions == 4
            return sorted(a.action.workflow_id for a in d.info.recent_actions)

        ids = await eventually(backfilled)
        assert ids == [f"{base}-2024-01-01T0{h}:00:00Z" for h in (2, 3, 4, 5)]

        async def listed() -> None:
            found = [s async for s in await official_client.list_schedules() if s.id == sid]
            assert len(found) == 1
            listed_schedule = found[0].schedule
            assert listed_schedule is not None
            assert listed_schedule.state.paused and listed_schedule.state.note == "second"
            assert listed_schedule.action.workflow == "SchedCounter"  # type: ignore[attr-defined]

        await eventually(listed)
    finally:
        await handle.delete()


async def test_bad_input(official_client: Client, task_queue: str) -> None:
    sid = _id("sched")
    good = Schedule(
        action=_action("SchedCounter", _id("wf"), task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
        state=ScheduleState(paused=True),
    )
    handle = await _create(official_client, sid, good)
    try:
        with pytest.raises(ScheduleAlreadyRunningError):
            await _create(official_client, sid, good)
    finally:
        await handle.delete()
    missing = _id("missing")
    with pytest.raises(RPCError) as err:
        await official_client.get_schedule_handle(missing).describe()
    assert err.value.status == RPCStatusCode.NOT_FOUND
    assert err.value.message == f"workflow not found for ID: temporal-sys-scheduler:{missing}"
    with pytest.raises(RPCError) as err:
        await official_client.get_schedule_handle(_id("missing")).delete()
    assert err.value.status == RPCStatusCode.NOT_FOUND
    for spec, message in (
        (ScheduleSpec(cron_expressions=["not a cron"]), "CronString does not have 5-7 fields"),
        (ScheduleSpec(cron_expressions=["0 25 * * *"]), None),
        (
            ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(0))]),
            "interval is too small",
        ),
        (
            ScheduleSpec(
                intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))],
                time_zone_name="Mars/Olympus_Mons",
            ),
            "unknown time zone Mars/Olympus_Mons",
        ),
    ):
        with pytest.raises(RPCError) as err:
            await _create(official_client, _id("bad"), Schedule(action=good.action, spec=spec))
        assert err.value.status == RPCStatusCode.INVALID_ARGUMENT, spec
        assert err.value.message.startswith("Invalid schedule spec: ")
        if message is not None:
            assert err.value.message == f"Invalid schedule spec: {message}"


async def test_stale_conflict_token_is_ignored(official_client: Client, task_queue: str) -> None:
    """As Temporal's scheduler does: an update based on an older version is dropped."""
    sid = _id("sched")
    handle = await _create(
        official_client,
        sid,
        Schedule(
            action=_action("SchedCounter", _id("wf"), task_queue),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
            state=ScheduleState(paused=True, note="a"),
        ),
    )
    try:
        service = official_client.workflow_service
        req = rr.DescribeScheduleRequest(namespace="default", schedule_id=sid)
        first = await service.describe_schedule(req)
        for note, token in (("b", first.conflict_token), ("c", first.conflict_token)):
            schedule = sched_pb.Schedule()
            schedule.CopyFrom(first.schedule)
            schedule.state.notes = note
            await service.update_schedule(
                rr.UpdateScheduleRequest(
                    namespace="default",
                    schedule_id=sid,
                    schedule=schedule,
                    conflict_token=token,
                    request_id=_id("r"),
                )
            )
        await asyncio.sleep(0.5)
        last = await service.describe_schedule(req)
        assert last.schedule.state.notes == "b"
        assert last.conflict_token != first.conflict_token
    finally:
        await handle.delete()


async def test_list_query_and_count(official_client: Client, task_queue: str) -> None:
    sid = _id("sched")
    handle = await _create(
        official_client,
        sid,
        Schedule(
            action=_action("SchedCounter", _id("wf"), task_queue),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
            state=ScheduleState(paused=True),
        ),
    )
    try:

        async def found() -> None:
            paused = [
                s.id
                async for s in await official_client.list_schedules("TemporalSchedulePaused = true")
            ]
            assert sid in paused
            running = [
                s.id
                async for s in await official_client.list_schedules(
                    "TemporalSchedulePaused = false"
                )
            ]
            assert sid not in running

        await eventually(found)
        count = await official_client.workflow_service.count_schedules(
            rr.CountSchedulesRequest(namespace="default")
        )
        assert count.count >= 1
        with pytest.raises(RPCError) as err:
            await official_client.workflow_service.list_schedules(
                rr.ListSchedulesRequest(namespace="default", query="bad query (((")
            )
        assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
        assert err.value.message.startswith("invalid query: malformed SQL query: syntax error")
    finally:
        await handle.delete()


def test_spec_proto_names() -> None:
    assert "interval" in sched_pb.ScheduleSpec.DESCRIPTOR.fields_by_name


async def test_buffer_one_keeps_one_start_for_when_the_run_ends(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    sid, base = _id("sched"), _id("wf")
    handle = await _create(
        official_client,
        sid,
        Schedule(
            action=_action("SchedWait", base, task_queue),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ONE),
        ),
    )
    try:

        async def buffered() -> ScheduleDescription:
            d = await handle.describe()
            raw = d.raw_description.info
            assert d.info.num_actions == 1
            assert raw.buffer_size == 1 and raw.buffer_dropped == 0
            assert d.info.num_actions_skipped_overlap >= 1
            return d

        first = (await eventually(buffered)).info.running_actions[0].workflow_id
        await official_client.get_workflow_handle(first).terminate("next")

        async def second_started() -> ScheduleDescription:
            d = await handle.describe()
            assert d.info.num_actions >= 2
            assert len(d.info.running_actions) == 1
            assert d.info.running_actions[0].workflow_id != first
            return d

        await eventually(second_started)
        await handle.pause()
        for action in (await handle.describe()).info.running_actions:
            await official_client.get_workflow_handle(action.workflow_id).terminate("done")
    finally:
        await handle.delete()


@pytest.mark.parametrize(
    ("policy", "status"),
    [
        (ScheduleOverlapPolicy.TERMINATE_OTHER, WorkflowExecutionStatus.TERMINATED),
        (ScheduleOverlapPolicy.CANCEL_OTHER, WorkflowExecutionStatus.CANCELED),
    ],
)
async def test_terminate_and_cancel_other(
    official_client: Client,
    worker: Worker,
    task_queue: str,
    policy: ScheduleOverlapPolicy,
    status: WorkflowExecutionStatus,
) -> None:
    sid, base = _id("sched"), _id("wf")
    handle = await _create(
        official_client,
        sid,
        Schedule(
            action=_action("SchedWait", base, task_queue),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=2))]),
            policy=SchedulePolicy(overlap=policy),
        ),
    )
    try:

        async def replaced() -> ScheduleDescription:
            d = await handle.describe()
            assert d.info.num_actions >= 2
            assert len(d.info.running_actions) == 1
            return d

        desc = await eventually(replaced)
        await handle.pause()
        first = min(a.action.workflow_id for a in desc.info.recent_actions)
        assert (await official_client.get_workflow_handle(first).describe()).status == status
        for action in (await handle.describe()).info.running_actions:
            await official_client.get_workflow_handle(action.workflow_id).terminate("done")
    finally:
        await handle.delete()
