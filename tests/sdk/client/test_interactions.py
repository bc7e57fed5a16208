"""Signals, queries, updates, cancellation and termination through Perdure's client."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from perdure.client import (
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from perdure.common import QueryRejectCondition, WorkflowIDConflictPolicy
from perdure.exceptions import ApplicationError, CancelledError, TerminatedError
from tests.sdk.client.conftest import Env
from tests.sdk.client.workflows import InteractiveWorkflow, Reply

pytestmark = pytest.mark.timeout(60)


async def test_signal_and_query(env: Env) -> None:
    handle = await env.client.start_workflow(
        InteractiveWorkflow.run,  # type: ignore[arg-type]
        id=env.workflow_id(),
        task_queue=env.task_queue,
    )
    await handle.signal(InteractiveWorkflow.add, "a")
    await handle.signal("add", args=["b"])
    assert await handle.query(InteractiveWorkflow.current) == ["a", "b"]
    reply = await handle.query(InteractiveWorkflow.greeting, "bob")
    assert reply == Reply(text="hi bob")
    assert await handle.query("greeting", "eve") == {"text": "hi eve", "when": None}
    assert await handle.query("greeting", "eve", result_type=Reply) == Reply(text="hi eve")
    with pytest.raises(WorkflowQueryFailedError, match="no_such_query"):
        await handle.query("no_such_query")
    await handle.signal(InteractiveWorkflow.finish)
    assert await handle.result() == ["a", "b"]
    # queries still work on a closed workflow, unless rejected by condition
    assert await handle.query(InteractiveWorkflow.current) == ["a", "b"]
    assert await handle.query(
        InteractiveWorkflow.current, reject_condition=QueryRejectCondition.NOT_COMPLETED_CLEANLY
    ) == ["a", "b"]
    with pytest.raises(WorkflowQueryRejectedError) as info:
        await handle.query(
            InteractiveWorkflow.current, reject_condition=QueryRejectCondition.NOT_OPEN
        )
    assert info.value.status == WorkflowExecutionStatus.COMPLETED


async def test_updates(env: Env) -> None:
    handle = await env.client.start_workflow(
        InteractiveWorkflow.run,  # type: ignore[arg-type]
        id=env.workflow_id(),
        task_queue=env.task_queue,
    )
    assert await handle.execute_update(InteractiveWorkflow.add_slowly, "x") == 1
    assert await handle.execute_update("add_slowly", "y", result_type=int) == 2
    with pytest.raises(WorkflowUpdateFailedError) as rejected:
        await handle.execute_update(InteractiveWorkflow.add_slowly, "")
    assert isinstance(rejected.value.cause, ApplicationError)
    assert "empty item" in rejected.value.cause.message
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(InteractiveWorkflow.fail_update)
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "UpdateBad"

    update_id = f"upd-{uuid.uuid4().hex[:8]}"
    started = await handle.start_update(
        InteractiveWorkflow.add_slowly,
        "z",
        id=update_id,
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    assert started.id == update_id and started.workflow_id == handle.id
    again = handle.get_update_handle_for(InteractiveWorkflow.add_slowly, update_id)
    assert await started.result() == 3
    assert await again.result() == 3
    assert await handle.get_update_handle(update_id, result_type=int).result() == 3
    with pytest.raises(ValueError):
        await handle.start_update("add_slowly", "q", wait_for_stage=WorkflowUpdateStage.ADMITTED)
    await handle.signal(InteractiveWorkflow.finish)
    assert await handle.result() == ["x", "y", "z"]


async def test_update_with_start(env: Env) -> None:
    workflow_id = env.workflow_id()

    def operation() -> WithStartWorkflowOperation[InteractiveWorkflow, list[str]]:
        return WithStartWorkflowOperation(
            InteractiveWorkflow.run,
            id=workflow_id,
            task_queue=env.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )

    first = operation()
    assert (
        await env.client.execute_update_with_start_workflow(
            InteractiveWorkflow.add_slowly, "a", start_workflow_operation=first
        )
        == 1
    )
    handle = await first.workflow_handle()
    second = operation()
    update = await env.client.start_update_with_start_workflow(
        InteractiveWorkflow.add_slowly,
        "b",
        start_workflow_operation=second,
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    assert await update.result() == 2
    assert (await second.workflow_handle()).result_run_id == handle.result_run_id
    with pytest.raises(RuntimeError, match="reused"):
        await env.client.execute_update_with_start_workflow(
            "add_slowly", "c", start_workflow_operation=second
        )
    with pytest.raises(ValueError, match="required"):
        WithStartWorkflowOperation(
            "InteractiveWorkflow",
            id="x",
            task_queue="q",
            id_conflict_policy=WorkflowIDConflictPolicy.UNSPECIFIED,
        )
    await handle.signal("finish")
    assert await handle.result() == ["a", "b"]


async def test_cancel(env: Env) -> None:
    handle = await env.client.start_workflow(
        "WaitingWorkflow", id=env.workflow_id(), task_queue=env.task_queue
    )
    await asyncio.sleep(0.2)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert isinstance(info.value.cause, CancelledError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED


async def test_terminate(env: Env) -> None:
    handle = await env.client.start_workflow(
        "WaitingWorkflow", id=env.workflow_id(), task_queue=env.task_queue
    )
    await handle.terminate("detail", 7, reason="enough")
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    cause = info.value.cause
    assert isinstance(cause, TerminatedError)
    assert cause.message == "enough" and cause.details == ("detail", 7)
    assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED
