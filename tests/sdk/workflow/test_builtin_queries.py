"""The built-in queries a Perdure worker answers: stack trace and workflow metadata.

A Perdure worker runs the workflow on each server; the official client and the real
`temporal` CLI (`workflow stack`, `workflow metadata`) ask for them, as users do.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
import temporalio.client
from temporalio.api.sdk.v1 import EnhancedStackTrace, WorkflowMetadata

from perdure import workflow
from perdure.client import Client
from perdure.worker import Worker
from tests.e2e.test_cli import cli
from tests.servers import ServerProcess

pytestmark = pytest.mark.timeout(90)


@workflow.defn(name="StuckSomewhere")
class StuckSomewhere:
    """Waits in a helper coroutine so the stack has a frame worth finding."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> str:
        workflow.set_current_details("waiting for **finish**")
        workflow.set_query_handler("added", lambda: 1, description="Added at run time.")
        await self.wait_for_finish()
        return "finished"

    async def wait_for_finish(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.signal(name="finish", description="Lets the run end.")
    def finish(self) -> None:
        self.done = True

    @workflow.query(name="state", description="Whether finish arrived.")
    def state(self) -> bool:
        return self.done

    @workflow.update(name="poke")
    def poke(self) -> int:
        return 1


async def test_stack_and_metadata_queries(any_server: ServerProcess, task_queue: str) -> None:
    client = await Client.connect(any_server.target)
    official = await temporalio.client.Client.connect(any_server.target)
    workflow_id = f"stuck-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=[StuckSomewhere]):
        handle = await official.start_workflow(
            "StuckSomewhere", id=workflow_id, task_queue=task_queue
        )
        assert await handle.query("state") is False

        stack = await handle.query("__stack_trace", result_type=str)
        assert "wait_for_finish" in stack and "(most recent call last)" in stack
        assert __file__ in stack

        enhanced = await handle.query("__enhanced_stack_trace", result_type=EnhancedStackTrace)
        functions = {loc.function_name for s in enhanced.stacks for loc in s.locations}
        assert "wait_for_finish" in functions
        assert "class StuckSomewhere" in enhanced.sources[__file__].content

        meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert meta.definition.type == "StuckSomewhere"
        assert meta.current_details == "waiting for **finish**"
        queries = {q.name: q.description for q in meta.definition.query_definitions}
        assert queries["state"] == "Whether finish arrived."
        assert queries["added"] == "Added at run time."
        assert {"__stack_trace", "__temporal_workflow_metadata"} <= set(queries)
        assert [(s.name, s.description) for s in meta.definition.signal_definitions] == [
            ("finish", "Lets the run end.")
        ]
        assert [u.name for u in meta.definition.update_definitions] == ["poke"]

        stack_cli = await cli(any_server, "workflow", "stack", "--workflow-id", workflow_id)
        assert "wait_for_finish" in stack_cli.out
        meta_cli = await cli(any_server, "workflow", "metadata", "--workflow-id", workflow_id)
        assert "waiting for **finish**" in meta_cli.out and "finish" in meta_cli.out

        await handle.signal("finish")
        assert await asyncio.wait_for(handle.result(), 30) == "finished"
