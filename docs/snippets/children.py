"""Concepts: child workflows and continue-as-new."""

from perdure.testing import WorkflowEnvironment
from perdure.worker import Worker

# --8<-- [start:code]
import asyncio
from datetime import timedelta

from perdure import workflow


@workflow.defn
class Thumbnail:
    @workflow.run
    async def run(self, image: str) -> str:
        return f"thumb-{image}"


@workflow.defn
class Album:
    @workflow.run
    async def run(self, images: list[str]) -> list[str]:
        # One child per image, all at once; each has its own id and history.
        return list(
            await asyncio.gather(
                *(
                    workflow.execute_child_workflow(
                        Thumbnail.run, image, id=f"{workflow.info().workflow_id}-{image}"
                    )
                    for image in images
                )
            )
        )


@workflow.defn
class Poller:
    @workflow.run
    async def run(self, checks_done: int) -> int:
        for _ in range(10):
            await workflow.sleep(timedelta(hours=1))
            checks_done += 1
            if checks_done >= 25:
                return checks_done
        # A fresh history every 10 checks (in practice: every few thousand events),
        # carrying only the count over.
        workflow.continue_as_new(checks_done)


# --8<-- [end:code]


async def check(env: WorkflowEnvironment, task_queue: str) -> None:
    client = env.client
    async with Worker(client, task_queue=task_queue, workflows=[Album, Thumbnail, Poller]):
        assert await client.execute_workflow(
            Album.run, ["a", "b"], id="album", task_queue=task_queue
        ) == ["thumb-a", "thumb-b"]
        handle = await client.start_workflow(Poller.run, 0, id="poller", task_queue=task_queue)
        assert await handle.result() == 25
        runs = [w async for w in client.list_workflows("WorkflowId = 'poller'")]
        assert len(runs) == 3
