"""Concepts: durable timers (sleep, asyncio.sleep, wait_condition with a timeout)."""

from perdure.testing import WorkflowEnvironment
from perdure.worker import Worker

# --8<-- [start:code]
import asyncio
from datetime import timedelta

from perdure import workflow


@workflow.defn
class Trial:
    def __init__(self) -> None:
        self.upgraded = False

    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(timedelta(days=7))  # a durable timer
        await asyncio.sleep(3600)  # the same: asyncio's sleep is a timer too
        try:
            await workflow.wait_condition(lambda: self.upgraded, timeout=timedelta(days=3))
            return "upgraded"
        except TimeoutError:
            return "trial over"

    @workflow.signal
    def upgrade(self) -> None:
        self.upgraded = True


# --8<-- [end:code]


async def check(env: WorkflowEnvironment, task_queue: str) -> None:
    async with Worker(env.client, task_queue=task_queue, workflows=[Trial]):
        start = await env.get_current_time()
        assert (
            await env.client.execute_workflow(Trial.run, id="trial", task_queue=task_queue)
            == "trial over"
        )
        elapsed = await env.get_current_time() - start
        assert timedelta(days=10, hours=1) <= elapsed < timedelta(days=10, hours=2), elapsed
