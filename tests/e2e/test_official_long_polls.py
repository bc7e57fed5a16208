"""Long polls and the caller's deadline, through the official temporalio SDK's service
client, against both servers with the same assertions (issue 18, item 3).

Task polls and history waits answer empty a second before the caller's deadline (a task
poll allowed under 2 s is refused); update waits end only when the update reaches the
stage asked for or after the server's 20 s interval, never early for the deadline.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable
from datetime import timedelta

import pytest
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.update.v1 import Input, Meta, Request, UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import (
    GetWorkflowExecutionHistoryRequest,
    PollActivityTaskQueueRequest,
    PollWorkflowExecutionUpdateRequest,
    PollWorkflowTaskQueueRequest,
    StartWorkflowExecutionRequest,
    UpdateWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

pytestmark = pytest.mark.timeout(120)

ADMITTED = UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED
ACCEPTED = UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED
COMPLETED = (
    UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
)


async def _timed(call: Awaitable[object]) -> tuple[float, object]:
    """How long the call took, and its answer or error."""
    began = time.monotonic()
    try:
        answer: object = await call
    except RPCError as err:
        answer = err
    return time.monotonic() - began, answer


async def _workflow_without_worker(client: Client, task_queue: str) -> tuple[str, str]:
    workflow_id = f"wf-{uuid.uuid4().hex[:12]}"
    started = await client.workflow_service.start_workflow_execution(
        StartWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_id=workflow_id,
            workflow_type=WorkflowType(name="NobodyRunsThis"),
            task_queue=TaskQueue(name=task_queue),
            request_id=str(uuid.uuid4()),
        )
    )
    return workflow_id, started.run_id


def _update(client: Client, workflow_id: str, update_id: str) -> UpdateWorkflowExecutionRequest:
    return UpdateWorkflowExecutionRequest(
        namespace=client.namespace,
        workflow_execution=WorkflowExecution(workflow_id=workflow_id),
        request=Request(meta=Meta(update_id=update_id), input=Input(name="set")),
        wait_policy=WaitPolicy(lifecycle_stage=ACCEPTED),
    )


def _poll_update(
    client: Client, workflow_id: str, update_id: str
) -> PollWorkflowExecutionUpdateRequest:
    return PollWorkflowExecutionUpdateRequest(
        namespace=client.namespace,
        update_ref=UpdateRef(
            workflow_execution=WorkflowExecution(workflow_id=workflow_id), update_id=update_id
        ),
        wait_policy=WaitPolicy(lifecycle_stage=COMPLETED),
    )


def _is_callers_deadline(answer: object) -> bool:
    return isinstance(answer, RPCError) and answer.status in (
        RPCStatusCode.CANCELLED,
        RPCStatusCode.DEADLINE_EXCEEDED,
    )


@pytest.mark.parametrize("seconds", [1.0, 3.0])
async def test_update_waits_end_in_the_callers_deadline_not_before(
    official_client: Client, task_queue: str, seconds: float
) -> None:
    service = official_client.workflow_service
    workflow_id, _ = await _workflow_without_worker(official_client, task_queue)
    deadline = timedelta(seconds=seconds)
    took, answer = await _timed(
        service.update_workflow_execution(
            _update(official_client, workflow_id, "u1"), timeout=deadline
        )
    )
    assert _is_callers_deadline(answer), answer
    assert took >= seconds - 0.1
    took, answer = await _timed(
        service.poll_workflow_execution_update(
            _poll_update(official_client, workflow_id, "u1"), timeout=deadline
        )
    )
    assert _is_callers_deadline(answer), answer
    assert took >= seconds - 0.1


async def test_update_waits_answer_with_the_stage_reached_after_the_servers_interval(
    official_client: Client, task_queue: str
) -> None:
    service = official_client.workflow_service
    workflow_id, run_id = await _workflow_without_worker(official_client, task_queue)
    deadline = timedelta(seconds=40)
    (took_update, updated), (took_poll, polled) = await asyncio.gather(
        _timed(
            service.update_workflow_execution(
                _update(official_client, workflow_id, "u1"), timeout=deadline
            )
        ),
        _timed(_poll_later(official_client, workflow_id, deadline)),
    )
    for took, answer in ((took_update, updated), (took_poll, polled)):
        assert not isinstance(answer, RPCError), answer
        assert 18.0 <= took <= 30.0
        assert answer.stage == ADMITTED  # type: ignore[attr-defined]
        assert not answer.HasField("outcome")  # type: ignore[attr-defined]
        assert answer.update_ref.workflow_execution.run_id == run_id  # type: ignore[attr-defined]


async def _poll_later(client: Client, workflow_id: str, deadline: timedelta) -> object:
    await asyncio.sleep(0.5)  # the update is admitted by then
    return await client.workflow_service.poll_workflow_execution_update(
        _poll_update(client, workflow_id, "u1"), timeout=deadline
    )


async def test_task_polls_refuse_a_deadline_under_two_seconds(
    official_client: Client, task_queue: str
) -> None:
    service = official_client.workflow_service
    queue = TaskQueue(name=task_queue)
    short = timedelta(seconds=1)
    for call in (
        service.poll_workflow_task_queue(
            PollWorkflowTaskQueueRequest(namespace=official_client.namespace, task_queue=queue),
            timeout=short,
        ),
        service.poll_activity_task_queue(
            PollActivityTaskQueueRequest(namespace=official_client.namespace, task_queue=queue),
            timeout=short,
        ),
    ):
        took, answer = await _timed(call)
        assert isinstance(answer, RPCError)
        assert answer.status == RPCStatusCode.FAILED_PRECONDITION
        assert answer.message == "Context timeout is too short."
        assert took < 0.9


async def test_task_polls_and_history_waits_answer_empty_a_second_before_the_deadline(
    official_client: Client, task_queue: str
) -> None:
    service = official_client.workflow_service
    workflow_id, run_id = await _workflow_without_worker(official_client, task_queue)
    idle = TaskQueue(name=f"{task_queue}-idle")
    deadline = timedelta(seconds=3)
    answers = await asyncio.gather(
        _timed(
            service.poll_workflow_task_queue(
                PollWorkflowTaskQueueRequest(namespace=official_client.namespace, task_queue=idle),
                timeout=deadline,
            )
        ),
        _timed(
            service.poll_activity_task_queue(
                PollActivityTaskQueueRequest(namespace=official_client.namespace, task_queue=idle),
                timeout=deadline,
            )
        ),
        _timed(
            service.get_workflow_execution_history(
                GetWorkflowExecutionHistoryRequest(
                    namespace=official_client.namespace,
                    execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
                    wait_new_event=True,
                    history_event_filter_type=2,  # the close event
                ),
                timeout=deadline,
            )
        ),
    )
    for took, answer in answers:
        assert not isinstance(answer, RPCError), answer
        assert 1.5 <= took <= 2.9
    (_, workflow_task), (_, activity_task), (_, history) = answers
    assert not workflow_task.task_token  # type: ignore[attr-defined]
    assert not activity_task.task_token  # type: ignore[attr-defined]
    assert not history.history.events  # type: ignore[attr-defined]
    assert history.next_page_token  # type: ignore[attr-defined]
