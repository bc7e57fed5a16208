"""Workflows and activities written with the official temporalio SDK, used by e2e tests."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

# Per-test counters keyed by a test-chosen string (tests run in this process).
ATTEMPTS: dict[str, int] = defaultdict(int)
SEEN_HEARTBEATS: dict[str, list[object]] = defaultdict(list)
CANCELLED: set[str] = set()


@activity.defn
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@activity.defn
async def flaky(key: str, failures: int) -> str:
    """Fails `failures` times, heartbeating its attempt number, then succeeds."""
    info = activity.info()
    ATTEMPTS[key] += 1
    SEEN_HEARTBEATS[key].append(info.heartbeat_details[0] if info.heartbeat_details else None)
    activity.heartbeat(f"attempt-{info.attempt}")
    if info.attempt <= failures:
        raise ApplicationError(f"failure {info.attempt}", type="Flaky")
    return f"ok after {info.attempt}"


@activity.defn
async def fail_hard(message: str) -> None:
    raise ApplicationError(message, {"why": "bad"}, type="Hard", non_retryable=True)


@activity.defn
async def sleepy(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slept"


@activity.defn
async def heartbeat_until_cancelled(key: str) -> str:
    try:
        while True:
            activity.heartbeat()
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        CANCELLED.add(key)
        raise


@activity.defn
async def complete_later() -> str:
    activity.raise_complete_async()


@workflow.defn
class OneActivity:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn
class Sequence:
    @workflow.run
    async def run(self, count: int) -> list[str]:
        out = []
        for i in range(count):
            out.append(
                await workflow.execute_activity(
                    greet, str(i), start_to_close_timeout=timedelta(seconds=10)
                )
            )
        return out


@workflow.defn
class Sleeper:
    @workflow.run
    async def run(self, seconds: float) -> str:
        start = workflow.now()
        await asyncio.sleep(seconds)
        return f"{(workflow.now() - start).total_seconds():.1f}"


@workflow.defn
class WaitForSignal:
    def __init__(self) -> None:
        self.values: list[str] = []

    @workflow.run
    async def run(self, count: int) -> list[str]:
        await workflow.wait_condition(lambda: len(self.values) >= count)
        return self.values

    @workflow.signal
    def add(self, value: str) -> None:
        self.values.append(value)


@dataclass
class ActivitySpec:
    name: str
    args: list[Any]
    start_to_close: float = 10
    heartbeat: float = 0
    max_attempts: int = 0


@workflow.defn
class CallActivity:
    """Runs the activity named in its input with the given options."""

    @workflow.run
    async def run(self, spec: ActivitySpec) -> Any:
        return await workflow.execute_activity(
            spec.name,
            args=spec.args,
            start_to_close_timeout=timedelta(seconds=spec.start_to_close),
            heartbeat_timeout=timedelta(seconds=spec.heartbeat) if spec.heartbeat else None,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=0.1),
                backoff_coefficient=1.0,
                maximum_attempts=spec.max_attempts,
            ),
        )


@workflow.defn
class Failing:
    @workflow.run
    async def run(self, message: str) -> None:
        raise ApplicationError(message, type="WorkflowBoom", non_retryable=True)


@workflow.defn
class RetryingWorkflow:
    @workflow.run
    async def run(self, succeed_on: int) -> int:
        if workflow.info().attempt < succeed_on:
            raise ApplicationError(f"attempt {workflow.info().attempt}")
        return workflow.info().attempt


@workflow.defn
class TaskFailsOnce:
    """Its first workflow task raises a plain exception (a task failure, retried)."""

    @workflow.run
    async def run(self, key: str) -> int:
        ATTEMPTS[key] += 1
        if ATTEMPTS[key] == 1:
            raise RuntimeError("workflow task bug")
        return ATTEMPTS[key]


@workflow.defn
class Cancellable:
    @workflow.run
    async def run(self, key: str) -> str:
        try:
            return await workflow.execute_activity(
                heartbeat_until_cancelled,
                key,
                start_to_close_timeout=timedelta(seconds=60),
                heartbeat_timeout=timedelta(seconds=2),
                # Wait until the activity confirms, as in the wire notes' scenario (i).
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        except asyncio.CancelledError:
            raise


@workflow.defn
class Forever:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


@workflow.defn
class ContinueAsNewChain:
    @workflow.run
    async def run(self, remaining: int, seen: list[str]) -> list[str]:
        seen = [*seen, workflow.info().run_id]
        if remaining > 0:
            workflow.continue_as_new(args=[remaining - 1, seen])
        return seen


@workflow.defn
class LocalActivities:
    @workflow.run
    async def run(self, name: str) -> list[str]:
        a = await workflow.execute_local_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=5)
        )
        b = await workflow.execute_local_activity(
            greet, a, start_to_close_timeout=timedelta(seconds=5)
        )
        return [a, b]


@workflow.defn
class AsyncCompletion:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            complete_later, start_to_close_timeout=timedelta(seconds=30), activity_id="async-1"
        )


@workflow.defn
class Upserting:
    @workflow.run
    async def run(self) -> str:
        workflow.upsert_memo({"step": "done"})
        return "ok"


ALL_WORKFLOWS = [
    OneActivity,
    Sequence,
    Sleeper,
    WaitForSignal,
    CallActivity,
    Failing,
    RetryingWorkflow,
    TaskFailsOnce,
    Cancellable,
    Forever,
    ContinueAsNewChain,
    LocalActivities,
    AsyncCompletion,
    Upserting,
]
ALL_ACTIVITIES = [
    greet,
    flaky,
    fail_hard,
    sleepy,
    heartbeat_until_cancelled,
    complete_later,
]
