"""Scenario workflows, written once for both SDKs (loaded by scenarios.load).

This file is executed as a module by `scenarios.load(sdk)` with the global `workflow`
already bound to `temporalio.workflow` or `perdure.workflow`. The official SDK runs these
workflows to write reference histories; Perdure must replay them with the same code.
Activities are called by name so replay needs no activity module.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from types import ModuleType
from typing import Any

workflow: ModuleType  # bound by scenarios.load before this module runs
# ruff: noqa: F821  (`workflow` is injected by the loader, not assigned here)


@dataclass
class Greeting:
    """A dataclass argument, to check converter round trips in histories."""

    name: str
    count: int


short = timedelta(seconds=10)


@workflow.defn(name="Activities")
class Activities:
    @workflow.run
    async def run(self, name: str) -> list[str]:
        first = await workflow.execute_activity("greet", name, start_to_close_timeout=short)
        both = await asyncio.gather(
            workflow.execute_activity("greet", "a", start_to_close_timeout=short),
            workflow.execute_activity("greet", "b", start_to_close_timeout=short),
        )
        return [first, *both]


@workflow.defn(name="Timers")
class Timers:
    @workflow.run
    async def run(self) -> float:
        start = workflow.time()
        await asyncio.sleep(0.1)
        await workflow.sleep(timedelta(milliseconds=100))
        try:
            await asyncio.wait_for(asyncio.Event().wait(), 0.1)
        except TimeoutError:
            pass
        return workflow.time() - start


@workflow.defn(name="Signals")
class Signals:
    def __init__(self) -> None:
        self.items: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: len(self.items) >= 2)
        return self.items

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.query
    def count(self) -> int:
        return len(self.items)


@workflow.defn(name="Child")
class Child:
    @workflow.run
    async def run(self, greeting: Greeting) -> str:
        return greeting.name * greeting.count


@workflow.defn(name="Parent")
class Parent:
    @workflow.run
    async def run(self) -> str:
        result = await workflow.execute_child_workflow(
            "Child", Greeting("ab", 2), id=f"{workflow.info().workflow_id}-child"
        )
        handle = await workflow.start_child_workflow(
            "Child", Greeting("c", 1), id=f"{workflow.info().workflow_id}-child2"
        )
        return result + await handle


@workflow.defn(name="LocalActivities")
class LocalActivities:
    @workflow.run
    async def run(self) -> list[str]:
        one = await workflow.execute_local_activity("greet", "local", start_to_close_timeout=short)
        two = await workflow.execute_local_activity("greet", "again", start_to_close_timeout=short)
        await workflow.sleep(0.05)
        return [one, two]


@workflow.defn(name="Patches")
class Patches:
    @workflow.run
    async def run(self) -> list[str]:
        out = []
        if workflow.patched("my-patch"):
            out.append("patched")
        workflow.deprecate_patch("old-patch")
        out.append(await workflow.execute_activity("greet", "p", start_to_close_timeout=short))
        return out


@workflow.defn(name="Updates")
class Updates:
    def __init__(self) -> None:
        self.total = 0
        self.done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done)
        return self.total

    @workflow.update
    async def add(self, n: int) -> int:
        await workflow.sleep(0.05)
        self.total += n
        return self.total

    @add.validator
    def validate_add(self, n: int) -> None:
        if n < 0:
            raise ValueError("negative")

    @workflow.update
    def finish(self) -> int:
        self.done = True
        return self.total


@workflow.defn(name="Randomness")
class Randomness:
    @workflow.run
    async def run(self) -> list[Any]:
        value = workflow.random().randint(0, 1_000_000)
        ident = str(workflow.uuid4())
        await workflow.execute_activity(
            "greet", str(value), activity_id=ident, start_to_close_timeout=short
        )
        return [value, ident]


@workflow.defn(name="CancelActivity")
class CancelActivity:
    @workflow.run
    async def run(self) -> str:
        handle = workflow.start_activity(
            "slow",
            start_to_close_timeout=short,
            cancellation_type=workflow.ActivityCancellationType.TRY_CANCEL,
        )
        await workflow.sleep(0.2)
        handle.cancel()
        try:
            await handle
        except Exception as err:
            return type(err).__name__ + ":" + type(err.__cause__).__name__
        return "not cancelled"


@workflow.defn(name="ContinueAsNew")
class ContinueAsNew:
    @workflow.run
    async def run(self, n: int) -> int:
        if n > 0:
            workflow.continue_as_new(n - 1)
        return n


@workflow.defn(name="Failing")
class Failing:
    @workflow.run
    async def run(self) -> None:
        try:
            await workflow.execute_activity(
                "fail",
                start_to_close_timeout=short,
                retry_policy=_retry_once(workflow),
            )
        except Exception as err:
            raise workflow_application_error(workflow, err) from err


@workflow.defn(name="LocalFailures")
class LocalFailures:
    @workflow.run
    async def run(self) -> list[str]:
        out = []
        for name, timeout in (("fail", short), ("slow", timedelta(milliseconds=300))):
            try:
                await workflow.execute_local_activity(
                    name, start_to_close_timeout=timeout, retry_policy=_retry_once(workflow)
                )
            except Exception as err:
                out.append(f"{type(err).__name__}:{type(err.__cause__).__name__}")
        return out


@workflow.defn(name="Interleave")
class Interleave:
    """Two coroutines resumed in the same activation: the order of their next commands
    depends on how many loop callbacks each resolution takes (activity vs timer)."""

    @workflow.run
    async def run(self) -> list[str]:
        order: list[str] = []

        async def after_activity() -> None:
            await workflow.execute_activity("greet", "a", start_to_close_timeout=short)
            order.append("activity")
            await workflow.execute_activity("after_activity", start_to_close_timeout=short)

        async def after_timer() -> None:
            await workflow.sleep(5)
            order.append("timer")
            await workflow.execute_activity("after_timer", start_to_close_timeout=short)

        await asyncio.gather(after_activity(), after_timer())
        return order


@workflow.defn(name="SignalInterleave")
class SignalInterleave:
    """A signal handler and the main coroutine both issue commands in one activation."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity("greet", "a", start_to_close_timeout=short)
        await workflow.execute_activity("after_activity", start_to_close_timeout=short)
        await workflow.wait_condition(lambda: self.done)

    @workflow.signal
    async def poke(self) -> None:
        await workflow.execute_activity("from_signal", start_to_close_timeout=short)
        self.done = True


def _retry_once(workflow: ModuleType) -> Any:
    """A single-attempt retry policy from the SDK that `workflow` belongs to."""
    if workflow.__name__.startswith("temporalio"):
        from temporalio.common import RetryPolicy as TRetryPolicy

        return TRetryPolicy(maximum_attempts=1)
    from perdure.common import RetryPolicy

    return RetryPolicy(maximum_attempts=1)


def workflow_application_error(workflow: ModuleType, cause: BaseException) -> Exception:
    """An ApplicationError from the SDK that `workflow` belongs to."""
    if workflow.__name__.startswith("temporalio"):
        from temporalio.exceptions import ApplicationError as TApplicationError

        return TApplicationError("activity failed", type(cause).__name__, non_retryable=True)
    from perdure.exceptions import ApplicationError

    return ApplicationError("activity failed", type(cause).__name__, non_retryable=True)
