"""Queries and updates from the official temporalio SDK, against both servers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.common import QueryRejectCondition, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

pytestmark = pytest.mark.timeout(60)


@workflow.defn
class Counter:
    def __init__(self) -> None:
        self.value = 0
        self.done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done)
        return self.value

    @workflow.query
    def current(self) -> int:
        return self.value

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.signal
    def bump(self) -> None:
        self.value += 1

    @workflow.update
    async def add(self, amount: int) -> int:
        self.value += amount
        return self.value

    @add.validator
    def check_add(self, amount: int) -> None:
        if amount < 0:
            raise ApplicationError("no negative amounts")

    @workflow.update
    async def add_slowly(self, amount: int) -> int:
        await asyncio.sleep(1)
        self.value += amount
        return self.value

    @workflow.update
    async def finish_with(self, amount: int) -> int:
        self.value += amount
        self.done = True
        return self.value


@pytest.fixture
async def worker(official_client: Client, task_queue: str) -> AsyncIterator[Worker]:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[Counter],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ) as w:
        yield w


def _id() -> str:
    return f"wf-{uuid.uuid4().hex[:12]}"


async def test_query_running_and_closed(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    handle = await official_client.start_workflow(Counter.run, id=_id(), task_queue=task_queue)
    await handle.execute_update(Counter.add, 5)
    assert await handle.query(Counter.current) == 5
    await handle.signal(Counter.finish)
    assert await handle.result() == 5
    assert await handle.query(Counter.current) == 5
    with pytest.raises(WorkflowQueryRejectedError):
        await handle.query(Counter.current, reject_condition=QueryRejectCondition.NOT_OPEN)


async def test_query_sees_signals_sent_just_before(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    handle = await official_client.start_workflow(Counter.run, id=_id(), task_queue=task_queue)
    for i in range(20):
        await handle.signal(Counter.bump)
        assert await handle.query(Counter.current) == i + 1
    await handle.signal(Counter.finish)
    assert await handle.result() == 20


async def test_query_before_any_worker(official_client: Client, task_queue: str) -> None:
    handle = await official_client.start_workflow(Counter.run, id=_id(), task_queue=task_queue)
    query = asyncio.ensure_future(handle.query(Counter.current))
    await asyncio.sleep(0.5)
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[Counter],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        assert await query == 0
        await handle.signal(Counter.finish)
        assert await handle.result() == 0


async def test_unknown_query_fails(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    handle = await official_client.start_workflow(Counter.run, id=_id(), task_queue=task_queue)
    with pytest.raises(WorkflowQueryFailedError):
        await handle.query("no-such-query")
    await handle.terminate()


async def test_query_without_worker_times_out(official_client: Client, task_queue: str) -> None:
    handle = await official_client.start_workflow(Counter.run, id=_id(), task_queue=task_queue)
    with pytest.raises(RPCError) as err:
        await handle.query(Counter.current, rpc_timeout=timedelta(seconds=2))
    assert err.value.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)
    await handle.terminate()


async def test_updates_accept_reject_and_leave_no_trace_when_rejected(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    handle = await official_client.start_workflow(Counter.run, id=_id(), task_queue=task_queue)
    assert await handle.execute_update(Counter.add, 2) == 2
    before = len((await handle.fetch_history()).events)
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(Counter.add, -1)
    assert isinstance(err.value.cause, ApplicationError)
    after = len((await handle.fetch_history()).events)
    assert after == before, "a rejected update leaves nothing in history"
    slow = await handle.start_update(
        Counter.add_slowly, 3, wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    assert await slow.result() == 5
    assert await handle.execute_update(Counter.finish_with, 1) == 6
    assert await handle.result() == 6
    types = [e.event_type for e in (await handle.fetch_history()).events]
    assert types.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED) == 3
    assert types.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED) == 3


async def test_update_id_deduplicates(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    handle = await official_client.start_workflow(Counter.run, id=_id(), task_queue=task_queue)
    assert await handle.execute_update(Counter.add, 4, id="same") == 4
    assert await handle.execute_update(Counter.add, 4, id="same") == 4
    assert await handle.query(Counter.current) == 4
    again = handle.get_update_handle("same")
    assert await again.result() == 4
    await handle.signal(Counter.finish)
    await handle.result()


async def test_update_on_closed_workflow(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    handle = await official_client.start_workflow(Counter.run, id=_id(), task_queue=task_queue)
    await handle.signal(Counter.finish)
    await handle.result()
    with pytest.raises(RPCError) as err:
        await handle.execute_update(Counter.add, 1)
    assert err.value.status == RPCStatusCode.NOT_FOUND


async def test_update_with_start(official_client: Client, worker: Worker, task_queue: str) -> None:
    workflow_id = _id()
    start = WithStartWorkflowOperation(
        Counter.run,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    assert (
        await official_client.execute_update_with_start_workflow(
            Counter.add, 7, start_workflow_operation=start
        )
        == 7
    )
    handle = await start.workflow_handle()
    again = WithStartWorkflowOperation(
        Counter.run,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    assert (
        await official_client.execute_update_with_start_workflow(
            Counter.add, 1, start_workflow_operation=again
        )
        == 8
    )
    await handle.signal(Counter.finish)
    assert await handle.result() == 8
