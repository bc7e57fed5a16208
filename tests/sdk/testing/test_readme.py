"""The README's example: a ten-line test of a workflow that sleeps for a month."""

from datetime import timedelta

from perdure import workflow
from perdure.client import Client
from perdure.worker import Worker


@workflow.defn
class Reminder:
    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(timedelta(days=30))
        return "a month later"


async def test_reminder_sleeps_a_month(perdure_client: Client, perdure_task_queue: str) -> None:
    async with Worker(perdure_client, task_queue=perdure_task_queue, workflows=[Reminder]):
        result = await perdure_client.execute_workflow(
            Reminder.run, id="reminder", task_queue=perdure_task_queue
        )
    assert result == "a month later"
