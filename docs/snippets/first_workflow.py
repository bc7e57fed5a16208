"""Getting started: a first workflow with Perdure's SDK, against a server or embedded."""

from perdure.testing import WorkflowEnvironment

# --8<-- [start:code]
import asyncio
import sys
from datetime import timedelta

from perdure import activity, workflow
from perdure.client import Client
from perdure.worker import Worker


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
    client = await Client.connect(target)
    try:
        async with Worker(client, task_queue="greetings", workflows=[Greeting], activities=[greet]):
            return await client.execute_workflow(
                Greeting.run, "world", id="hello", task_queue="greetings"
            )
    finally:
        await client.service_client.close()


if __name__ == "__main__":
    # python hello.py 127.0.0.1:7233    (a server)
    # python hello.py embedded://:memory:    (no server: the engine runs in this process)
    print(asyncio.run(main(sys.argv[1])))
# --8<-- [end:code]


async def check(env: WorkflowEnvironment, task_queue: str) -> None:
    assert await main("embedded://:memory:") == "Hello, world!"
    async with await WorkflowEnvironment.start_local(serve_grpc=True) as server:
        assert server.grpc_target is not None
        assert await main(server.grpc_target) == "Hello, world!"
