"""The scheduler in a server process (no gRPC): many schedules fire together, changes
go through its lock, and an unknown schedule is Temporal's NotFound."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from temporalio.api.schedule.v1 import message_pb2 as sched_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.app import PerdureServer, ServerConfig
from perdure.server.errors import NotFound
from perdure.server.schedules.machine import ScheduleState

pytestmark = pytest.mark.timeout(60)
SCHEDULES = 40


@pytest.fixture
async def server() -> AsyncIterator[PerdureServer]:
    s = await PerdureServer.start(ServerConfig(db=":memory:", serve_grpc=False))
    try:
        yield s
    finally:
        await s.stop()


def _every_second(i: int) -> sched_pb.Schedule:
    schedule = sched_pb.Schedule()
    schedule.spec.interval.add().interval.FromSeconds(1)
    schedule.policies.overlap_policy = 6  # type: ignore[assignment]  # ALLOW_ALL
    action = schedule.action.start_workflow
    action.workflow_id, action.workflow_type.name, action.task_queue.name = f"w{i}", "T", "q"
    return schedule


async def test_many_schedules_fire_every_second(server: PerdureServer) -> None:
    fe = server.frontend
    for i in range(SCHEDULES):
        await fe.CreateSchedule(
            rr.CreateScheduleRequest(
                namespace="default", schedule_id=f"s{i}", schedule=_every_second(i)
            ),
            None,  # type: ignore[arg-type]
        )
    await asyncio.sleep(3.5)
    ns = await server.namespaces.get("default")
    for i in range(SCHEDULES):
        record = await server.store.get_schedule(ns.id, f"s{i}")
        assert record is not None
        state = ScheduleState.decode(record.state)
        assert state.action_count >= 2, f"s{i} fired {state.action_count} times"
        ids = [a.start_workflow_result.workflow_id for a in state.recent_actions]
        seconds = [
            datetime.strptime(w.removeprefix(f"w{i}-"), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            for w in ids
        ]
        assert seconds == sorted(set(seconds))
        assert all((b - a).total_seconds() == 1 for a, b in itertools.pairwise(seconds))
        assert not state.running  # ALLOW_ALL runs are not tracked


async def test_changes_and_unknown_schedules(server: PerdureServer) -> None:
    ns = await server.namespaces.get("default")
    with pytest.raises(NotFound, match="temporal-sys-scheduler:nope"):
        await server.scheduler.modify(ns.id, "nope", lambda state: None)
    await server.frontend.CreateSchedule(
        rr.CreateScheduleRequest(namespace="default", schedule_id="x", schedule=_every_second(0)),
        None,  # type: ignore[arg-type]
    )

    def pause(state: ScheduleState) -> None:
        state.schedule.state.paused = True

    changed = await server.scheduler.modify(ns.id, "x", pause)
    assert changed.schedule.state.paused and changed.update_time > 0
    record = await server.store.get_schedule(ns.id, "x")
    assert record is not None and record.wake_time is None  # paused: nothing to wake for
