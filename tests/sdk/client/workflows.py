"""Workflows and activities written with the OFFICIAL temporalio SDK.

They run on temporalio's Worker while Perdure's client drives them: every test is also an
interoperability check (payloads, failures, updates, queries cross between the SDKs).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import activity, workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError


@dataclass
class Greeting:
    name: str
    times: int = 1
    tags: list[str] = field(default_factory=list)


@dataclass
class Reply:
    text: str
    when: datetime | None = None


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@activity.defn
async def explode(message: str) -> str:
    raise ApplicationError(message, {"why": "testing"}, type="Explosion", non_retryable=True)


TASK_TOKENS: dict[str, bytes] = {}


@activity.defn
async def complete_later(key: str) -> str:
    TASK_TOKENS[key] = activity.info().task_token
    activity.raise_complete_async()


@workflow.defn
class GreetWorkflow:
    @workflow.run
    async def run(self, greeting: Greeting) -> Reply:
        text = await workflow.execute_activity(
            shout, f"hello {greeting.name}", start_to_close_timeout=timedelta(seconds=10)
        )
        return Reply(text=" ".join([text] * greeting.times), when=workflow.now())


@workflow.defn(name="Echo")
class EchoWorkflow:
    @workflow.run
    async def run(self, *args: object) -> list[object]:
        return list(args)


@workflow.defn
class FailingWorkflow:
    @workflow.run
    async def run(self, mode: str) -> str:
        if mode == "activity":
            return await workflow.execute_activity(
                explode, "kaboom", start_to_close_timeout=timedelta(seconds=10)
            )
        raise ApplicationError("workflow failed", 1, "two", type="Bad", non_retryable=True)


@workflow.defn
class InteractiveWorkflow:
    """Collects signals; answers queries; runs updates; ends on ``finish``."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.done = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.done)
        return self.items

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def current(self) -> list[str]:
        return self.items

    @workflow.query
    def greeting(self, name: str) -> Reply:
        return Reply(text=f"hi {name}")

    @workflow.update
    async def add_slowly(self, item: str) -> int:
        await asyncio.sleep(0.2)
        self.items.append(item)
        return len(self.items)

    @add_slowly.validator
    def check_item(self, item: str) -> None:
        if not item:
            raise ValueError("empty item")

    @workflow.update
    def fail_update(self) -> None:
        raise ApplicationError("update handler failed", type="UpdateBad")


@workflow.defn
class ContinuingWorkflow:
    @workflow.run
    async def run(self, remaining: int, total: int = 0) -> int:
        if remaining > 0:
            workflow.continue_as_new(args=[remaining - 1, total + remaining])
        return total


@workflow.defn
class WaitingWorkflow:
    """Waits until cancelled or terminated; reports cancellation as a cancelled result."""

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: False)
        return "never"


@workflow.defn
class InfoWorkflow:
    @workflow.run
    async def run(self) -> dict[str, object]:
        info = workflow.info()
        keyword = SearchAttributeKey.for_keyword("PerdureKeyword")
        return {
            "memo": workflow.memo_value("note", default=None),
            "keyword": info.typed_search_attributes.get(keyword),
            "attempt": info.attempt,
        }


@workflow.defn
class RetryingWorkflow:
    @workflow.run
    async def run(self) -> int:
        attempt = workflow.info().attempt
        if attempt < 3:
            raise ApplicationError(f"attempt {attempt} fails")
        return attempt


@workflow.defn
class AsyncActivityWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(
            complete_later,
            key,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=30),
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )


@workflow.defn
class SleepingWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "rested"


ALL_WORKFLOWS = [
    GreetWorkflow,
    EchoWorkflow,
    FailingWorkflow,
    InteractiveWorkflow,
    ContinuingWorkflow,
    WaitingWorkflow,
    InfoWorkflow,
    RetryingWorkflow,
    AsyncActivityWorkflow,
    SleepingWorkflow,
]
ALL_ACTIVITIES = [shout, explode, complete_later]
