"""Workflows for the multi-process tests (tests/e2e/test_cluster*.py).

`ClusterLoad` touches every path that crosses server processes: an activity, a durable
timer, signals, a query and an update, and a final activity once told to finish.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy


@activity.defn(name="cluster_echo")
async def echo(value: str) -> str:
    return value.upper()


@workflow.defn(name="ClusterLoad")
class ClusterLoad:
    def __init__(self) -> None:
        self.signals: list[str] = []
        self.done = False
        self.stage = "started"

    @workflow.run
    async def run(self, key: str, timer_seconds: float = 1.0) -> dict[str, Any]:
        retry = RetryPolicy(
            initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=1)
        )
        first = await workflow.execute_activity(
            echo, f"a-{key}", start_to_close_timeout=timedelta(seconds=4), retry_policy=retry
        )
        self.stage = "timer"
        await workflow.sleep(timer_seconds)
        self.stage = "waiting"
        await workflow.wait_condition(lambda: self.done)
        last = await workflow.execute_activity(
            echo, f"z-{key}", start_to_close_timeout=timedelta(seconds=4), retry_policy=retry
        )
        return {"signals": self.signals, "results": [first, last]}

    @workflow.signal(name="add")
    def add(self, value: str) -> None:
        self.signals.append(value)

    @workflow.signal(name="finish")
    def finish(self) -> None:
        self.done = True

    @workflow.query(name="state")
    def state(self) -> dict[str, Any]:
        return {"stage": self.stage, "signals": len(self.signals)}

    @workflow.update(name="bump")
    def bump(self, value: str) -> int:
        self.signals.append(f"update:{value}")
        return len(self.signals)
