"""Child workflows, external signals and cancellations, close policies, cron, continue-as-new.

Driven by the official temporalio SDK against Perdure's server and the real Temporal dev
server (`official_client` runs each test on both): the same expectations hold for both.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.api.enums.v1 import ContinueAsNewInitiator, EventType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import RetryPolicy
from temporalio.exceptions import TerminatedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.e2e import children_workflows as wf

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def worker(official_client: Client, task_queue: str) -> AsyncIterator[Worker]:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=wf.CHILD_WORKFLOWS,
        workflow_runner=UnsandboxedWorkflowRunner(),
    ) as w:
        yield w


def _id(prefix: str = "wf") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def _status_becomes(
    handle: WorkflowHandle[Any, Any],
    status: WorkflowExecutionStatus | set[WorkflowExecutionStatus],
    timeout: float = 20,
) -> WorkflowExecutionStatus:
    """Wait until the workflow (which may not exist yet) has one of these statuses."""
    wanted = status if isinstance(status, set) else {status}
    deadline = time.monotonic() + timeout
    seen = None
    while True:
        try:
            seen = (await handle.describe()).status
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
        if seen in wanted:
            assert seen is not None
            return seen
        assert time.monotonic() < deadline, f"{handle.id} stayed {seen}, not {wanted}"
        await asyncio.sleep(0.2)


async def _event_types(handle: WorkflowHandle[Any, Any]) -> list[EventType.ValueType]:
    return [e.event_type for e in (await handle.fetch_history()).events]


# ---------------------------------------------------------------------------- children


async def test_child_result_reaches_the_parent(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    parent_id, child_id = _id(), _id("child")
    handle = await official_client.start_workflow(
        wf.Parent.run, args=["Echo", "x", child_id], id=parent_id, task_queue=task_queue
    )
    assert await handle.result() == f"child:x:{parent_id}"
    types = await _event_types(handle)
    order = [
        EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
        EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED,
        EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED,
    ]
    assert [t for t in types if t in order] == order
    child = official_client.get_workflow_handle(child_id)
    desc = await child.describe()
    assert desc.status == WorkflowExecutionStatus.COMPLETED
    assert desc.parent_id == parent_id and desc.parent_run_id == handle.result_run_id
    assert desc.root_id == parent_id
    started = (await child.fetch_history()).events[0].workflow_execution_started_event_attributes
    assert started.parent_workflow_execution.workflow_id == parent_id
    assert started.parent_initiated_event_id > 0
    assert started.root_workflow_execution.workflow_id == parent_id


async def test_child_failure_reaches_the_parent(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    result = await official_client.execute_workflow(
        wf.Parent.run, args=["Fails", "bad", _id("child")], id=_id(), task_queue=task_queue
    )
    assert result["error"] == "ChildWorkflowError"
    assert result["cause"] == "ApplicationError"
    assert result["cause_type"] == "ChildBoom"
    assert result["cause_message"] == "bad"


async def test_child_timeout_reaches_the_parent(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    result = await official_client.execute_workflow(
        wf.Parent.run, args=["Forever", None, _id("child"), 1.0], id=_id(), task_queue=task_queue
    )
    assert result["error"] == "ChildWorkflowError"
    assert result["cause"] == "TimeoutError"


async def test_child_terminated_reaches_the_parent(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    child_id = _id("child")
    handle = await official_client.start_workflow(
        wf.Parent.run, args=["Forever", None, child_id], id=_id(), task_queue=task_queue
    )
    child = official_client.get_workflow_handle(child_id)
    await _status_becomes(child, WorkflowExecutionStatus.RUNNING)
    await child.terminate("enough")
    result = await handle.result()
    assert result["error"] == "ChildWorkflowError"
    assert result["cause"] == "TerminatedError"


async def test_child_id_already_running_fails_the_start(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    taken = await official_client.start_workflow(
        wf.Forever.run, id=_id("taken"), task_queue=task_queue
    )
    handle = await official_client.start_workflow(
        wf.Parent.run, args=["Echo", "x", taken.id], id=_id(), task_queue=task_queue
    )
    result = await handle.result()
    assert result["error"] == "WorkflowAlreadyStartedError"
    assert EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED in await _event_types(handle)
    await taken.terminate()


async def test_child_that_continues_as_new_reports_its_last_run(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    child_id = _id("child")
    result = await official_client.execute_workflow(
        wf.Parent.run, args=["Continues", 2, child_id], id=_id(), task_queue=task_queue
    )
    last = await official_client.get_workflow_handle(child_id).describe()
    assert result == last.run_id
    assert last.run_id != last.raw_description.workflow_execution_info.first_run_id


@pytest.mark.parametrize("cancellation_type", ["WAIT_CANCELLATION_COMPLETED", "TRY_CANCEL"])
async def test_parent_cancels_its_child(
    official_client: Client, worker: Worker, task_queue: str, cancellation_type: str
) -> None:
    child_id = _id("child")
    handle = await official_client.start_workflow(
        wf.CancelsChild.run, args=[child_id, cancellation_type], id=_id(), task_queue=task_queue
    )
    result = await handle.result()
    assert result["error"] in {"ChildWorkflowError", "CancelledError"}
    if cancellation_type == "WAIT_CANCELLATION_COMPLETED":
        assert result["cause"] == "CancelledError"
    child = official_client.get_workflow_handle(child_id)
    # TRY_CANCEL does not wait: the parent may close first, and its close policy
    # (TERMINATE) may end the child before the child handles the cancellation.
    await _status_becomes(
        child,
        {WorkflowExecutionStatus.CANCELED}
        if cancellation_type == "WAIT_CANCELLATION_COMPLETED"
        else {WorkflowExecutionStatus.CANCELED, WorkflowExecutionStatus.TERMINATED},
    )
    types = await _event_types(handle)
    assert EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED in types
    if cancellation_type == "TRY_CANCEL":
        return  # The request may never be delivered: a closed sender's requests are not.
    child_history = (await child.fetch_history()).events
    requested = next(
        e
        for e in child_history
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED
    ).workflow_execution_cancel_requested_event_attributes
    assert requested.external_workflow_execution.workflow_id == handle.id
    assert requested.external_initiated_event_id > 0


@pytest.mark.parametrize(
    ("policy", "then", "status"),
    [
        ("TERMINATE", "complete", WorkflowExecutionStatus.TERMINATED),
        ("REQUEST_CANCEL", "complete", WorkflowExecutionStatus.CANCELED),
        ("ABANDON", "complete", WorkflowExecutionStatus.RUNNING),
        ("TERMINATE", "continue", WorkflowExecutionStatus.TERMINATED),
    ],
)
async def test_parent_close_policy(
    official_client: Client,
    worker: Worker,
    task_queue: str,
    policy: str,
    then: str,
    status: WorkflowExecutionStatus,
) -> None:
    """Applied when the parent closes in any way, continuing as new included."""
    parent_id, child_id = _id(), _id("child")
    handle = await official_client.start_workflow(
        wf.LeavesChild.run, args=[child_id, policy, then], id=parent_id, task_queue=task_queue
    )
    child = official_client.get_workflow_handle(child_id)
    # While both run: the parent lists its pending child, the child names its parent and root.
    await _status_becomes(child, WorkflowExecutionStatus.RUNNING)
    for _ in range(100):
        if await child.query(wf.Forever.seen) == ["from-parent"]:
            break
        await asyncio.sleep(0.1)
    pending = (await handle.describe()).raw_description.pending_children
    assert [p.workflow_id for p in pending] == [child_id]
    assert pending[0].workflow_type_name == "Forever"
    assert pending[0].run_id
    child_desc = await child.describe()
    assert (child_desc.parent_id, child_desc.root_id) == (parent_id, parent_id)
    await handle.signal(wf.LeavesChild.finish)
    await handle.result()
    if status == WorkflowExecutionStatus.RUNNING:
        await asyncio.sleep(1.0)
    await _status_becomes(child, status)
    if status == WorkflowExecutionStatus.TERMINATED:
        last = (await child.fetch_history()).events[-1]
        assert (
            last.workflow_execution_terminated_event_attributes.reason == "by parent close policy"
        )
    if status == WorkflowExecutionStatus.RUNNING:
        await child.terminate()


# ---------------------------------------------------------------------------- external requests


async def test_signal_external_workflow(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    target = await official_client.start_workflow(
        wf.Forever.run, id=_id("target"), task_queue=task_queue
    )
    sender = await official_client.start_workflow(
        wf.Signaler.run, args=[target.id, "hello"], id=_id(), task_queue=task_queue
    )
    assert await sender.result() == "ok"
    assert await target.query(wf.Forever.seen) == ["hello"]
    types = await _event_types(sender)
    assert EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED in types
    assert EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED in types
    signaled = next(
        e
        for e in (await target.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ).workflow_execution_signaled_event_attributes
    assert signaled.external_workflow_execution.workflow_id == sender.id
    await target.signal(wf.Forever.add, "stop")
    assert await target.result() == ["hello", "stop"]


async def test_signal_to_a_missing_workflow_fails(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    sender = await official_client.start_workflow(
        wf.Signaler.run, args=[_id("nobody"), "hello"], id=_id(), task_queue=task_queue
    )
    result = await sender.result()
    assert result["error"] == "ApplicationError"
    failed = next(
        e
        for e in (await sender.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED
    ).signal_external_workflow_execution_failed_event_attributes
    assert failed.cause == 1  # EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND


async def test_cancel_external_workflow(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    target = await official_client.start_workflow(
        wf.Forever.run, id=_id("target"), task_queue=task_queue
    )
    await _status_becomes(target, WorkflowExecutionStatus.RUNNING)
    sender = await official_client.start_workflow(
        wf.Signaler.run, args=[target.id, "cancel"], id=_id(), task_queue=task_queue
    )
    assert await sender.result() == "ok"
    assert EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED in await _event_types(
        sender
    )
    await _status_becomes(target, WorkflowExecutionStatus.CANCELED)


async def test_cancel_of_a_missing_workflow_fails(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    sender = await official_client.start_workflow(
        wf.Signaler.run, args=[_id("nobody"), "cancel"], id=_id(), task_queue=task_queue
    )
    result = await sender.result()
    assert result["error"] == "ApplicationError"
    assert (
        EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED
        in await _event_types(sender)
    )


# ---------------------------------------------------------------------------- cron, continue-as-new


async def _runs_of(client: Client, workflow_id: str) -> list[Any]:
    """The chain of runs of a workflow id, oldest first, followed from the latest."""
    runs = []
    run_id: str | None = None
    while True:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        history = await handle.fetch_history()
        runs.append(history)
        previous = history.events[0].workflow_execution_started_event_attributes
        if not previous.continued_execution_run_id:
            return list(reversed(runs))
        run_id = previous.continued_execution_run_id


async def test_cron_chain(official_client: Client, worker: Worker, task_queue: str) -> None:
    handle = await official_client.start_workflow(
        wf.CronCounter.run, id=_id("cron"), task_queue=task_queue, cron_schedule="@every 1s"
    )
    first = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes
    assert first.cron_schedule == "@every 1s"
    assert first.first_workflow_task_backoff.ToNanoseconds() > 0, "waits for the schedule"
    deadline = time.monotonic() + 30
    while len(runs := await _runs_of(official_client, handle.id)) < 5:
        assert time.monotonic() < deadline, f"only {len(runs)} cron runs"
        await asyncio.sleep(0.5)
    await official_client.get_workflow_handle(handle.id).terminate("stop the chain")
    with pytest.raises(WorkflowFailureError) as err:
        await handle.result()  # follows the chain from the first run to the terminated one
    assert isinstance(err.value.cause, TerminatedError)
    runs = await _runs_of(official_client, handle.id)
    closes = [h.events[-1] for h in runs[:4]]
    assert [e.event_type for e in closes] == [
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    ]
    results = [
        closes[i].workflow_execution_completed_event_attributes.result.payloads[0].data
        for i in (0, 1, 3)
    ]
    assert results == [b"1", b"2", b"3"], "each run continues from last_completion_result"
    third = runs[2].events[0].workflow_execution_started_event_attributes
    fourth = runs[3].events[0].workflow_execution_started_event_attributes
    assert third.last_completion_result.payloads[0].data == b"2"
    assert fourth.last_completion_result.payloads[0].data == b"2", "carried past the failure"
    assert fourth.continued_failure.message == "third run fails"
    assert fourth.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE
    assert runs[-1].events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED
    for older, newer in itertools.pairwise(runs):
        close = older.events[-1]
        field = close.WhichOneof("attributes")
        started = newer.events[0].workflow_execution_started_event_attributes
        assert getattr(close, field).new_execution_run_id == started.original_execution_run_id


async def test_continue_as_new_links_runs_and_keeps_settings(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    handle = await official_client.start_workflow(
        wf.ContinuesKeepingSettings.run,
        args=[1, 1.0],
        id=_id("can"),
        task_queue=task_queue,
        memo={"owner": "perdure"},
        retry_policy=RetryPolicy(maximum_attempts=3),
    )
    last_run_id = await handle.result()
    runs = await _runs_of(official_client, handle.id)
    assert len(runs) == 2
    first_close = runs[0].events[-1]
    assert first_close.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    second = runs[1].events[0].workflow_execution_started_event_attributes
    assert (
        first_close.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        == (last_run_id)
    )
    assert second.continued_execution_run_id == handle.first_execution_run_id
    assert second.first_execution_run_id == handle.first_execution_run_id
    assert second.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_WORKFLOW
    can = first_close.workflow_execution_continued_as_new_event_attributes
    assert can.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_UNSPECIFIED, "as sent"
    assert second.first_workflow_task_backoff.ToMilliseconds() == 1000
    assert second.retry_policy.maximum_attempts == 3, "retry policy inherited"
    desc = await official_client.get_workflow_handle(handle.id).describe()
    assert await desc.memo_value("owner") == "perdure", "memo inherited"
    started = runs[1].events[0].event_time.ToNanoseconds()
    first_task = runs[1].events[1].event_time.ToNanoseconds()
    assert first_task - started >= 900_000_000, "backoff_start_interval honoured"
