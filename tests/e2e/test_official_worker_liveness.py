"""What the server does when workers go away: crashed sticky workers, shutdown, queries.

A worker that dies without ShutdownWorker leaves its sticky queue behind; the next
workflow task of a run it cached must go to the normal queue at once when nobody has
polled the sticky queue recently, not after the sticky schedule-to-start timeout.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType, TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    PollActivityTaskQueueRequest,
    PollActivityTaskQueueResponse,
    PollWorkflowTaskQueueRequest,
    PollWorkflowTaskQueueResponse,
    ShutdownWorkerRequest,
)
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.e2e import official_workflows as wf
from tests.servers import REPO

pytestmark = pytest.mark.timeout(120)

STICKY_WINDOW_SECONDS = 10.0
"""Temporal's stickyPollerUnavailableWindow: a sticky queue unpolled this long is gone."""


def _id() -> str:
    return f"wf-{uuid.uuid4().hex[:12]}"


@contextmanager
def worker_process(target: str, task_queue: str, sticky_timeout: float) -> Iterator[None]:
    """An official worker in its own process; leaving the block SIGKILLs it."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'src'}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.worker_process", target, task_queue,
         str(sticky_timeout)],
        stdout=subprocess.PIPE, env=env, cwd=REPO,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        yield
    finally:
        proc.kill()
        proc.wait(10)


async def _wait_events(handle: WorkflowHandle[object, object], event_type: int) -> None:
    for _ in range(200):
        if any(e.event_type == event_type for e in (await handle.fetch_history()).events):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no event of type {event_type}")


async def _wait_sticky_task_completed(handle: WorkflowHandle[object, object]) -> None:
    """Until a workflow task scheduled on a sticky queue has completed."""
    for _ in range(200):
        events = (await handle.fetch_history()).events
        sticky = [
            e.event_id
            for e in events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
            and e.workflow_task_scheduled_event_attributes.task_queue.kind
            == TaskQueueKind.TASK_QUEUE_KIND_STICKY
        ]
        if sticky and any(
            e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
            and e.workflow_task_completed_event_attributes.scheduled_event_id == sticky[0]
            for e in events
        ):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no sticky workflow task completed: {events}")


async def test_crashed_sticky_worker_reroutes_at_once(
    official_client: Client, any_server: object, task_queue: str
) -> None:
    target = official_client.service_client.config.target_host
    handle = await official_client.start_workflow(
        wf.WaitForSignal.run, 2, id=_id(), task_queue=task_queue
    )
    # A worker with a long sticky schedule-to-start timeout caches the run, then dies.
    with worker_process(target, task_queue, sticky_timeout=90):
        await _wait_events(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
        await handle.signal(wf.WaitForSignal.add, "a")
        await _wait_sticky_task_completed(handle)
    # Past the window (on a shared database Perdure adds the poller rows' refresh period).
    await asyncio.sleep(STICKY_WINDOW_SECONDS + 5)
    loop = asyncio.get_running_loop()
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[wf.WaitForSignal],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        began = loop.time()
        await handle.signal(wf.WaitForSignal.add, "b")
        assert await handle.result() == ["a", "b"]
    # Not the 90 s sticky timeout: the task went to the normal queue at once.
    assert loop.time() - began < 30


async def _namespace_capabilities(client: Client) -> object:
    resp = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=client.namespace)
    )
    return resp.namespace_info.capabilities


async def test_shutdown_worker_completes_that_workers_polls(
    official_client: Client, any_server: object, task_queue: str
) -> None:
    caps = await _namespace_capabilities(official_client)
    assert caps.worker_poll_complete_on_shutdown  # type: ignore[attr-defined]
    service = official_client.workflow_service
    leaving, staying = str(uuid.uuid4()), str(uuid.uuid4())

    def poll(key: str) -> asyncio.Task[PollWorkflowTaskQueueResponse]:
        request = PollWorkflowTaskQueueRequest(
            namespace="default",
            task_queue=TaskQueue(name=task_queue),
            identity=f"worker-{key[:8]}",
            worker_instance_key=key,
        )
        return asyncio.create_task(service.poll_workflow_task_queue(request))

    def poll_activities(key: str) -> asyncio.Task[PollActivityTaskQueueResponse]:
        request = PollActivityTaskQueueRequest(
            namespace="default",
            task_queue=TaskQueue(name=task_queue),
            identity=f"worker-{key[:8]}",
            worker_instance_key=key,
        )
        return asyncio.create_task(service.poll_activity_task_queue(request))

    polls = [poll(leaving), poll_activities(leaving)]
    other = poll(staying)
    await asyncio.sleep(1.0)  # the polls wait on the server
    loop = asyncio.get_running_loop()
    began = loop.time()
    await service.shutdown_worker(
        ShutdownWorkerRequest(
            namespace="default",
            identity=f"worker-{leaving[:8]}",
            worker_instance_key=leaving,
            task_queue=task_queue,
            task_queue_types=[TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                              TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY],
            reason="graceful shutdown",
        )
    )  # fmt: skip
    done = await asyncio.wait_for(asyncio.gather(*polls), 10)
    assert loop.time() - began < 10
    assert [r.task_token for r in done] == [b"", b""]  # empty answers, not errors
    # A poll of that worker that arrives late is answered empty at once too.
    late = await asyncio.wait_for(poll(leaving), 10)
    assert late.task_token == b""
    await asyncio.sleep(0.5)
    assert not other.done()  # another worker's poll goes on
    other.cancel()


QUERY_POLLER_WINDOW_SECONDS = 20.0
"""Temporal's QueryPollerUnavailableWindow: a queue unpolled this long has no worker."""


async def test_query_without_a_recent_poller_fails_before_the_deadline(
    official_client: Client, any_server: object, task_queue: str
) -> None:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[wf.WaitForSignal],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await official_client.start_workflow(
            wf.WaitForSignal.run, 1, id=_id(), task_queue=task_queue
        )
        await _wait_events(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    await asyncio.sleep(QUERY_POLLER_WINDOW_SECONDS + 3)
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(RPCError) as caught:
        await handle.query("__stack_trace", rpc_timeout=timedelta(seconds=5))
    # Temporal waits for a poller until a second before the deadline, then names the cause
    # instead of answering DEADLINE_EXCEEDED.
    assert loop.time() - began < 5
    assert caught.value.status == RPCStatusCode.FAILED_PRECONDITION
    assert "no poller seen for task queue recently" in caught.value.message
