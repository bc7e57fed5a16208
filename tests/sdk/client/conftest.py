"""Fixtures for client tests: Perdure's client, and temporalio's Worker to run workflows."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client as TemporalClient
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from perdure.client import Client
from tests.sdk.client.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS
from tests.servers import ServerProcess


@dataclass
class Env:
    """What a client test needs: our client, and a task queue an official worker polls."""

    client: Client
    task_queue: str
    server: ServerProcess

    def workflow_id(self) -> str:
        return f"wf-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
async def official_worker(any_server: ServerProcess) -> AsyncIterator[str | BaseException]:
    """One temporalio Worker per server for the session; yields its task queue.

    Against Perdure's server, a worker that cannot start is recorded (and the tests that
    need it xfail) instead of erroring the session.
    """
    task_queue = f"client-tests-{uuid.uuid4().hex[:8]}"
    try:
        official = await TemporalClient.connect(any_server.target)
        worker = Worker(
            official,
            task_queue=task_queue,
            workflows=ALL_WORKFLOWS,
            activities=ALL_ACTIVITIES,
            workflow_runner=UnsandboxedWorkflowRunner(),
        )
    except Exception as err:
        if any_server.kind != "perdure":
            raise
        yield err
        return
    async with worker:
        yield task_queue


@pytest.fixture
async def search_attributes(env: Env) -> None:
    """Register the custom search attributes the tests use (once per server), as an
    operator would, through Perdure's OperatorService client.
    """
    wanted = {
        "PerdureKeyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "PerdureInt": IndexedValueType.INDEXED_VALUE_TYPE_INT,
        "PerdureDatetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    }
    operator = env.client.operator_service
    existing = await operator.list_search_attributes(
        ListSearchAttributesRequest(namespace=env.client.namespace)
    )
    missing = {k: v for k, v in wanted.items() if k not in existing.custom_attributes}
    if missing:
        await operator.add_search_attributes(
            AddSearchAttributesRequest(namespace=env.client.namespace, search_attributes=missing)
        )


@pytest.fixture
async def env(any_server: ServerProcess, official_worker: str | BaseException) -> Env:
    if isinstance(official_worker, BaseException):
        pytest.xfail(f"Perdure's server cannot run the official worker yet: {official_worker}")
    client = await Client.connect(any_server.target)
    return Env(client=client, task_queue=official_worker, server=any_server)
