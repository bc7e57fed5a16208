"""Start, result, failures, continue-as-new, retries: Perdure's client, temporalio's worker."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.command.v1 import Command, CompleteWorkflowExecutionCommandAttributes
from temporalio.api.enums.v1 import CommandType
from temporalio.api.workflowservice.v1 import RespondWorkflowTaskCompletedRequest

from perdure.client import (
    WorkflowContinuedAsNewError,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from perdure.common import RetryPolicy, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from perdure.exceptions import (
    ActivityError,
    ApplicationError,
    RetryState,
    WorkflowAlreadyStartedError,
)
from tests.sdk.client.conftest import Env
from tests.sdk.client.workflows import (
    ContinuingWorkflow,
    FailingWorkflow,
    Greeting,
    GreetWorkflow,
    Reply,
    RetryingWorkflow,
)

pytestmark = pytest.mark.timeout(60)


async def test_execute_typed_workflow(env: Env) -> None:
    result = await env.client.execute_workflow(
        GreetWorkflow.run,  # type: ignore[arg-type]
        Greeting(name="ada", times=2),
        id=env.workflow_id(),
        task_queue=env.task_queue,
    )
    assert isinstance(result, Reply)
    assert result.text == "HELLO ADA HELLO ADA" and result.when is not None


async def test_start_by_name_with_args_and_result_type(env: Env) -> None:
    handle = await env.client.start_workflow(
        "Echo", args=[1, "two", {"three": 3}], id=env.workflow_id(), task_queue=env.task_queue
    )
    assert handle.result_run_id and handle.first_execution_run_id == handle.result_run_id
    assert handle.run_id is None
    assert await handle.result() == [1, "two", {"three": 3}]
    typed = env.client.get_workflow_handle(handle.id, result_type=list[str])
    with pytest.raises(TypeError):  # the result type hint is honoured
        await typed.result()
    raw = await env.client.get_workflow_handle(handle.id).result()
    assert raw == [1, "two", {"three": 3}]


async def test_workflow_failure_carries_application_error(env: Env) -> None:
    with pytest.raises(WorkflowFailureError) as info:
        await env.client.execute_workflow(
            FailingWorkflow.run,  # type: ignore[arg-type]
            "workflow",
            id=env.workflow_id(),
            task_queue=env.task_queue,
        )
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.message == "workflow failed" and cause.type == "Bad"
    assert cause.details == (1, "two") and cause.non_retryable


async def test_activity_failure_cause_chain(env: Env) -> None:
    with pytest.raises(WorkflowFailureError) as info:
        await env.client.execute_workflow(
            FailingWorkflow.run,  # type: ignore[arg-type]
            "activity",
            id=env.workflow_id(),
            task_queue=env.task_queue,
        )
    activity_error = info.value.cause
    assert isinstance(activity_error, ActivityError)
    assert activity_error.activity_type == "explode"
    assert activity_error.retry_state == RetryState.NON_RETRYABLE_FAILURE
    root = activity_error.cause
    assert isinstance(root, ApplicationError)
    assert (root.message, root.type, root.details) == ("kaboom", "Explosion", ({"why": "testing"},))
    assert "explode" in (root.failure.stack_trace if root.failure else "")


async def test_result_follows_continue_as_new(env: Env) -> None:
    handle = await env.client.start_workflow(
        ContinuingWorkflow.run,  # type: ignore[arg-type]
        args=[2],
        id=env.workflow_id(),
        task_queue=env.task_queue,
    )
    assert await handle.result() == 3  # 2 + 1
    with pytest.raises(WorkflowContinuedAsNewError) as info:
        await handle.result(follow_runs=False)
    assert info.value.new_execution_run_id != handle.result_run_id
    latest = await env.client.get_workflow_handle(handle.id).describe()
    assert latest.status == WorkflowExecutionStatus.COMPLETED
    assert latest.run_id != handle.result_run_id


async def test_result_follows_retries(env: Env) -> None:
    result = await env.client.execute_workflow(
        RetryingWorkflow.run,  # type: ignore[arg-type]
        id=env.workflow_id(),
        task_queue=env.task_queue,
        retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=5),
    )
    assert result == 3


async def test_already_started_and_conflict_policies(env: Env) -> None:
    workflow_id = env.workflow_id()
    first = await env.client.start_workflow(
        "InteractiveWorkflow", id=workflow_id, task_queue=env.task_queue
    )
    with pytest.raises(WorkflowAlreadyStartedError) as info:
        await env.client.start_workflow(
            "InteractiveWorkflow", id=workflow_id, task_queue=env.task_queue
        )
    assert info.value.workflow_id == workflow_id
    assert info.value.workflow_type == "InteractiveWorkflow"
    assert info.value.run_id == first.result_run_id
    existing = await env.client.start_workflow(
        "InteractiveWorkflow",
        id=workflow_id,
        task_queue=env.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    assert existing.result_run_id == first.result_run_id
    await first.signal("finish")
    assert await first.result() == []
    with pytest.raises(WorkflowAlreadyStartedError):
        await env.client.start_workflow(
            "InteractiveWorkflow",
            id=workflow_id,
            task_queue=env.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )


async def test_signal_with_start(env: Env) -> None:
    handle = await env.client.start_workflow(
        "InteractiveWorkflow",
        id=env.workflow_id(),
        task_queue=env.task_queue,
        start_signal="add",
        start_signal_args=["from-start"],
    )
    await handle.signal("finish")
    assert await handle.result() == ["from-start"]


async def test_start_delay_and_timeouts_are_sent(env: Env) -> None:
    handle = await env.client.start_workflow(
        "Echo",
        "x",
        id=env.workflow_id(),
        task_queue=env.task_queue,
        start_delay=timedelta(milliseconds=300),
        execution_timeout=timedelta(minutes=5),
        run_timeout=timedelta(minutes=4),
        task_timeout=timedelta(seconds=7),
    )
    description = await handle.describe()
    config = description.raw_description.execution_config
    assert config.workflow_execution_timeout.ToTimedelta() == timedelta(minutes=5)
    assert config.workflow_run_timeout.ToTimedelta() == timedelta(minutes=4)
    assert config.default_workflow_task_timeout.ToTimedelta() == timedelta(seconds=7)
    assert description.execution_time is not None
    assert description.execution_time >= description.start_time + timedelta(milliseconds=250)
    assert await asyncio.wait_for(handle.result(), 20) == ["x"]


class _FakeEagerWorker:
    """Takes eager workflow tasks the way a local worker would, and records them."""

    def __init__(self, accept: bool) -> None:
        self.accept = accept
        self.tasks: list[Any] = []
        self.reserved = 0
        self.released = 0

    def try_reserve_eager_workflow_slot(self, task_queue: str) -> bool:
        self.reserved += self.accept
        return self.accept

    def handle_eager_workflow_task(self, task: Any) -> None:
        self.tasks.append(task)

    def release_eager_workflow_slot(self) -> None:
        self.released += 1


async def test_eager_start_hands_the_first_task_to_a_local_worker(env: Env) -> None:
    task_queue = f"eager-{env.workflow_id()}"  # no real worker polls it
    refusing = _FakeEagerWorker(accept=False)
    unregister = env.client._register_eager_workflow_starter(task_queue, refusing)
    await env.client.start_workflow(
        "Echo", id=env.workflow_id(), task_queue=task_queue, request_eager_start=True
    )
    assert refusing.tasks == [] and refusing.released == 0
    unregister()

    worker = _FakeEagerWorker(accept=True)
    env.client._register_eager_workflow_starter(task_queue, worker)
    handle = await env.client.start_workflow(
        "Echo", "eager", id=env.workflow_id(), task_queue=task_queue, request_eager_start=True
    )
    assert worker.reserved == 1 and worker.released == 0
    [task] = worker.tasks
    assert task.workflow_execution.workflow_id == handle.id
    assert task.history.events[0].HasField("workflow_execution_started_event_attributes")
    # finish the task as a worker would, proving the token is live
    await env.client.workflow_service.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(
            namespace=env.client.namespace,
            task_token=task.task_token,
            identity=env.client.identity,
            commands=[
                Command(
                    command_type=CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
                    complete_workflow_execution_command_attributes=CompleteWorkflowExecutionCommandAttributes(),
                )
            ],
        )
    )
    assert await handle.result() is None
    # without a registered worker for the queue, eager is not even requested
    await env.client.start_workflow(
        "Echo", id=env.workflow_id(), task_queue=f"{task_queue}-other", request_eager_start=True
    )
    assert len(worker.tasks) == 1
