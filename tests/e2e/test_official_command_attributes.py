"""Command attribute validation against both servers with the same assertions (issue 18,
item 4): what Temporal accepts (a zero or omitted timer duration fires at once), and what
it rejects, with which cause and which words.

The commands are sent as a worker sends them, through the official SDK's service client:
poll the workflow task, answer it with one command, read the history.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio import workflow
from temporalio.api.command.v1 import (
    CancelTimerCommandAttributes,
    Command,
    ContinueAsNewWorkflowExecutionCommandAttributes,
    FailWorkflowExecutionCommandAttributes,
    RecordMarkerCommandAttributes,
    RequestCancelActivityTaskCommandAttributes,
    ScheduleActivityTaskCommandAttributes,
    StartChildWorkflowExecutionCommandAttributes,
    StartTimerCommandAttributes,
    UpsertWorkflowSearchAttributesCommandAttributes,
)
from temporalio.api.common.v1 import (
    ActivityType,
    SearchAttributes,
    WorkflowExecution,
    WorkflowType,
)
from temporalio.api.enums.v1 import CommandType, EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    GetWorkflowExecutionHistoryRequest,
    PollWorkflowTaskQueueRequest,
    RespondWorkflowTaskCompletedRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

pytestmark = pytest.mark.timeout(90)

HUNDRED_YEARS = Duration(seconds=100 * 365 * 86400)


@workflow.defn
class SleepsZero:
    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(0)
        await asyncio.sleep(0)
        return "woke"


@dataclass
class Answer:
    error: str | None
    events: list[HistoryEvent]

    def types(self) -> list[int]:
        return [e.event_type for e in self.events]


async def _answer_first_task(client: Client, command: Command) -> Answer:
    """Start a workflow, answer its first workflow task with `command`; the error the
    worker gets (if any) and the events written after the task started."""
    service = client.workflow_service
    task_queue = f"tq-{uuid.uuid4().hex[:12]}"
    workflow_id = f"wf-{uuid.uuid4().hex[:12]}"
    started = await service.start_workflow_execution(
        StartWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_id=workflow_id,
            workflow_type=WorkflowType(name="Hand"),
            task_queue=TaskQueue(name=task_queue),
            request_id=str(uuid.uuid4()),
        )
    )
    task = await service.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=task_queue), identity="hand"
        ),
        timeout=timedelta(seconds=30),
    )
    assert task.task_token
    error = None
    try:
        await service.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(
                namespace=client.namespace,
                task_token=task.task_token,
                commands=[command],
                identity="hand",
            )
        )
    except RPCError as err:
        assert err.status == RPCStatusCode.INVALID_ARGUMENT
        error = err.message
    events: list[HistoryEvent] = []
    for _ in range(50):  # a zero timer fires at once, but in a commit of its own
        history = await service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id, run_id=started.run_id),
            )
        )
        events = list(history.history.events)[3:]
        if (
            error is not None
            or EventType.EVENT_TYPE_TIMER_STARTED not in [e.event_type for e in events]
            or EventType.EVENT_TYPE_TIMER_FIRED in [e.event_type for e in events]
        ):
            break
        await asyncio.sleep(0.1)
    return Answer(error, events)


def _timer(**fields: object) -> Command:
    return Command(
        command_type=CommandType.COMMAND_TYPE_START_TIMER,
        start_timer_command_attributes=StartTimerCommandAttributes(**fields),  # type: ignore[arg-type]
    )


def _activity(**fields: object) -> Command:
    fields.setdefault("activity_id", "a1")
    fields.setdefault("activity_type", ActivityType(name="A"))
    fields.setdefault("task_queue", TaskQueue(name="activities"))
    return Command(
        command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
        schedule_activity_task_command_attributes=ScheduleActivityTaskCommandAttributes(
            **fields  # type: ignore[arg-type]
        ),
    )


def _child(**fields: object) -> Command:
    fields.setdefault("workflow_id", "child-1")
    fields.setdefault("workflow_type", WorkflowType(name="C"))
    return Command(
        command_type=CommandType.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION,
        start_child_workflow_execution_command_attributes=(
            StartChildWorkflowExecutionCommandAttributes(**fields)  # type: ignore[arg-type]
        ),
    )


def _continue_as_new(**fields: object) -> Command:
    return Command(
        command_type=CommandType.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION,
        continue_as_new_workflow_execution_command_attributes=(
            ContinueAsNewWorkflowExecutionCommandAttributes(**fields)  # type: ignore[arg-type]
        ),
    )


REJECTED = {
    "timer negative": (
        _timer(timer_id="t", start_to_fire_timeout=Duration(seconds=-1)),
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_START_TIMER_ATTRIBUTES,
        "BadStartTimerAttributes: An invalid StartToFireTimeout is set on StartTimerCommand: "
        "negative duration. TimerId=t",
    ),
    "timer without id": (
        _timer(start_to_fire_timeout=Duration(seconds=1)),
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_START_TIMER_ATTRIBUTES,
        "BadStartTimerAttributes: TimerId is not set on StartTimerCommand.",
    ),
    "activity without timeouts": (
        _activity(schedule_to_start_timeout=Duration(seconds=5)),
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES,
        "BadScheduleActivityAttributes: a valid StartToCloseTimeout or ScheduleToCloseTimeout "
        "must be set on the activity. ActivityId=a1 ActivityType=A",
    ),
    "activity negative heartbeat": (
        _activity(
            start_to_close_timeout=Duration(seconds=5), heartbeat_timeout=Duration(seconds=-1)
        ),
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES,
        "BadScheduleActivityAttributes: invalid HeartbeatTimeout: negative duration",
    ),
    "activity without id": (
        _activity(activity_id="", start_to_close_timeout=Duration(seconds=5)),
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES,
        "BadScheduleActivityAttributes: activityId is not set",
    ),
    "activity with an empty task queue": (
        _activity(task_queue=TaskQueue(name=""), start_to_close_timeout=Duration(seconds=5)),
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES,
        "BadScheduleActivityAttributes: missing task queue name",
    ),
    "child negative run timeout": (
        _child(workflow_run_timeout=Duration(seconds=-1)),
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_START_CHILD_EXECUTION_ATTRIBUTES,
        "BadStartChildExecutionAttributes: Invalid WorkflowRunTimeout on "
        "StartChildWorkflowExecutionCommand: negative duration. WorkflowId=child-1 "
        "WorkflowType=C Namespace=default",
    ),
    "child bad cron": (
        _child(cron_schedule="nope"),
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_START_CHILD_EXECUTION_ATTRIBUTES,
        "BadStartChildExecutionAttributes: invalid CronSchedule on "
        "StartChildWorkflowExecutionCommand: invalid CronSchedule.. WorkflowId=child-1 "
        "WorkflowType=C Namespace=default",
    ),
    "continue-as-new negative backoff": (
        _continue_as_new(backoff_start_interval=Duration(seconds=-1)),
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_CONTINUE_AS_NEW_ATTRIBUTES,
        "BadContinueAsNewAttributes: Invalid BackoffStartInterval on "
        "ContinueAsNewWorkflowExecutionCommand: negative duration. WorkflowType=Hand",
    ),
    "marker without name": (
        Command(
            command_type=CommandType.COMMAND_TYPE_RECORD_MARKER,
            record_marker_command_attributes=RecordMarkerCommandAttributes(),
        ),
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_RECORD_MARKER_ATTRIBUTES,
        "BadRecordMarkerAttributes: MarkerName is not set on RecordMarkerCommand.",
    ),
    "fail without failure": (
        Command(
            command_type=CommandType.COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION,
            fail_workflow_execution_command_attributes=FailWorkflowExecutionCommandAttributes(),
        ),
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_FAIL_WORKFLOW_EXECUTION_ATTRIBUTES,
        "BadFailWorkflowExecutionAttributes: Failure is not set on FailWorkflowExecutionCommand.",
    ),
    "upsert of no search attributes": (
        Command(
            command_type=CommandType.COMMAND_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
            upsert_workflow_search_attributes_command_attributes=(
                UpsertWorkflowSearchAttributesCommandAttributes(
                    search_attributes=SearchAttributes()
                )
            ),
        ),
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SEARCH_ATTRIBUTES,
        "BadSearchAttributes: IndexedFields is not set on UpsertWorkflowSearchAttributesCommand.",
    ),
    "cancel of an unknown timer": (
        Command(
            command_type=CommandType.COMMAND_TYPE_CANCEL_TIMER,
            cancel_timer_command_attributes=CancelTimerCommandAttributes(timer_id="zz"),
        ),
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_CANCEL_TIMER_ATTRIBUTES,
        "BadCancelTimerAttributes: invalid history builder state for action: "
        "add-timer-canceled-event, TimerID: zz",
    ),
    "cancel of an unknown activity": (
        Command(
            command_type=CommandType.COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK,
            request_cancel_activity_task_command_attributes=(
                RequestCancelActivityTaskCommandAttributes(scheduled_event_id=99)
            ),
        ),
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_REQUEST_CANCEL_ACTIVITY_ATTRIBUTES,
        "BadRequestCancelActivityAttributes: invalid history builder state for action: "
        "add-activitytask-cancel-requested-event, ScheduledEventID: 99",
    ),
}


@pytest.mark.parametrize("case", list(REJECTED))
async def test_rejected_commands_fail_the_task_with_temporals_cause_and_words(
    official_client: Client, case: str
) -> None:
    command, cause, text = REJECTED[case]
    answer = await _answer_first_task(official_client, command)
    assert answer.error is not None and answer.error.startswith(text), answer.error
    failed = answer.events[0]
    assert failed.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    attrs = failed.workflow_task_failed_event_attributes
    assert attrs.cause == cause
    assert attrs.failure.message == answer.error


@pytest.mark.parametrize("timeout", [Duration(), None], ids=["zero", "omitted"])
async def test_a_zero_or_omitted_timer_is_started_and_fires_at_once(
    official_client: Client, timeout: Duration | None
) -> None:
    fields: dict[str, object] = {"timer_id": "t"}
    if timeout is not None:
        fields["start_to_fire_timeout"] = timeout
    answer = await _answer_first_task(official_client, _timer(**fields))
    assert answer.error is None
    assert answer.types()[:4] == [
        EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
        EventType.EVENT_TYPE_TIMER_STARTED,
        EventType.EVENT_TYPE_TIMER_FIRED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    ]
    assert (
        answer.events[1].timer_started_event_attributes.start_to_fire_timeout.ToNanoseconds() == 0
    )


async def test_accepted_activity_timeouts_are_filled_in_as_temporal_does(
    official_client: Client,
) -> None:
    answer = await _answer_first_task(
        official_client, _activity(schedule_to_close_timeout=Duration(seconds=5))
    )
    assert answer.error is None
    scheduled = answer.events[1].activity_task_scheduled_event_attributes
    assert scheduled.schedule_to_start_timeout.ToSeconds() == 5
    assert scheduled.start_to_close_timeout.ToSeconds() == 5
    huge = await _answer_first_task(
        official_client, _activity(start_to_close_timeout=HUNDRED_YEARS)
    )
    assert huge.error is None
    assert huge.events[1].activity_task_scheduled_event_attributes.start_to_close_timeout == (
        HUNDRED_YEARS
    )


async def test_continue_as_new_caps_a_huge_workflow_task_timeout(official_client: Client) -> None:
    answer = await _answer_first_task(
        official_client, _continue_as_new(workflow_task_timeout=HUNDRED_YEARS)
    )
    assert answer.error is None
    closed = answer.events[-1]
    assert closed.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    attrs = closed.workflow_execution_continued_as_new_event_attributes
    assert attrs.workflow_task_timeout.ToSeconds() == 120


@pytest.fixture
async def sleeper(official_client: Client, task_queue: str) -> AsyncIterator[Worker]:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[SleepsZero],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ) as w:
        yield w


async def test_workflow_sleep_zero_completes(
    official_client: Client, sleeper: Worker, task_queue: str
) -> None:
    handle = await official_client.start_workflow(
        SleepsZero.run, id=f"wf-{uuid.uuid4().hex[:12]}", task_queue=task_queue
    )
    assert await asyncio.wait_for(handle.result(), 30) == "woke"
    types = [e.event_type for e in (await handle.fetch_history()).events]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in types
    assert EventType.EVENT_TYPE_TIMER_STARTED in types
    assert EventType.EVENT_TYPE_TIMER_FIRED in types
