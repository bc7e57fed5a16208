"""The benchmark's workflows and activity, one source for either SDK.

Both SDKs must run identical workflow code, and temporalio accepts only module-level
workflow classes, so this module binds its decorators at import time to the SDK that
``BENCH_SDK`` names ("temporalio", the default, or "perdure"). Each benchmark process
uses one SDK and sets the variable before importing this module.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from datetime import timedelta
from typing import Any

SDK = os.environ.get("BENCH_SDK", "temporalio")
if SDK not in ("temporalio", "perdure"):
    raise ValueError(f"BENCH_SDK must be temporalio or perdure, not {SDK!r}")
workflow: Any = importlib.import_module(f"{SDK}.workflow")
activity: Any = importlib.import_module(f"{SDK}.activity")

TASK_QUEUE = "bench"
ACTIVITY_TIMEOUT = timedelta(seconds=60)


@activity.defn(name="noop")
async def noop() -> None:
    return None


@workflow.defn(name="Sequential")
class Sequential:
    """n sequential no-op activities (W1 n=1, W2 n=10, W6 n=100)."""

    @workflow.run
    async def run(self, n: int) -> int:
        for _ in range(n):
            await workflow.execute_activity(noop, start_to_close_timeout=ACTIVITY_TIMEOUT)
        return n


@workflow.defn(name="Sleeper")
class Sleeper:
    """One timer (W3)."""

    @workflow.run
    async def run(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@workflow.defn(name="SignalWaiter")
class SignalWaiter:
    """Waits for signal `go` (W4); query `ready` answers once the workflow is waiting."""

    def __init__(self) -> None:
        self.go = False

    @workflow.signal(name="go")
    def on_go(self) -> None:
        self.go = True

    @workflow.query(name="ready")
    def ready(self) -> bool:
        return True

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.go)


@workflow.defn(name="FanOut")
class FanOut:
    """n concurrent no-op activities (W5)."""

    @workflow.run
    async def run(self, n: int) -> int:
        calls = [
            workflow.execute_activity(noop, start_to_close_timeout=ACTIVITY_TIMEOUT)
            for _ in range(n)
        ]
        await asyncio.gather(*calls)
        return n


WORKFLOWS = [Sequential, Sleeper, SignalWaiter, FanOut]
