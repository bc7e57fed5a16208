"""Workflows and activities for the testing-environment tests."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from perdure import activity, workflow
from perdure.common import RetryPolicy


@activity.defn
async def real_work(seconds: float) -> str:
    """Takes `seconds` of real time: time must not skip meanwhile."""
    await asyncio.sleep(seconds)
    return "done"


@activity.defn
async def fails_first_attempt() -> int:
    if activity.info().attempt == 1:
        raise RuntimeError("first attempt fails")
    return activity.info().attempt


@workflow.defn
class Sleeper:
    """Sleeps, then reports how far workflow time moved."""

    @workflow.run
    async def run(self, seconds: float) -> float:
        start = workflow.now()
        await workflow.sleep(timedelta(seconds=seconds))
        return (workflow.now() - start).total_seconds()

    @workflow.query
    def now(self) -> datetime:
        return workflow.now()


@workflow.defn
class DailyTimers:
    """One timer per day for `days` days; returns the dates it woke on."""

    @workflow.run
    async def run(self, days: int) -> list[str]:
        woke = []
        for _ in range(days):
            await workflow.sleep(timedelta(days=1))
            woke.append(workflow.now().date().isoformat())
        return woke


@workflow.defn
class ActivityWithTimeout:
    """An activity that works in real time beside a long timer."""

    @workflow.run
    async def run(self, seconds: float) -> str:
        return await workflow.execute_activity(
            real_work,
            seconds,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


@workflow.defn
class RetriesAfterAnHour:
    @workflow.run
    async def run(self) -> tuple[int, float]:
        start = workflow.now()
        attempt = await workflow.execute_activity(
            fails_first_attempt,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(hours=1)),
        )
        return attempt, (workflow.now() - start).total_seconds()


@workflow.defn
class Asserts:
    @workflow.run
    async def run(self) -> None:
        assert 1 + 1 == 3, "arithmetic is broken"


@workflow.defn
class WaitsForSignal:
    """Waits up to a week for a signal."""

    def __init__(self) -> None:
        self.got = False

    @workflow.run
    async def run(self) -> bool:
        try:
            await workflow.wait_condition(lambda: self.got, timeout=timedelta(days=7))
        except TimeoutError:
            return False
        return True

    @workflow.signal
    def go(self) -> None:
        self.got = True


@workflow.defn
class SleepyChild:
    @workflow.run
    async def run(self, days: int) -> int:
        await workflow.sleep(timedelta(days=days))
        return days


@workflow.defn
class ParentThatContinues:
    """Each run waits for a child that sleeps 3 days, then 5 hours, then continues."""

    @workflow.run
    async def run(self, run: int) -> int:
        slept = await workflow.execute_child_workflow(
            SleepyChild.run, 3, id=f"{workflow.info().workflow_id}-child-{run}"
        )
        await workflow.sleep(timedelta(hours=5))
        if run < 3:
            workflow.continue_as_new(run + 1)
        return slept
