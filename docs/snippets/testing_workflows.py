"""Testing: a month-long workflow tested in milliseconds, with the pytest fixtures."""

# --8<-- [start:code]
from datetime import timedelta

from perdure import workflow
from perdure.client import Client
from perdure.testing import WorkflowEnvironment
from perdure.worker import Worker


@workflow.defn
class Reminder:
    def __init__(self) -> None:
        self.snoozed = False

    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(timedelta(days=30))
        return "snoozed" if self.snoozed else "a month later"

    @workflow.signal
    def snooze(self) -> None:
        self.snoozed = True


async def test_reminder(perdure_client: Client, perdure_task_queue: str) -> None:
    async with Worker(perdure_client, task_queue=perdure_task_queue, workflows=[Reminder]):
        result = await perdure_client.execute_workflow(
            Reminder.run, id="reminder", task_queue=perdure_task_queue
        )
    assert result == "a month later"


async def test_snooze_after_a_week(
    perdure_env: WorkflowEnvironment, perdure_task_queue: str
) -> None:
    client = perdure_env.client
    async with Worker(client, task_queue=perdure_task_queue, workflows=[Reminder]):
        handle = await client.start_workflow(
            Reminder.run, id="reminder", task_queue=perdure_task_queue
        )
        await perdure_env.sleep(timedelta(days=7))  # virtual time: returns at once
        await handle.signal(Reminder.snooze)
        assert await handle.result() == "snoozed"


# --8<-- [end:code]


async def check(env: WorkflowEnvironment, task_queue: str) -> None:
    await test_reminder(env.client, task_queue)
    await test_snooze_after_a_week(env, task_queue + "-2")
