"""Started events, run ids and the shape of answers, through the official temporalio SDK,
against both servers with the same assertions (issue 18, item 6)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio import workflow
from temporalio.api.command.v1 import Command, ScheduleActivityTaskCommandAttributes
from temporalio.api.common.v1 import ActivityType, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import CommandType, EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.update.v1 import Input, Meta, Request, WaitPolicy
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryRequest,
    PollActivityTaskQueueRequest,
    PollWorkflowTaskQueueRequest,
    RespondActivityTaskCompletedRequest,
    RespondWorkflowTaskCompletedRequest,
    SignalWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
    StartWorkflowExecutionResponse,
    UpdateWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

pytestmark = pytest.mark.timeout(90)

COMPLETED = 3  # UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED


@workflow.defn
class Child:
    @workflow.run
    async def run(self) -> str:
        return workflow.info().run_id


@workflow.defn
class Chain:
    """Continues as new once, then starts a child."""

    @workflow.run
    async def run(self, generation: int) -> str:
        if generation == 0:
            workflow.continue_as_new(1)
        return await workflow.execute_child_workflow(
            Child.run, id=f"{workflow.info().workflow_id}-child"
        )


@workflow.defn
class Waits:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update
    async def accept(self) -> int:
        return 1

    @workflow.update
    async def refuse(self) -> int:
        return 0

    @refuse.validator
    def no(self) -> None:
        raise ApplicationError("no")


@pytest.fixture
async def worker(official_client: Client, task_queue: str) -> AsyncIterator[Worker]:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[Chain, Child, Waits],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ) as w:
        yield w


def _id() -> str:
    return f"wf-{uuid.uuid4().hex[:12]}"


async def _start(
    client: Client, workflow_id: str, **fields: object
) -> StartWorkflowExecutionResponse:
    return await client.workflow_service.start_workflow_execution(
        StartWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_id=workflow_id,
            workflow_type=WorkflowType(name="NobodyRunsThis"),
            task_queue=TaskQueue(name=f"q-{workflow_id}"),
            request_id=str(uuid.uuid4()),
            **fields,  # type: ignore[arg-type]
        )
    )


async def _events(client: Client, workflow_id: str, run_id: str = "") -> list[HistoryEvent]:
    history = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        )
    )
    return list(history.history.events)


async def test_timeouts_not_given_are_left_unset(official_client: Client) -> None:
    none = _id()
    await _start(official_client, none)
    started = (await _events(official_client, none))[0].workflow_execution_started_event_attributes
    assert not started.HasField("workflow_execution_timeout")
    assert not started.HasField("workflow_run_timeout")
    assert started.workflow_task_timeout.ToSeconds() == 10
    described = await official_client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=official_client.namespace, execution=WorkflowExecution(workflow_id=none)
        )
    )
    assert not described.execution_config.HasField("workflow_execution_timeout")
    assert not described.execution_config.HasField("workflow_run_timeout")

    execution_only = _id()
    await _start(official_client, execution_only, workflow_execution_timeout=Duration(seconds=100))
    started = (await _events(official_client, execution_only))[
        0
    ].workflow_execution_started_event_attributes
    assert started.workflow_execution_timeout.ToSeconds() == 100
    assert started.workflow_run_timeout.ToSeconds() == 100

    run_only = _id()
    await _start(official_client, run_only, workflow_run_timeout=Duration(seconds=100))
    started = (await _events(official_client, run_only))[
        0
    ].workflow_execution_started_event_attributes
    assert not started.HasField("workflow_execution_timeout")
    assert started.workflow_run_timeout.ToSeconds() == 100


async def test_start_answers_carry_the_link_and_first_run(official_client: Client) -> None:
    workflow_id = _id()
    answer = await _start(official_client, workflow_id)
    assert answer.first_execution_run_id == answer.run_id
    event = answer.link.workflow_event
    assert (event.namespace, event.workflow_id, event.run_id) == (
        official_client.namespace,
        workflow_id,
        answer.run_id,
    )
    assert event.event_ref.event_id == 1
    assert event.event_ref.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED


async def test_started_runs_get_time_ordered_uuid7_ids_and_continued_runs_uuid4(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    earlier = await _start(official_client, _id())
    await asyncio.sleep(0.01)
    handle = await official_client.start_workflow(Chain.run, 0, id=_id(), task_queue=task_queue)
    first_run = handle.result_run_id
    assert first_run is not None
    assert uuid.UUID(earlier.run_id).version == 7
    assert uuid.UUID(first_run).version == 7
    assert earlier.run_id < first_run  # time-ordered
    child_run = await handle.result()
    assert uuid.UUID(child_run).version == 7
    closed = (await _events(official_client, handle.id, first_run))[-1]
    continued = closed.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    assert uuid.UUID(continued).version == 4


async def test_update_answers_carry_temporals_link(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    handle = await official_client.start_workflow(Waits.run, id=_id(), task_queue=task_queue)
    service = official_client.workflow_service

    def update(update_id: str, name: str) -> UpdateWorkflowExecutionRequest:
        return UpdateWorkflowExecutionRequest(
            namespace=official_client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=handle.id),
            request=Request(meta=Meta(update_id=update_id), input=Input(name=name)),
            wait_policy=WaitPolicy(lifecycle_stage=COMPLETED),  # type: ignore[arg-type]
        )

    accepted = await service.update_workflow_execution(update("u1", "accept"))
    event = accepted.link.workflow_event
    assert (event.workflow_id, event.run_id) == (handle.id, handle.result_run_id)
    assert event.request_id_ref.event_type == (
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    )
    rejected = await service.update_workflow_execution(update("u2", "refuse"))
    assert rejected.link.WhichOneof("variant") == "workflow"
    assert rejected.link.workflow.workflow_id == handle.id
    assert rejected.link.workflow.reason == "Update rejected"
    await handle.terminate()


async def test_activity_tasks_leave_input_unset_and_started_is_dated_when_taken(
    official_client: Client,
) -> None:
    service = official_client.workflow_service
    workflow_id = _id()
    started = await _start(official_client, workflow_id)
    task = await service.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(
            namespace=official_client.namespace, task_queue=TaskQueue(name=f"q-{workflow_id}")
        ),
        timeout=timedelta(seconds=30),
    )
    schedule = Command(
        command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
        schedule_activity_task_command_attributes=ScheduleActivityTaskCommandAttributes(
            activity_id="a",
            activity_type=ActivityType(name="A"),
            task_queue=TaskQueue(name=f"act-{workflow_id}"),
            start_to_close_timeout=Duration(seconds=30),
        ),
    )
    await service.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(
            namespace=official_client.namespace, task_token=task.task_token, commands=[schedule]
        )
    )
    activity = await service.poll_activity_task_queue(
        PollActivityTaskQueueRequest(
            namespace=official_client.namespace, task_queue=TaskQueue(name=f"act-{workflow_id}")
        ),
        timeout=timedelta(seconds=30),
    )
    taken = time.time()
    assert activity.task_token
    assert not activity.HasField("input")
    assert not activity.HasField("header")
    await asyncio.sleep(1.5)
    await service.respond_activity_task_completed(
        RespondActivityTaskCompletedRequest(
            namespace=official_client.namespace, task_token=activity.task_token
        )
    )
    events = await _events(official_client, workflow_id, started.run_id)
    times = {
        e.event_type: e.event_time.ToDatetime().timestamp()
        for e in events
        if e.event_type
        in (
            EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
            EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
        )
    }
    assert abs(times[EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED] - taken) < 1.0
    assert times[EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED] - taken >= 1.4


async def test_closing_a_run_that_has_new_events_fails_the_task_with_unhandled_command(
    official_client: Client,
) -> None:
    service = official_client.workflow_service
    workflow_id = _id()
    await _start(official_client, workflow_id)
    task = await service.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(
            namespace=official_client.namespace, task_queue=TaskQueue(name=f"q-{workflow_id}")
        ),
        timeout=timedelta(seconds=30),
    )
    await service.signal_workflow_execution(
        SignalWorkflowExecutionRequest(
            namespace=official_client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
            signal_name="arrived",
            request_id=str(uuid.uuid4()),
        )
    )
    complete = Command(command_type=CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION)
    with pytest.raises(RPCError) as err:
        await service.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(
                namespace=official_client.namespace, task_token=task.task_token, commands=[complete]
            )
        )
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert err.value.message == "UnhandledCommand"
    events = await _events(official_client, workflow_id)
    assert [e.event_type for e in events] == [
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    ]
    failed = events[3].workflow_task_failed_event_attributes
    assert failed.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND
    assert failed.failure.message == "UnhandledCommand"
    assert failed.failure.HasField("server_failure_info")
    assert not failed.failure.server_failure_info.non_retryable
