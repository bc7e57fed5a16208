"""Client requests to runs that have closed, from the official SDK, against both servers
(found by the differential runner, difftest/)."""

from __future__ import annotations

import uuid

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

pytestmark = pytest.mark.timeout(60)


@workflow.defn(name="ClosedRunsDone")
class Done:
    @workflow.run
    async def run(self) -> str:
        return "done"


def _id() -> str:
    return f"wf-{uuid.uuid4().hex[:12]}"


async def test_cancelling_a_closed_run_succeeds_and_records_nothing(
    official_client: Client, task_queue: str
) -> None:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[Done],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await official_client.start_workflow(Done.run, id=_id(), task_queue=task_queue)
        assert await handle.result() == "done"
    before = [e.event_type async for e in handle.fetch_history_events()]
    await handle.cancel()
    after = [e.event_type async for e in handle.fetch_history_events()]
    assert after == before and after[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED

    terminated = await official_client.start_workflow(
        "ClosedRunsNeverPolled", id=_id(), task_queue=task_queue + "-nobody"
    )
    await terminated.terminate()
    await terminated.cancel()
    with pytest.raises(RPCError) as err:
        await terminated.signal("s")
    assert err.value.status == RPCStatusCode.NOT_FOUND
    with pytest.raises(RPCError) as err:
        await terminated.terminate()
    assert err.value.status == RPCStatusCode.NOT_FOUND


async def test_terminating_without_a_reason_records_the_default_one(
    official_client: Client, task_queue: str
) -> None:
    handle = await official_client.start_workflow(
        "ClosedRunsNeverPolled", id=_id(), task_queue=task_queue
    )
    await handle.terminate()
    events = [e async for e in handle.fetch_history_events()]
    attrs = events[-1].workflow_execution_terminated_event_attributes
    assert attrs.reason == "terminated by user via frontend"
    given = await official_client.start_workflow(
        "ClosedRunsNeverPolled", id=_id(), task_queue=task_queue
    )
    await given.terminate(reason="stop")
    events = [e async for e in given.fetch_history_events()]
    assert events[-1].workflow_execution_terminated_event_attributes.reason == "stop"


async def test_completing_an_activity_of_a_closed_run_says_the_run_completed(
    official_client: Client, task_queue: str
) -> None:
    handle = await official_client.start_workflow(
        "ClosedRunsNeverPolled", id=_id(), task_queue=task_queue
    )
    await handle.terminate()
    activity = official_client.get_async_activity_handle(
        workflow_id=handle.id, run_id=handle.result_run_id, activity_id="1"
    )
    for respond in (activity.complete("late"), activity.heartbeat("beat")):
        with pytest.raises(RPCError) as err:
            await respond
        assert err.value.status == RPCStatusCode.NOT_FOUND
        assert err.value.message == "workflow execution already completed"


async def test_querying_a_run_closed_before_any_task_completed_fails_precondition(
    official_client: Client, task_queue: str
) -> None:
    """No workflow task of the run ever completed: no worker can answer, and the query fails
    at once (found by difftest's Perdure-SDK profile: Perdure sent it to a worker, which
    answered from the started event alone)."""
    handle = await official_client.start_workflow(
        "ClosedRunsNeverPolled", id=_id(), task_queue=task_queue + "-nobody"
    )
    await handle.terminate()
    with pytest.raises(RPCError) as err:
        await handle.query("state")
    assert err.value.status == RPCStatusCode.FAILED_PRECONDITION
    assert err.value.message == "Workflow execution closed before WorkflowTaskStarted event"
