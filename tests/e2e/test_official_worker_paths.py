"""How the official worker reaches the server: sticky queues, eager dispatch, inline tasks."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType, TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.e2e.official_workflows import OneActivity, WaitForSignal, greet

pytestmark = pytest.mark.timeout(90)


@activity.defn
async def slow_local(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "done"


@workflow.defn
class LongLocalActivity:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_local_activity(
            slow_local, 3.5, start_to_close_timeout=timedelta(seconds=10)
        )


def _worker(client: Client, task_queue: str, **kwargs: object) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[OneActivity, WaitForSignal, LongLocalActivity],
        activities=[greet, slow_local],
        workflow_runner=UnsandboxedWorkflowRunner(),
        **kwargs,  # type: ignore[arg-type]
    )


async def _wait_for_events(handle: object, event_type: int, count: int) -> None:
    for _ in range(100):
        events = (await handle.fetch_history()).events  # type: ignore[attr-defined]
        if sum(1 for e in events if e.event_type == event_type) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"history never had {count} events of type {event_type}")


def _id() -> str:
    return f"wf-{uuid.uuid4().hex[:12]}"


async def test_sticky_queue_then_fallback_after_worker_shutdown(
    official_client: Client, task_queue: str
) -> None:
    async with _worker(official_client, task_queue):
        handle = await official_client.start_workflow(
            WaitForSignal.run, 2, id=_id(), task_queue=task_queue
        )
        await _wait_for_events(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, 1)
        await handle.signal(WaitForSignal.add, "a")
        for _ in range(50):
            events = (await handle.fetch_history()).events
            scheduled = [
                e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
            ]
            if len(scheduled) >= 2 and any(
                e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
                and e.event_id > scheduled[1].event_id
                for e in events
            ):
                break
            await asyncio.sleep(0.1)
        sticky = scheduled[1].workflow_task_scheduled_event_attributes.task_queue
        assert sticky.kind == TaskQueueKind.TASK_QUEUE_KIND_STICKY
        assert sticky.normal_name == task_queue
    # The worker shut down (naming its sticky queue): the next task goes to the normal queue.
    await handle.signal(WaitForSignal.add, "b")
    loop = asyncio.get_running_loop()
    began = loop.time()
    async with _worker(official_client, task_queue):
        assert await handle.result() == ["a", "b"]
    assert loop.time() - began < 4.0, "did not wait for the sticky timeout"


async def test_eager_workflow_start(official_client: Client, task_queue: str) -> None:
    async with _worker(official_client, task_queue):
        result = await official_client.execute_workflow(
            OneActivity.run, "eager", id=_id(), task_queue=task_queue, request_eager_start=True
        )
    assert result == "Hello, eager!"


async def test_long_local_activity_heartbeats_its_workflow_task(
    official_client: Client, task_queue: str
) -> None:
    async with _worker(official_client, task_queue):
        result = await official_client.execute_workflow(
            LongLocalActivity.run,
            id=_id(),
            task_queue=task_queue,
            task_timeout=timedelta(seconds=2),
        )
    assert result == "done"


async def test_describe_task_queue_lists_pollers(official_client: Client, task_queue: str) -> None:
    async with _worker(official_client, task_queue, identity="poller-under-test"):
        await official_client.execute_workflow(
            OneActivity.run, "x", id=_id(), task_queue=task_queue
        )
        resp = await official_client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace="default",
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
    assert "poller-under-test" in [p.identity for p in resp.pollers]
