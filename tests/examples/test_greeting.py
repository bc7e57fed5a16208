"""examples/greeting: the command in embedded mode and against a server's gRPC port."""

import pytest
from examples.greeting.demo import amain, greet_once

from perdure.client import Client
from perdure.testing import WorkflowEnvironment


async def test_greets(perdure_client: Client, perdure_task_queue: str) -> None:
    assert await greet_once(perdure_client, "Ada", perdure_task_queue) == "Hello, Ada!"


async def test_command_runs_embedded(capsys: pytest.CaptureFixture[str]) -> None:
    await amain(["Grace"])
    assert capsys.readouterr().out == "Hello, Grace!\n"


async def test_command_runs_against_a_server(capsys: pytest.CaptureFixture[str]) -> None:
    async with await WorkflowEnvironment.start_local(serve_grpc=True) as server:
        assert server.grpc_target is not None
        await amain(["--target", server.grpc_target, "Edsger"])
        handles = [w async for w in server.client.list_workflows()]
    assert capsys.readouterr().out == "Hello, Edsger!\n"
    assert [h.workflow_type for h in handles] == ["Greeting"]
