"""The deterministic event loop: FIFO callbacks, durable timers through hooks, no I/O."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from perdure.worker._workflow._loop import TimerHandle, WorkflowEventLoop


class Recorder:
    def __init__(self) -> None:
        self.started: list[float] = []
        self.cancelled: list[int] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self.handles: dict[int, TimerHandle] = {}

    def loop(self) -> WorkflowEventLoop:
        def start(delay: float, handle: TimerHandle | None) -> int:
            self.started.append(delay)
            seq = len(self.started)
            if handle is not None:
                self.handles[seq] = handle
            return seq

        loop = WorkflowEventLoop(  # type: ignore[abstract]
            start_timer=start,
            cancel_timer=lambda h: self.cancelled.append(h.seq),
            register_task=self.tasks.append,
            runtime=None,
            name="Test (workflow_id=w, run_id=r)",
        )
        loop.time_ns = 1_000_000_000
        return loop


def test_callbacks_run_in_fifo_order_until_none_is_ready() -> None:
    loop = Recorder().loop()
    order: list[str] = []

    async def worker(name: str, steps: int) -> None:
        for i in range(steps):
            order.append(f"{name}{i}")
            await asyncio.sleep(0)

    loop.create_task(worker("a", 3))
    loop.create_task(worker("b", 2))
    loop.run_once(check_conditions=False)
    assert order == ["a0", "b0", "a1", "b1", "a2"]


def test_sleep_becomes_a_durable_timer_fired_by_the_instance() -> None:
    rec = Recorder()
    loop = rec.loop()
    done: list[float] = []

    async def sleeper() -> None:
        await asyncio.sleep(2.5)
        done.append(loop.time())

    task = loop.create_task(sleeper())
    loop.run_once(check_conditions=False)
    assert rec.started == [2.5] and not done
    loop.time_ns = 3_500_000_000
    loop.make_ready(rec.handles[1])
    loop.run_once(check_conditions=False)
    assert done == [3.5] and task.done()


def test_timers_cancelled_before_firing_are_reported() -> None:
    rec = Recorder()
    loop = rec.loop()
    fut = loop.create_future()

    async def waiter() -> None:
        await asyncio.wait_for(fut, 5)

    task = loop.create_task(waiter())
    loop.run_once(check_conditions=False)
    assert rec.started == [5] and rec.cancelled == []
    fut.set_result(None)  # resolved first: wait_for cancels its timeout timer
    loop.run_once(check_conditions=False)
    assert task.done() and rec.cancelled == [1]


def test_io_is_refused_with_the_workflow_named() -> None:
    loop = Recorder().loop()
    with pytest.raises(RuntimeError, match=r"Test \(workflow_id=w.*use an activity"):
        loop.run_in_executor(None, print)
    with pytest.raises(RuntimeError, match="cannot do I/O"):
        loop.call_soon_threadsafe(print)


def test_running_loop_is_restored_after_workflow_code() -> None:
    async def outer() -> None:
        real = asyncio.get_running_loop()
        loop = Recorder().loop()
        seen: list[Any] = []

        async def inner() -> None:
            seen.append(asyncio.get_running_loop())

        loop.create_task(inner())
        loop.run_once(check_conditions=False)
        assert seen == [loop]
        assert asyncio.get_running_loop() is real

    asyncio.run(outer())
