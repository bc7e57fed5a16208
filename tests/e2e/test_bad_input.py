"""Bad input and silent workers, through the raw API: the errors Temporal gives, on both servers."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryRequest,
    PollWorkflowTaskQueueRequest,
    RespondActivityTaskCompletedRequest,
    RespondWorkflowTaskCompletedRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

pytestmark = pytest.mark.timeout(60)


async def _error(coro: object) -> RPCError:
    with pytest.raises(RPCError) as err:
        await coro  # type: ignore[misc]
    return err.value


async def test_malformed_task_token_is_invalid_argument(official_client: Client) -> None:
    err = await _error(
        official_client.workflow_service.respond_activity_task_completed(
            RespondActivityTaskCompletedRequest(namespace="default", task_token=b"\x00garbage")
        )
    )
    assert err.status in (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.NOT_FOUND)


async def test_poll_on_unknown_namespace_is_not_found(official_client: Client) -> None:
    err = await _error(
        official_client.workflow_service.poll_workflow_task_queue(
            PollWorkflowTaskQueueRequest(
                namespace="no-such-namespace-" + uuid.uuid4().hex[:6],
                task_queue=TaskQueue(name="tq"),
            ),
            timeout=timedelta(seconds=5),
        )
    )
    assert err.status == RPCStatusCode.NOT_FOUND


async def test_overlong_workflow_id_is_invalid_argument(official_client: Client) -> None:
    err = await _error(
        official_client.workflow_service.start_workflow_execution(
            StartWorkflowExecutionRequest(
                namespace="default",
                workflow_id="x" * 5000,
                workflow_type=WorkflowType(name="T"),
                task_queue=TaskQueue(name="tq"),
                request_id=str(uuid.uuid4()),
            )
        )
    )
    assert err.status == RPCStatusCode.INVALID_ARGUMENT


async def test_describe_unknown_run_is_not_found(official_client: Client) -> None:
    err = await _error(
        official_client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace="default",
                execution=WorkflowExecution(workflow_id="nope", run_id=str(uuid.uuid4())),
            )
        )
    )
    assert err.status == RPCStatusCode.NOT_FOUND


async def test_worker_that_never_answers_gets_its_task_retried(
    official_client: Client, task_queue: str
) -> None:
    service = official_client.workflow_service
    workflow_id = f"silent-{uuid.uuid4().hex[:8]}"
    start = await service.start_workflow_execution(
        StartWorkflowExecutionRequest(
            namespace="default",
            workflow_id=workflow_id,
            workflow_type=WorkflowType(name="Silent"),
            task_queue=TaskQueue(name=task_queue),
            workflow_task_timeout=Duration(seconds=1),
            request_id=str(uuid.uuid4()),
        )
    )
    poll = PollWorkflowTaskQueueRequest(
        namespace="default", task_queue=TaskQueue(name=task_queue), identity="silent-worker"
    )
    first = await service.poll_workflow_task_queue(poll, timeout=timedelta(seconds=20))
    assert first.attempt == 1
    # Never answered: after the 1 s task timeout the task comes back as attempt 2.
    second = await service.poll_workflow_task_queue(poll, timeout=timedelta(seconds=20))
    assert second.workflow_execution.run_id == start.run_id
    assert second.attempt == 2
    # The late answer to the first attempt is refused; the history stays intact.
    late = await _error(
        service.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(namespace="default", task_token=first.task_token)
        )
    )
    assert late.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT)
    await service.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(namespace="default", task_token=second.task_token)
    )
    history = await service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace="default", execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )
    ids = [e.event_id for e in history.history.events]
    assert ids == list(range(1, len(ids) + 1))
    await asyncio.sleep(0)
    await official_client.get_workflow_handle(workflow_id).terminate()


async def test_history_page_token_from_elsewhere_is_refused(official_client: Client) -> None:
    err = await _error(
        official_client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace="default",
                execution=WorkflowExecution(workflow_id="nope"),
                next_page_token=b"\x01\x02not-a-token",
            )
        )
    )
    assert err.status in (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.NOT_FOUND)
