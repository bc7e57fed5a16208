"""Updates whose run closes or continues as new, from the official temporalio SDK, against
both servers with the same assertions (issue 18, items 1 and 2)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import (
    EventType,
    PendingWorkflowTaskState,
    UpdateWorkflowExecutionLifecycleStage,
    WorkflowTaskFailedCause,
)
from temporalio.api.update.v1 import UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import PollWorkflowExecutionUpdateRequest
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

pytestmark = pytest.mark.timeout(90)

CLOSED_MESSAGE = (
    "Workflow Update failed because the Workflow completed before the Update completed."
)


@workflow.defn
class Unfinished:
    """Its update handlers never finish; the run closes under them."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.done)
        return "closed"

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.update(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def hang(self) -> str:
        await workflow.wait_condition(lambda: False)
        return "never"

    @workflow.update
    def finish_slowly(self) -> str:
        self.done = True
        # Keep the workflow task running while the client signals: its completion then
        # meets a new event, and the server fails it (UNHANDLED_COMMAND).
        time.sleep(1.5)
        return "finished"

    @workflow.update(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def hang_and_finish(self) -> str:
        self.done = True
        await workflow.wait_condition(lambda: False)
        return "never"


@workflow.defn
class Continuing:
    """Its first run continues as new while an update waits to be delivered."""

    def __init__(self) -> None:
        self.go = False
        self.finished = False

    @workflow.run
    async def run(self, generation: int) -> str:
        if generation == 0:
            await workflow.wait_condition(lambda: self.go)
            # Keep this workflow task running while the client sends the update, so that
            # the update is admitted during the task that continues as new.
            time.sleep(1.5)  # noqa: ASYNC251
            workflow.continue_as_new(1)
        await workflow.wait_condition(lambda: self.finished)
        return workflow.info().run_id

    @workflow.signal
    def continue_now(self) -> None:
        self.go = True

    @workflow.update
    async def where(self) -> str:
        self.finished = True
        return workflow.info().run_id


@pytest.fixture
async def worker(official_client: Client, task_queue: str) -> AsyncIterator[Worker]:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[Unfinished, Continuing],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ) as w:
        yield w


def _id() -> str:
    return f"wf-{uuid.uuid4().hex[:12]}"


def _assert_closed_run_failure(err: WorkflowUpdateFailedError) -> None:
    cause = err.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "AcceptedUpdateCompletedWorkflow"
    assert cause.message == CLOSED_MESSAGE
    assert cause.non_retryable


async def _raw_poll(client: Client, workflow_id: str, update_id: str) -> object:
    return await client.workflow_service.poll_workflow_execution_update(
        PollWorkflowExecutionUpdateRequest(
            namespace=client.namespace,
            update_ref=UpdateRef(
                workflow_execution=WorkflowExecution(workflow_id=workflow_id),
                update_id=update_id,
            ),
            wait_policy=WaitPolicy(
                lifecycle_stage=UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
            ),
        ),
        timeout=timedelta(seconds=30),
    )


async def _assert_server_completed(client: Client, workflow_id: str, update_id: str) -> None:
    """A later poll on the closed run: COMPLETED with the server's failure, no event."""
    resp = await _raw_poll(client, workflow_id, update_id)
    assert resp.stage == (  # type: ignore[attr-defined]
        UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
    )
    failure = resp.outcome.failure  # type: ignore[attr-defined]
    assert failure.message == CLOSED_MESSAGE
    assert failure.source == "Server"
    assert failure.application_failure_info.type == "AcceptedUpdateCompletedWorkflow"
    assert failure.application_failure_info.non_retryable
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    types = [e.event_type for e in history.events]
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED in types
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED not in types


async def test_update_accepted_in_the_closing_task_is_completed_by_the_server(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    handle = await official_client.start_workflow(Unfinished.run, id=_id(), task_queue=task_queue)
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await asyncio.wait_for(handle.execute_update(Unfinished.hang_and_finish, id="u1"), 30)
    _assert_closed_run_failure(err.value)
    assert await handle.result() == "closed"
    await _assert_server_completed(official_client, handle.id, "u1")


async def test_update_accepted_earlier_is_completed_when_the_run_completes(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    handle = await official_client.start_workflow(Unfinished.run, id=_id(), task_queue=task_queue)
    update = await handle.start_update(
        Unfinished.hang, id="u1", wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    waiting = [asyncio.ensure_future(update.result()) for _ in range(2)]
    await asyncio.sleep(0.3)
    await handle.signal(Unfinished.finish)
    assert await handle.result() == "closed"
    for waiter in waiting:
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await asyncio.wait_for(waiter, 30)
        _assert_closed_run_failure(err.value)
    await _assert_server_completed(official_client, handle.id, "u1")


async def test_update_accepted_earlier_is_completed_when_the_run_is_terminated(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    handle = await official_client.start_workflow(Unfinished.run, id=_id(), task_queue=task_queue)
    update = await handle.start_update(
        Unfinished.hang, id="u1", wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    waiting = asyncio.ensure_future(update.result())
    await asyncio.sleep(0.3)
    await handle.terminate("enough")
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await asyncio.wait_for(waiting, 30)
    _assert_closed_run_failure(err.value)
    await _assert_server_completed(official_client, handle.id, "u1")


async def test_update_admitted_during_continue_as_new_completes_in_the_new_run(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    handle = await official_client.start_workflow(
        Continuing.run, 0, id=_id(), task_queue=task_queue
    )
    first_run = handle.result_run_id
    await asyncio.sleep(0.3)
    await handle.signal(Continuing.continue_now)
    await asyncio.sleep(0.5)  # the workflow task that continues as new is running now
    update = await asyncio.wait_for(
        handle.start_update(Continuing.where, id="u1", wait_for_stage=WorkflowUpdateStage.ACCEPTED),
        30,
    )
    ran_in = await asyncio.wait_for(update.result(), 30)
    assert ran_in != first_run
    assert update.workflow_run_id == ran_in
    assert await handle.result() == ran_in
    first = await official_client.get_workflow_handle(handle.id, run_id=first_run).fetch_history()
    assert first.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    second = await official_client.get_workflow_handle(handle.id, run_id=ran_in).fetch_history()
    types = [e.event_type for e in second.events]
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED in types


async def test_update_delivered_to_a_task_the_server_fails_is_aborted(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    # Temporal aborts it (AbortReasonWorkflowTaskFailed) and never delivers it again: the
    # next task sees only the signal, and history has no update events.
    handle = await official_client.start_workflow(Unfinished.run, id=_id(), task_queue=task_queue)
    # The first workflow task completed and the run waits, so the update comes on a task
    # of its own (one admitted during a task waits for the next: a different story).
    deadline = time.monotonic() + 10
    while True:
        raw = (await handle.describe()).raw_description
        if raw.workflow_execution_info.history_length >= 4 and not raw.HasField(
            "pending_workflow_task"
        ):
            break
        assert time.monotonic() < deadline, "the first workflow task never completed"
        await asyncio.sleep(0.05)
    update = asyncio.ensure_future(
        handle.start_update(
            Unfinished.finish_slowly, id="u1", wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
    )
    deadline = time.monotonic() + 10
    while True:
        pending = (await handle.describe()).raw_description.pending_workflow_task
        if pending.state == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED:
            break
        assert time.monotonic() < deadline, "the update's workflow task never started"
        await asyncio.sleep(0.05)
    await handle.signal(Unfinished.finish)
    with pytest.raises(RPCError) as err:
        await asyncio.wait_for(update, 30)
    assert err.value.status == RPCStatusCode.FAILED_PRECONDITION
    assert err.value.message == (
        "Unable to perform workflow execution update due to unexpected workflow task failure."
    )
    assert await handle.result() == "closed"
    history = await handle.fetch_history()
    # The speculative task that delivered the update is recorded with its failure.
    assert [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events] == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_FAILED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    failed = history.events[6].workflow_task_failed_event_attributes
    assert failed.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND
