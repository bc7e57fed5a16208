"""Fixtures for worker tests: clients of the servers and a runner for the activity worker.

Until Perdure's workflow worker lands, workflows run on an official temporalio
Worker registered with workflows only, and activities on our activity worker,
both on the same task queue.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
import temporalio.client
import temporalio.worker

from perdure.converter import DataConverter
from perdure.service import ConnectConfig, ServiceClient, WorkflowService
from perdure.worker._activity import _ActivityWorker
from tests.servers import ServerProcess

IDENTITY = f"{os.getpid()}@perdure-tests"


@pytest.fixture(scope="session")
async def temporal_client(temporal_server: ServerProcess) -> temporalio.client.Client:
    """The official client, connected to the real Temporal dev server."""
    return await temporalio.client.Client.connect(temporal_server.target)


@pytest.fixture(scope="session")
async def temporal_service(temporal_server: ServerProcess) -> WorkflowService:
    """Perdure's WorkflowService, connected to the real Temporal dev server."""
    client = await ServiceClient.connect(ConnectConfig(target_host=temporal_server.target))
    return client.workflow_service


async def connect_any(server: ServerProcess) -> tuple[temporalio.client.Client, WorkflowService]:
    """The official client and Perdure's service, both connected to `server`."""
    client = await temporalio.client.Client.connect(server.target)
    service = await ServiceClient.connect(ConnectConfig(target_host=server.target))
    return client, service.workflow_service


def make_activity_worker(
    service: WorkflowService,
    task_queue: str,
    activities: Sequence[Callable[..., Any]],
    **kwargs: Any,
) -> _ActivityWorker:
    """An activity worker with test defaults; `kwargs` override them."""
    options: dict[str, Any] = {
        "service": service,
        "namespace": "default",
        "task_queue": task_queue,
        "identity": IDENTITY,
        "build_id": "perdure-test-build",
        "worker_instance_key": str(uuid.uuid4()),
        "activities": activities,
        "activity_executor": None,
        "shared_state_manager": None,
        "data_converter": DataConverter.default,
        "interceptors": [],
        "client": None,
    }
    options.update(kwargs)
    return _ActivityWorker(**options)


@asynccontextmanager
async def running_activity_worker(
    service: WorkflowService,
    task_queue: str,
    activities: Sequence[Callable[..., Any]],
    **kwargs: Any,
) -> AsyncIterator[_ActivityWorker]:
    """Run an activity worker for the block; shut it down as the Worker does after."""
    worker = make_activity_worker(service, task_queue, activities, **kwargs)
    run_task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.initiate_shutdown()
        await run_task
        await worker.wait_all_completed()


@asynccontextmanager
async def workflow_worker(
    client: temporalio.client.Client, task_queue: str, workflows: Sequence[type]
) -> AsyncIterator[temporalio.worker.Worker]:
    """An official temporalio worker with workflows only (no activities)."""
    async with temporalio.worker.Worker(
        client,
        task_queue=task_queue,
        workflows=workflows,
        workflow_runner=temporalio.worker.UnsandboxedWorkflowRunner(),
    ) as worker:
        yield worker
