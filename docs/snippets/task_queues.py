"""Concepts: task queues route work to the workers that can do it."""

from perdure.testing import WorkflowEnvironment

# --8<-- [start:code]
from datetime import timedelta

from perdure import activity, workflow
from perdure.worker import Worker


@activity.defn
async def transcode(video: str) -> str:
    return f"{video}.mp4"  # runs only on workers polling "gpu"


@workflow.defn
class Publish:
    @workflow.run
    async def run(self, video: str) -> str:
        return await workflow.execute_activity(
            transcode, video, task_queue="gpu", start_to_close_timeout=timedelta(minutes=30)
        )


# --8<-- [end:code]


async def check(env: WorkflowEnvironment, task_queue: str) -> None:
    client = env.client
    # --8<-- [start:workers]
    async with (
        Worker(client, task_queue="videos", workflows=[Publish]),
        Worker(client, task_queue="gpu", activities=[transcode]),
    ):
        result = await client.execute_workflow(
            Publish.run, "cat", id="publish-cat", task_queue="videos"
        )
    # --8<-- [end:workers]
    assert result == "cat.mp4"
