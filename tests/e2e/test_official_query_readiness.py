"""Queries to runs no worker can answer yet fail at once, as on Temporal: the first task
still waits for its backoff, or the run's workflow task keeps failing. Official SDK,
both servers."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

pytestmark = pytest.mark.timeout(90)


@workflow.defn(name="QueryReadinessBroken")
class Broken:
    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("this task fails every attempt")

    @workflow.query
    def state(self) -> str:
        return "never"


def _id() -> str:
    return f"wf-{uuid.uuid4().hex[:12]}"


async def test_a_run_waiting_for_its_first_task_is_not_ready(
    official_client: Client, task_queue: str
) -> None:
    handle = await official_client.start_workflow(
        "QueryReadinessDelayed",
        id=_id(),
        task_queue=task_queue,
        start_delay=timedelta(hours=1),
    )
    with pytest.raises(RPCError) as err:
        await handle.query("state")
    assert err.value.status == RPCStatusCode.FAILED_PRECONDITION
    assert err.value.message == "Workflow task is not scheduled yet."
    await handle.terminate()


async def test_a_run_whose_task_keeps_failing_fails_the_query_at_once(
    official_client: Client, task_queue: str
) -> None:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[Broken],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await official_client.start_workflow(Broken.run, id=_id(), task_queue=task_queue)
        for _ in range(600):
            pending = (await handle.describe()).raw_description.pending_workflow_task
            if pending.attempt >= 3:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the workflow task did not reach its third attempt")
        with pytest.raises(RPCError) as err:
            await handle.query(Broken.state)
        assert err.value.status == RPCStatusCode.FAILED_PRECONDITION
        assert err.value.message == "Unable to query workflow due to Workflow Task in failed state."
        await handle.terminate()
