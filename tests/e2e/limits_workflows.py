"""Workflows for the limits tests: many activities at once (each noting when it
started), and a history that grows a timer at a time."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from temporalio import activity, workflow

STARTS: list[float] = []


@activity.defn
async def note_start(i: int) -> int:
    STARTS.append(time.monotonic())
    return i


@workflow.defn
class ManyActivities:
    @workflow.run
    async def run(self, count: int) -> int:
        results = await asyncio.gather(
            *(
                workflow.execute_activity(
                    note_start, i, start_to_close_timeout=timedelta(seconds=60)
                )
                for i in range(count)
            )
        )
        return sum(results)


@workflow.defn
class ManyTimers:
    """Grows its history by a timer per loop until something stops it."""

    @workflow.run
    async def run(self, count: int) -> int:
        for _ in range(count):
            await asyncio.sleep(0.01)
        return count
