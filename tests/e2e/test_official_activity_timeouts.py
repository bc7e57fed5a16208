"""Activity timeouts reported as Temporal reports them, from the official temporalio SDK,
against both servers with the same assertions (issue 18, item 5)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType, RetryState, TimeoutType
from temporalio.client import Client
from temporalio.exceptions import ActivityError, TimeoutError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

pytestmark = pytest.mark.timeout(60)


@workflow.defn
class NobodyTakesTheActivity:
    @workflow.run
    async def run(self, schedule_to_start: float) -> str:
        try:
            await workflow.execute_activity(
                "nobody_runs_this",
                task_queue=f"unpolled-{workflow.info().workflow_id}",
                schedule_to_close_timeout=timedelta(seconds=2),
                schedule_to_start_timeout=(
                    timedelta(seconds=schedule_to_start) if schedule_to_start else None
                ),
            )
        except ActivityError as err:
            assert isinstance(err.cause, TimeoutError)
            return f"{err.cause.type.name} {err.retry_state.name if err.retry_state else ''}"
        return "completed?"


@pytest.fixture
async def worker(official_client: Client, task_queue: str) -> AsyncIterator[Worker]:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[NobodyTakesTheActivity],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ) as w:
        yield w


@pytest.mark.parametrize(
    "schedule_to_start", [0.0, 1.0], ids=["equal-deadlines", "schedule-to-start-first"]
)
async def test_an_activity_no_worker_takes_times_out_schedule_to_start(
    official_client: Client, worker: Worker, task_queue: str, schedule_to_start: float
) -> None:
    handle = await official_client.start_workflow(
        NobodyTakesTheActivity.run,
        schedule_to_start,
        id=f"wf-{uuid.uuid4().hex[:12]}",
        task_queue=task_queue,
    )
    assert await handle.result() == "SCHEDULE_TO_START TIMEOUT"
    (timed_out,) = [
        e
        for e in (await handle.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT
    ]
    attrs = timed_out.activity_task_timed_out_event_attributes
    assert attrs.failure.message == "activity ScheduleToStart timeout"
    assert attrs.failure.source == "Server"
    assert attrs.failure.timeout_failure_info.timeout_type == (
        TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START
    )
    assert attrs.retry_state == RetryState.RETRY_STATE_TIMEOUT
