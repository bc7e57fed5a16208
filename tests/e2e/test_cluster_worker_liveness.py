"""Worker liveness across server processes on one PostgreSQL database: a ShutdownWorker
received by one process ends the worker's polls waiting in another, and a sticky queue
polled through one process counts as alive (or dead) for commits made by another."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    PollWorkflowTaskQueueRequest,
    ShutdownWorkerRequest,
)
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.e2e import official_workflows as wf
from tests.e2e.test_cluster import cluster, cluster_db  # noqa: F401
from tests.e2e.test_official_worker_liveness import (
    STICKY_WINDOW_SECONDS,
    _wait_events,
    _wait_sticky_task_completed,
    worker_process,
)
from tests.servers import ServerProcess

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


async def test_shutdown_on_one_process_ends_polls_on_another(
    cluster: list[ServerProcess],  # noqa: F811
) -> None:
    a, b = [await Client.connect(s.target) for s in cluster]
    queue, key = f"tq-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    poll = asyncio.create_task(
        b.workflow_service.poll_workflow_task_queue(
            PollWorkflowTaskQueueRequest(
                namespace="default", task_queue=TaskQueue(name=queue), identity="w",
                worker_instance_key=key,
            )
        )
    )  # fmt: skip
    await asyncio.sleep(1.0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await a.workflow_service.shutdown_worker(
        ShutdownWorkerRequest(
            namespace="default", identity="w", worker_instance_key=key, task_queue=queue,
            task_queue_types=[TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW],
        )
    )  # fmt: skip
    resp = await asyncio.wait_for(poll, 15)
    assert resp.task_token == b""
    assert loop.time() - began < 10


async def test_a_crashed_sticky_worker_is_seen_gone_by_another_process(
    cluster: list[ServerProcess],  # noqa: F811
) -> None:
    a = await Client.connect(cluster[0].target)
    queue = f"tq-{uuid.uuid4().hex[:8]}"
    handle = await a.start_workflow(
        wf.WaitForSignal.run, 2, id=f"wf-{uuid.uuid4().hex[:8]}", task_queue=queue
    )
    # The worker polls process B; the signals (and their commits) go through A.
    with worker_process(cluster[1].target, queue, sticky_timeout=90):
        await _wait_events(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
        await handle.signal(wf.WaitForSignal.add, "a")
        await _wait_sticky_task_completed(handle)
    await asyncio.sleep(STICKY_WINDOW_SECONDS + 5)
    loop = asyncio.get_running_loop()
    async with Worker(
        a, task_queue=queue, workflows=[wf.WaitForSignal],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):  # fmt: skip
        began = loop.time()
        await handle.signal(wf.WaitForSignal.add, "b")
        assert await handle.result() == ["a", "b"]
    assert loop.time() - began < 30
