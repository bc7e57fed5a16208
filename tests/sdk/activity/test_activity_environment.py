"""perdure.testing.ActivityEnvironment: heartbeats, cancellation, worker shutdown."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from perdure import activity
from perdure.exceptions import CancelledError
from perdure.testing import ActivityEnvironment


async def test_heartbeats_reach_on_heartbeat() -> None:
    env = ActivityEnvironment()
    seen: list[tuple[object, ...]] = []
    env.on_heartbeat = lambda *details: seen.append(details)

    async def act() -> None:
        activity.heartbeat(1, "two")
        activity.heartbeat()

    await env.run(act)
    assert seen == [(1, "two"), ()]


async def test_cancel_async_activity() -> None:
    env = ActivityEnvironment()
    started = asyncio.Event()

    async def act() -> str:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            assert activity.is_cancelled()
            details = activity.cancellation_details()
            assert details is not None and details.cancel_requested
            return "cancelled"
        return "not cancelled"

    task = asyncio.create_task(env.run(act))
    await started.wait()
    env.cancel()
    assert await task == "cancelled"


async def test_wait_for_cancelled_and_worker_shutdown() -> None:
    env = ActivityEnvironment()

    async def act() -> list[str]:
        events = []
        await activity.wait_for_worker_shutdown()
        events.append("shutdown")
        try:
            await activity.wait_for_cancelled()
        finally:
            events.append("cancelled")
        return events

    task = asyncio.create_task(env.run(act))
    await asyncio.sleep(0.01)
    env.worker_shutdown()
    await asyncio.sleep(0.01)
    assert not task.done()
    env.cancel(activity.ActivityCancellationDetails(worker_shutdown=True))
    # The task is cancelled while waiting: the CancelledError propagates.
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancel_before_run() -> None:
    env = ActivityEnvironment()
    env.cancel()

    def sync_act() -> bool:
        return activity.is_cancelled()

    assert env.run(sync_act)


async def test_cancel_raises_in_sync_thread() -> None:
    env = ActivityEnvironment()
    started = threading.Event()

    def act() -> str:
        started.set()
        try:
            for _ in range(300):
                time.sleep(0.01)
        except CancelledError:
            return "cancelled"
        return "finished"

    fut = asyncio.get_running_loop().run_in_executor(None, env.run, act)
    await asyncio.to_thread(started.wait, 5)
    env.cancel()
    assert await fut == "cancelled"


async def test_shield_delays_thread_cancel() -> None:
    env = ActivityEnvironment()
    started = threading.Event()
    steps: list[str] = []

    def act() -> None:
        with activity.shield_thread_cancel_exception():
            started.set()
            activity.wait_for_cancelled_sync(5)
            time.sleep(0.05)
            steps.append("shield done")
        steps.append("after shield")  # not reached: raised at the block's end

    fut = asyncio.get_running_loop().run_in_executor(None, env.run, act)
    await asyncio.to_thread(started.wait, 5)
    env.cancel()
    with pytest.raises(CancelledError):
        await fut
    assert steps == ["shield done"]


async def test_no_thread_cancel_exception() -> None:
    env = ActivityEnvironment()
    started = threading.Event()

    @activity.defn(no_thread_cancel_exception=True)
    def act() -> str:
        started.set()
        activity.wait_for_cancelled_sync(5)
        time.sleep(0.05)
        return "saw cancel" if activity.is_cancelled() else "timeout"

    fut = asyncio.get_running_loop().run_in_executor(None, env.run, act)
    await asyncio.to_thread(started.wait, 5)
    env.cancel()
    assert await fut == "saw cancel"


async def test_metric_meter_is_available() -> None:
    env = ActivityEnvironment()

    async def act() -> None:
        counter = activity.metric_meter().create_counter("attempts")
        counter.add(1)

    await env.run(act)
