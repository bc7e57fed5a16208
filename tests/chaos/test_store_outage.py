"""A server whose store fails answers UNAVAILABLE, writes nothing half, and serves again
when the store is back, without a restart: a full disk under SQLite, PostgreSQL stopped
(the scenarios disk-full and pg-restart, one request at a time)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaos.disk import SmallDisk
from chaos.disk import unavailable as tmpfs_unavailable
from chaos.postgres import PrivatePostgres
from chaos.postgres import unavailable as private_postgres_unavailable
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.enums.v1 import EventType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import StartWorkflowExecutionRequest

from perdure.client import Client
from perdure.service import RPCError, RPCStatusCode
from tests.servers import ServerProcess, start_perdure_server

pytestmark = pytest.mark.timeout(180)


def _start_request(workflow_id: str) -> StartWorkflowExecutionRequest:
    return StartWorkflowExecutionRequest(
        namespace="default",
        workflow_id=workflow_id,
        workflow_type=WorkflowType(name="Outage"),
        task_queue=TaskQueue(name="outage"),
        request_id=f"{workflow_id}-request",  # the same on the retry
        identity="test",
    )


async def _start_fails(client: Client, workflow_id: str) -> None:
    """During the outage a start fails with UNAVAILABLE (the SDKs retry those)."""
    with pytest.raises(RPCError) as failed:
        await client.workflow_service.start_workflow_execution(_start_request(workflow_id))
    assert failed.value.status == RPCStatusCode.UNAVAILABLE, failed.value


async def _retried_start_is_whole(client: Client, workflow_id: str) -> None:
    """Once the store is back the same request starts the run, once, whole: nothing of the
    failed attempt was left behind."""
    for _ in range(100):
        try:
            await client.workflow_service.start_workflow_execution(_start_request(workflow_id))
            break
        except RPCError as e:
            assert e.status == RPCStatusCode.UNAVAILABLE, e
            await asyncio.sleep(0.2)
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    assert [e.event_id for e in history.events] == [1, 2]
    assert history.events[0].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    runs = [w async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    assert len(runs) == 1


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    reason = tmpfs_unavailable(tmp_path)
    if reason:
        pytest.skip(reason)
    disk = SmallDisk(tmp_path / "disk", 64)
    yield disk
    disk.unmount()


async def test_a_full_disk_fails_commits_with_unavailable_until_space_is_freed(
    tmp_path: Path, small_disk: SmallDisk
) -> None:
    server = start_perdure_server(tmp_path / "server", db_path=small_disk.path / "perdure.db")
    try:
        client = await Client.connect(server.target)
        assert small_disk.fill() > 0
        await _start_fails(client, "outage-disk")
        small_disk.free()
        await _retried_start_is_whole(client, "outage-disk")
    finally:
        server.stop()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    reason = private_postgres_unavailable()
    if reason:
        pytest.skip(reason)
    pg = PrivatePostgres()
    yield pg
    pg.destroy()


@pytest.mark.postgres
async def test_postgresql_stopped_fails_requests_with_unavailable_until_it_is_back(
    tmp_path: Path, private_postgres: PrivatePostgres
) -> None:
    """Stopped cleanly (fast) and crashed (immediate), one server throughout."""
    server: ServerProcess = start_perdure_server(tmp_path / "server", db_url=private_postgres.url)
    try:
        client = await Client.connect(server.target)
        await _retried_start_is_whole(client, "before")
        for mode in ("fast", "immediate"):
            private_postgres.stop(mode)
            await _start_fails(client, f"outage-pg-{mode}")
            private_postgres.start()
            await _retried_start_is_whole(client, f"outage-pg-{mode}")
    finally:
        server.stop()
