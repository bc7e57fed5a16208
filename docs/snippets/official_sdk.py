"""Getting started: the official SDK's workflow, unchanged, on Perdure's server."""

from perdure.testing import WorkflowEnvironment

# --8<-- [start:code]
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn
class Greeting:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=10)
        )


async def main(target: str) -> str:
    client = await Client.connect(target)  # "127.0.0.1:7233": perdure server start-dev
    async with Worker(client, task_queue="greetings", workflows=[Greeting], activities=[greet]):
        return await client.execute_workflow(
            Greeting.run, "world", id="hello", task_queue="greetings"
        )


# --8<-- [end:code]


async def check(env: WorkflowEnvironment, task_queue: str) -> None:
    async with await WorkflowEnvironment.start_local(serve_grpc=True) as server:
        assert server.grpc_target is not None
        assert await main(server.grpc_target) == "Hello, world!"
