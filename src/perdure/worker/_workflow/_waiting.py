"""What workflow code waits on besides operations: durable timers and wait conditions.

The event loop turns ``call_later`` into a durable timer through ``Timers`` (a StartTimer
command; the FireTimer job makes the handle ready). Conditions are re-checked whenever
workflow code is idle, as in temporalio.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any

from temporalio.api.sdk.v1 import UserMetadata

from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._command_buffer import CommandBuffer
from perdure.worker._workflow._loop import TimerHandle, WorkflowEventLoop
from perdure.worker._workflow._mode import RunMode

timer_metadata: contextvars.ContextVar[UserMetadata | None] = contextvars.ContextVar(
    "_perdure_timer_metadata", default=None
)
"""User metadata (summary) for timers created by asyncio internals in this context."""


class Timers:
    """Durable timers: the event loop's hooks for starting and cancelling them."""

    def __init__(self, mode: RunMode, commands: CommandBuffer) -> None:
        self._mode = mode
        self._commands = commands
        self._pending: dict[int, TimerHandle] = {}

    def start(self, delay: float, handle: TimerHandle | None) -> int:
        """Issue StartTimer; ``handle`` becomes ready when the timer fires."""
        self._mode.check_writable("schedule timer")
        seq = self._commands.next_seq("timer")
        if handle is not None:
            self._pending[seq] = handle
        self._commands.add(jobs.StartTimer(seq, delay, timer_metadata.get()))
        return seq

    def cancel(self, handle: TimerHandle) -> None:
        """Issue CancelTimer for a timer that has not fired."""
        if self._pending.pop(handle.seq, None) is None:
            return
        self._commands.add(jobs.CancelTimer(handle.seq))

    def fired(self, job: jobs.FireTimer) -> TimerHandle | None:
        """The handle of a timer that fired (None if it was cancelled meanwhile)."""
        return self._pending.pop(job.seq, None)


async def durable_sleep(
    loop: WorkflowEventLoop, duration: float, metadata: UserMetadata | None
) -> None:
    """Sleep on a durable timer; cancelling the sleep cancels the timer."""
    fut = loop.create_future()
    token = timer_metadata.set(metadata)
    try:
        handle = loop.call_later(duration, lambda: fut.set_result(None) if not fut.done() else None)
    finally:
        timer_metadata.reset(token)
    fut.add_done_callback(lambda f: handle.cancel() if f.cancelled() else None)
    await fut


class Conditions:
    """``workflow.wait_condition``: predicates checked whenever workflow code is idle."""

    def __init__(self, loop: WorkflowEventLoop, mode: RunMode) -> None:
        self._loop = loop
        self._mode = mode
        self._waiting: list[tuple[Callable[[], bool], asyncio.Future[Any]]] = []

    def check(self) -> bool:
        """Resolve the conditions that hold; False when none is waiting."""
        if not self._waiting:
            return False
        kept = []
        for fn, fut in self._waiting:
            if fut.done():
                continue
            if fn():
                fut.set_result(True)
            else:
                kept.append((fn, fut))
        self._waiting[:] = kept
        return True

    async def wait(
        self, fn: Callable[[], bool], timeout: float | None, metadata: UserMetadata | None
    ) -> None:
        """Wait for ``fn()``, or for ``timeout`` seconds of workflow time (TimeoutError)."""
        self._mode.check_writable("wait condition")
        mode = self._mode
        cancelled_before = mode.cancel_reason is not None

        def cancellation_arrived() -> bool:
            return mode.single_batch and not cancelled_before and mode.cancel_reason is not None

        fut = self._loop.create_future()
        self._waiting.append((fn, fut))
        context = contextvars.copy_context()

        async def in_context() -> None:
            timer_metadata.set(metadata)
            await asyncio.wait_for(fut, timeout)

        try:
            await context.run(in_context)
        except TimeoutError:
            if cancellation_arrived():
                raise asyncio.CancelledError() from None
            raise
        if cancellation_arrived():
            raise asyncio.CancelledError()
