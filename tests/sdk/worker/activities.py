"""Activities and a workflow shared by the worker tests.

Kept in an importable module: process-pool activities must be picklable, and the
official worker's workflow must live at module level.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import temporalio.common
import temporalio.workflow

from perdure import activity


@dataclass
class ActivityCall:
    """What the CallActivity workflow should schedule (an activity named `name`)."""

    name: str
    args: list[Any] = field(default_factory=list)
    task_queue: str | None = None
    start_to_close_ms: int = 20_000
    heartbeat_timeout_ms: int | None = None
    max_attempts: int = 1
    initial_interval_ms: int = 100
    cancel_after_ms: int | None = None


@temporalio.workflow.defn
class CallActivity:
    """Schedules one activity (cancelling it after a while if asked), returns its result."""

    @temporalio.workflow.run
    async def run(self, call: ActivityCall) -> Any:
        handle = temporalio.workflow.start_activity(
            call.name,
            args=call.args,
            task_queue=call.task_queue,
            start_to_close_timeout=timedelta(milliseconds=call.start_to_close_ms),
            heartbeat_timeout=timedelta(milliseconds=call.heartbeat_timeout_ms)
            if call.heartbeat_timeout_ms
            else None,
            retry_policy=temporalio.common.RetryPolicy(
                maximum_attempts=call.max_attempts,
                initial_interval=timedelta(milliseconds=call.initial_interval_ms),
                backoff_coefficient=1.0,
            ),
            cancellation_type=temporalio.workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        if call.cancel_after_ms is not None:
            await temporalio.workflow.sleep(timedelta(milliseconds=call.cancel_after_ms))
            handle.cancel()
        return await handle


@activity.defn
def process_heartbeat_until_cancelled(limit_seconds: float) -> str:
    """A process-pool activity: heartbeats until cancelled through the shared state."""
    deadline = time.monotonic() + limit_seconds
    attempt = activity.info().attempt
    while time.monotonic() < deadline:
        activity.heartbeat(f"beat-{attempt}")
        if activity.is_cancelled():
            return "saw cancel in process"
        time.sleep(0.05)
    return "no cancel"


@activity.defn
def process_echo(value: str) -> str:
    """A process-pool activity that returns its input with its details."""
    info = activity.info()
    return f"{value} from {info.activity_type} attempt {info.attempt}"
