"""TimeSkipper: time jumps to the next deadline only while unlocked and idle."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from perdure.server.clock import VirtualClock
from perdure.server.engine.deadlines import TimerKind, TimerRef
from perdure.server.engine.state import ActivityState, ExecutionState
from perdure.server.errors import FailedPrecondition
from perdure.server.store.base import Nanos, TimerRow
from perdure.server.timers.skipping import TimeSkipper, has_task_in_flight

HOUR = 3600 * 1_000_000_000


class Timers:
    """The store and timer-queue parts the skipper reads."""

    def __init__(self) -> None:
        self.rows: list[TimerRow] = []
        self.firing = False

    def add(self, kind: TimerKind, fire_time: int) -> None:
        ref = TimerRef(kind, len(self.rows))
        self.rows.append(TimerRow(ref.key("run"), "ns", "wf", "run", fire_time, ref.encode()))
        self.rows.sort(key=lambda row: row.fire_time)

    async def get_timers(self, until: Nanos, limit: int) -> list[TimerRow]:
        return [row for row in self.rows if row.fire_time <= until][:limit]

    def idle(self) -> bool:
        return not self.firing


def _skipper(timers: Timers) -> tuple[TimeSkipper, VirtualClock]:
    clock = VirtualClock()
    return TimeSkipper(clock, cast(Any, timers), cast(Any, timers)), clock


def _state(**changes: Any) -> ExecutionState:
    st = ExecutionState(
        namespace_id="ns",
        workflow_id="wf",
        run_id="run",
        first_execution_run_id="run",
        workflow_type="T",
        task_queue="tq",
        start_request_id="r",
        start_time=0,
        execution_time=0,
        workflow_task_timeout=10,
    )
    for name, value in changes.items():
        setattr(st, name, value)
    return st


class _Activity:
    def __init__(self, state: ActivityState, paused: bool = False) -> None:
        self.state = state
        self.paused = paused


def test_in_flight_means_a_workflow_task_or_a_running_activity() -> None:
    assert not has_task_in_flight(_state())
    assert has_task_in_flight(_state(workflow_task=object()))
    assert has_task_in_flight(_state(activities={5: _Activity(ActivityState.SCHEDULED)}))
    assert has_task_in_flight(_state(activities={5: _Activity(ActivityState.STARTED)}))
    assert not has_task_in_flight(_state(activities={5: _Activity(ActivityState.BACKOFF)}))
    paused = _Activity(ActivityState.SCHEDULED, paused=True)
    assert not has_task_in_flight(_state(activities={5: paused}))
    assert not has_task_in_flight(_state(status=2, workflow_task=object()))


async def test_skips_only_when_unlocked_and_nothing_runs() -> None:
    timers = Timers()
    skipper, clock = _skipper(timers)
    target = clock.now_ns() + 5 * HOUR
    timers.add(TimerKind.USER_TIMER, target)

    assert not await skipper.skip_once()  # locked at start
    assert clock.now_ns() < target
    skipper.unlock()
    skipper.in_flight.update(_state(workflow_task=object()))
    assert not await skipper.skip_once()
    skipper.in_flight.update(_state())
    timers.firing = True
    assert await skipper.skip_once()  # look again soon, but do not move yet
    assert clock.now_ns() < target
    timers.firing = False
    assert await skipper.skip_once()
    assert clock.now_ns() >= target
    skipper.lock()
    with pytest.raises(FailedPrecondition):
        skipper.unlock()
        skipper.unlock()


async def test_retention_deletions_are_not_skipped_to() -> None:
    timers = Timers()
    skipper, clock = _skipper(timers)
    start = clock.now_ns()
    timers.add(TimerKind.DELETE_EXECUTION, start + HOUR)
    timers.add(TimerKind.ACTIVITY_RETRY, start + 3 * HOUR)
    skipper.unlock()
    await skipper.skip_once()
    assert start + 3 * HOUR <= clock.now_ns() < start + 4 * HOUR


async def test_unlocked_sleep_skips_to_its_end_and_locks_again() -> None:
    timers = Timers()
    skipper, clock = _skipper(timers)
    skipper.start()
    try:
        start = clock.now_ns()
        timers.add(TimerKind.USER_TIMER, start + 10 * HOUR)
        await asyncio.wait_for(skipper.sleep_until(start + 2 * HOUR, unlock=True), 2)
        assert start + 2 * HOUR <= clock.now_ns() < start + 3 * HOUR
        assert skipper.locked
    finally:
        await skipper.stop()


async def test_locked_sleep_waits_in_real_time() -> None:
    skipper, clock = _skipper(Timers())
    skipper.start()
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(skipper.sleep_until(clock.now_ns() + HOUR, unlock=False), 0.2)
    finally:
        await skipper.stop()
