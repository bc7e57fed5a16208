"""The official temporalio SDK (client and worker) against each server.

Every test runs against Perdure's server and against the real Temporal dev server: the
same expectations hold for both, which also checks the expectations themselves.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.common import RetryPolicy, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    TerminatedError,
    TimeoutError,
    TimeoutType,
    WorkflowAlreadyStartedError,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.e2e import official_workflows as wf

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def worker(official_client: Client, task_queue: str) -> AsyncIterator[Worker]:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=wf.ALL_WORKFLOWS,
        activities=wf.ALL_ACTIVITIES,
        workflow_runner=UnsandboxedWorkflowRunner(),
        activity_executor=ThreadPoolExecutor(4),
    ) as w:
        yield w


def _id() -> str:
    return f"wf-{uuid.uuid4().hex[:12]}"


async def test_one_activity(official_client: Client, worker: Worker, task_queue: str) -> None:
    result = await official_client.execute_workflow(
        wf.OneActivity.run, "Perdure", id=_id(), task_queue=task_queue
    )
    assert result == "Hello, Perdure!"


async def test_sequence_of_activities_and_history(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    handle = await official_client.start_workflow(
        wf.Sequence.run, 3, id=_id(), task_queue=task_queue
    )
    assert await handle.result() == ["Hello, 0!", "Hello, 1!", "Hello, 2!"]
    history = await handle.fetch_history()
    types = [e.event_type for e in history.events]
    assert types[0] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    assert types[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    assert types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) == 3
    assert [e.event_id for e in history.events] == list(range(1, len(types) + 1))


async def test_durable_timer(official_client: Client, worker: Worker, task_queue: str) -> None:
    result = await official_client.execute_workflow(
        wf.Sleeper.run, 1.0, id=_id(), task_queue=task_queue
    )
    assert float(result) >= 1.0


async def test_signals(official_client: Client, worker: Worker, task_queue: str) -> None:
    handle = await official_client.start_workflow(
        wf.WaitForSignal.run, 2, id=_id(), task_queue=task_queue
    )
    await handle.signal(wf.WaitForSignal.add, "a")
    await handle.signal(wf.WaitForSignal.add, "b")
    assert await handle.result() == ["a", "b"]


async def test_signal_before_worker_starts_and_long_history_paging(
    official_client: Client, task_queue: str
) -> None:
    handle = await official_client.start_workflow(
        wf.WaitForSignal.run, 300, id=_id(), task_queue=task_queue
    )
    for i in range(300):
        await handle.signal(wf.WaitForSignal.add, str(i))
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[wf.WaitForSignal],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        result = await handle.result()
    assert result == [str(i) for i in range(300)]


async def test_signal_with_start(official_client: Client, worker: Worker, task_queue: str) -> None:
    workflow_id = _id()
    handle = await official_client.start_workflow(
        wf.WaitForSignal.run,
        2,
        id=workflow_id,
        task_queue=task_queue,
        start_signal="add",
        start_signal_args=["first"],
    )
    again = await official_client.start_workflow(
        wf.WaitForSignal.run,
        2,
        id=workflow_id,
        task_queue=task_queue,
        start_signal="add",
        start_signal_args=["second"],
    )
    assert again.result_run_id == handle.result_run_id
    assert await handle.result() == ["first", "second"]


async def test_activity_retries_with_heartbeat_details(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    key = _id()
    result = await official_client.execute_workflow(
        wf.CallActivity.run,
        wf.ActivitySpec("flaky", [key, 2]),
        id=_id(),
        task_queue=task_queue,
    )
    assert result == "ok after 3"
    assert wf.ATTEMPTS[key] == 3
    # Heartbeat details of a failed attempt come back on the next attempt.
    assert wf.SEEN_HEARTBEATS[key] == [None, "attempt-1", "attempt-2"]


async def test_non_retryable_activity_failure_fails_workflow_with_cause(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    with pytest.raises(WorkflowFailureError) as err:
        await official_client.execute_workflow(
            wf.CallActivity.run,
            wf.ActivitySpec("fail_hard", ["kaput"]),
            id=_id(),
            task_queue=task_queue,
        )
    cause = err.value.cause
    assert isinstance(cause, ActivityError)
    assert isinstance(cause.cause, ApplicationError)
    assert cause.cause.message == "kaput"
    assert cause.cause.type == "Hard"
    assert cause.cause.details == ({"why": "bad"},)


async def test_activity_start_to_close_timeout_retries_then_fails(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    with pytest.raises(WorkflowFailureError) as err:
        await official_client.execute_workflow(
            wf.CallActivity.run,
            wf.ActivitySpec("sleepy", [5], start_to_close=0.5, max_attempts=2),
            id=_id(),
            task_queue=task_queue,
        )
    cause = err.value.cause
    assert isinstance(cause, ActivityError)
    assert isinstance(cause.cause, TimeoutError)
    assert cause.cause.type == TimeoutType.START_TO_CLOSE


async def test_activity_heartbeat_timeout(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    with pytest.raises(WorkflowFailureError) as err:
        await official_client.execute_workflow(
            wf.CallActivity.run,
            wf.ActivitySpec("sleepy", [10], start_to_close=20, heartbeat=1, max_attempts=1),
            id=_id(),
            task_queue=task_queue,
        )
    cause = err.value.cause
    assert isinstance(cause, ActivityError)
    assert isinstance(cause.cause, TimeoutError)
    assert cause.cause.type == TimeoutType.HEARTBEAT


async def test_cancel_reaches_heartbeating_activity(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    key = _id()
    handle = await official_client.start_workflow(
        wf.Cancellable.run, key, id=_id(), task_queue=task_queue
    )
    await asyncio.sleep(0.5)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as err:
        await handle.result()
    assert isinstance(err.value.cause, CancelledError)
    assert key in wf.CANCELLED
    desc = await handle.describe()
    assert desc.status == WorkflowExecutionStatus.CANCELED


async def test_terminate(official_client: Client, worker: Worker, task_queue: str) -> None:
    handle = await official_client.start_workflow(wf.Forever.run, id=_id(), task_queue=task_queue)
    await handle.terminate("enough")
    with pytest.raises(WorkflowFailureError) as err:
        await handle.result()
    assert isinstance(err.value.cause, TerminatedError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED


async def test_workflow_failure(official_client: Client, worker: Worker, task_queue: str) -> None:
    with pytest.raises(WorkflowFailureError) as err:
        await official_client.execute_workflow(
            wf.Failing.run, "nope", id=_id(), task_queue=task_queue
        )
    assert isinstance(err.value.cause, ApplicationError)
    assert err.value.cause.type == "WorkflowBoom"


async def test_workflow_task_failure_is_retried(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    key = _id()
    handle = await official_client.start_workflow(
        wf.TaskFailsOnce.run, key, id=_id(), task_queue=task_queue
    )
    assert await handle.result() == 2
    types = [e.event_type for e in (await handle.fetch_history()).events]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED in types


async def test_workflow_retry_policy(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    result = await official_client.execute_workflow(
        wf.RetryingWorkflow.run,
        3,
        id=_id(),
        task_queue=task_queue,
        retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=5),
    )
    assert result == 3


async def test_workflow_execution_timeout(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    with pytest.raises(WorkflowFailureError) as err:
        await official_client.execute_workflow(
            wf.Forever.run,
            id=_id(),
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=1),
        )
    assert isinstance(err.value.cause, TimeoutError)


async def test_start_delay(official_client: Client, worker: Worker, task_queue: str) -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    await official_client.execute_workflow(
        wf.OneActivity.run,
        "late",
        id=_id(),
        task_queue=task_queue,
        start_delay=timedelta(seconds=1),
    )
    assert loop.time() - began >= 0.9


async def test_id_conflict_and_reuse_policies(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    workflow_id = _id()
    first = await official_client.start_workflow(
        wf.Forever.run, id=workflow_id, task_queue=task_queue
    )
    with pytest.raises(WorkflowAlreadyStartedError):
        await official_client.start_workflow(wf.Forever.run, id=workflow_id, task_queue=task_queue)
    same = await official_client.start_workflow(
        wf.Forever.run,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    assert same.first_execution_run_id == first.first_execution_run_id
    replaced = await official_client.start_workflow(
        wf.Forever.run,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
    )
    assert replaced.first_execution_run_id != first.first_execution_run_id
    first_run = official_client.get_workflow_handle(workflow_id, run_id=first.result_run_id)
    assert (await first_run.describe()).status == WorkflowExecutionStatus.TERMINATED
    await replaced.terminate()
    with pytest.raises(WorkflowAlreadyStartedError):
        await official_client.start_workflow(
            wf.Forever.run,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    again = await official_client.start_workflow(
        wf.Forever.run,
        id=workflow_id,
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    )
    await again.terminate()


async def test_continue_as_new_chain_is_followed(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    handle = await official_client.start_workflow(
        wf.ContinueAsNewChain.run, args=[2, []], id=_id(), task_queue=task_queue
    )
    runs = await handle.result()
    assert len(runs) == 3 and runs[0] == handle.first_execution_run_id
    assert len(set(runs)) == 3


async def test_local_activities(official_client: Client, worker: Worker, task_queue: str) -> None:
    result = await official_client.execute_workflow(
        wf.LocalActivities.run, "x", id=_id(), task_queue=task_queue
    )
    assert result == ["Hello, x!", "Hello, Hello, x!!"]


async def test_async_activity_completion_by_id(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    workflow_id = _id()
    handle = await official_client.start_workflow(
        wf.AsyncCompletion.run, id=workflow_id, task_queue=task_queue
    )
    activity = official_client.get_async_activity_handle(
        workflow_id=workflow_id, run_id=None, activity_id="async-1"
    )
    for _ in range(50):
        desc = await handle.describe()
        if desc.raw_description.pending_activities and (
            desc.raw_description.pending_activities[0].state == 2  # STARTED
        ):
            break
        await asyncio.sleep(0.1)
    await activity.heartbeat("working")
    await activity.complete("done later")
    assert await handle.result() == "done later"


async def test_describe_memo_and_search_attributes(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    handle = await official_client.start_workflow(
        wf.Upserting.run, id=_id(), task_queue=task_queue, memo={"owner": "team-a"}
    )
    assert await handle.result() == "ok"
    desc = await handle.describe()
    assert await desc.memo() == {"owner": "team-a", "step": "done"}
    assert desc.status == WorkflowExecutionStatus.COMPLETED
    assert desc.task_queue == task_queue
    assert desc.history_length >= 5


async def test_describe_pending_activity_shows_attempt_and_last_failure(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    key = _id()
    handle = await official_client.start_workflow(
        wf.CallActivity.run,
        wf.ActivitySpec("flaky", [key, 100]),
        id=_id(),
        task_queue=task_queue,
    )
    pending = None
    for _ in range(100):
        desc = await handle.describe()
        activities = desc.raw_description.pending_activities
        if activities and activities[0].attempt >= 3:
            pending = activities[0]
            break
        await asyncio.sleep(0.1)
    assert pending is not None
    assert pending.activity_type.name == "flaky"
    assert "failure" in pending.last_failure.message
    await handle.terminate()


async def test_unknown_workflow_and_namespace_are_not_found(official_client: Client) -> None:
    with pytest.raises(RPCError) as err:
        await official_client.get_workflow_handle("no-such-workflow").describe()
    assert err.value.status == RPCStatusCode.NOT_FOUND
    other = await Client.connect(
        official_client.service_client.config.target_host, namespace="no-such-namespace"
    )
    with pytest.raises(RPCError) as err:
        await other.start_workflow(wf.Forever.run, id=_id(), task_queue="tq")
    assert err.value.status == RPCStatusCode.NOT_FOUND


async def test_oversize_input_is_refused(official_client: Client, task_queue: str) -> None:
    with pytest.raises(RPCError) as err:
        await official_client.start_workflow(
            wf.OneActivity.run, "x" * (2 * 1024 * 1024 + 10), id=_id(), task_queue=task_queue
        )
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
