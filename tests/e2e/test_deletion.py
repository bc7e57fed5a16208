"""DeleteWorkflowExecution and retention, through the official SDK's service client.

Deletion runs against both servers with the same expectations. Retention needs a
retention period short enough to watch: Temporal's minimum is 1 hour, so that part runs
on a Perdure server started with the hidden test option `--min-retention`, and survives a
SIGKILL and restart (the deletion is a durable timer).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.namespace.v1 import UpdateNamespaceInfo
from temporalio.api.workflowservice.v1 import (
    DeleteWorkflowExecutionRequest,
    RegisterNamespaceRequest,
    UpdateNamespaceRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from tests.servers import ServerProcess, start_perdure_server

pytestmark = pytest.mark.timeout(90)


def _wid() -> str:
    return f"del-{uuid.uuid4().hex[:10]}"


async def _delete(client: Client, workflow_id: str, run_id: str = "", namespace: str = "") -> None:
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=namespace or client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        )
    )


async def _gone(client: Client, workflow_id: str, run_id: str = "") -> None:
    """Describe, history and visibility all say the run is not there."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id or None)
    with pytest.raises(RPCError) as err:
        await handle.describe()
    assert err.value.status == RPCStatusCode.NOT_FOUND
    with pytest.raises(RPCError) as err:
        await handle.fetch_history()
    assert err.value.status == RPCStatusCode.NOT_FOUND
    query = f"WorkflowId = '{workflow_id}'" + (f" AND RunId = '{run_id}'" if run_id else "")
    assert [w async for w in client.list_workflows(query)] == []


async def _eventually(check: object, timeout: float = 30.0) -> None:
    """Temporal deletes asynchronously (a non-current run after a few seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            await check()  # type: ignore[operator]
            return
        except (AssertionError, pytest.fail.Exception):
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_delete_running_workflow_terminates_and_removes_it(
    official_client: Client, task_queue: str
) -> None:
    wid = _wid()
    await official_client.start_workflow("NobodyRunsThis", id=wid, task_queue=task_queue)
    await _delete(official_client, wid)
    await _eventually(lambda: _gone(official_client, wid))
    # The id is free again: a new run starts from event 1.
    handle = await official_client.start_workflow("NobodyRunsThis", id=wid, task_queue=task_queue)
    desc = await handle.describe()
    assert desc.status == WorkflowExecutionStatus.RUNNING
    assert desc.run_id == handle.result_run_id
    await handle.terminate()


async def test_delete_closed_run_by_run_id_keeps_the_other_runs(
    any_server: ServerProcess, official_client: Client, task_queue: str
) -> None:
    """Perdure deletes a closed run at once; the real server accepts the request and
    deletes it in the background (seen taking from 4 s to about a minute), so against it
    only the acceptance and the untouched current run are checked."""
    immediate = any_server.kind == "perdure"
    wid = _wid()
    first = await official_client.start_workflow("NobodyRunsThis", id=wid, task_queue=task_queue)
    await first.terminate("first run done")
    second = await official_client.start_workflow("NobodyRunsThis", id=wid, task_queue=task_queue)
    assert first.result_run_id and second.result_run_id
    await _delete(official_client, wid, first.result_run_id)
    if immediate:
        await _gone(official_client, wid, first.result_run_id)
    desc = await official_client.get_workflow_handle(wid).describe()
    assert desc.run_id == second.result_run_id
    assert desc.status == WorkflowExecutionStatus.RUNNING
    await second.terminate()
    await _delete(official_client, wid)
    if immediate:
        await _gone(official_client, wid)
        with pytest.raises(RPCError) as err:
            await _delete(official_client, wid)
        assert err.value.status == RPCStatusCode.NOT_FOUND


async def test_delete_unknown_and_invalid(official_client: Client) -> None:
    with pytest.raises(RPCError) as err:
        await _delete(official_client, _wid())
    assert err.value.status == RPCStatusCode.NOT_FOUND
    with pytest.raises(RPCError) as err:
        await _delete(official_client, "")
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT


async def test_retention_below_one_hour_is_refused(official_client: Client) -> None:
    request = UpdateNamespaceRequest(namespace=official_client.namespace)
    request.config.workflow_execution_retention_ttl.CopyFrom(Duration(seconds=600))
    with pytest.raises(RPCError) as err:
        await official_client.workflow_service.update_namespace(request)
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    register = RegisterNamespaceRequest(
        namespace=f"short-{uuid.uuid4().hex[:8]}",
        workflow_execution_retention_period=Duration(seconds=60),
    )
    with pytest.raises(RPCError) as err:
        await official_client.workflow_service.register_namespace(register)
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT


# --------------------------------------------------------------------------- retention


@pytest.fixture
def short_retention_server(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    servers = [start_perdure_server(tmp_path / "retention", extra_args=["--min-retention", "1"])]
    try:
        yield servers
    finally:
        servers[-1].stop()


@pytest.fixture
async def retention_client(
    short_retention_server: list[ServerProcess],
) -> AsyncIterator[Client]:
    target = short_retention_server[0].target
    name = "short-retention"
    bootstrap = await Client.connect(target)
    await bootstrap.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=name, workflow_execution_retention_period=Duration(seconds=3600)
        )
    )
    # Temporal's way to shorten it: UpdateNamespace (accepted down to --min-retention here).
    update = UpdateNamespaceRequest(namespace=name, update_info=UpdateNamespaceInfo())
    update.config.workflow_execution_retention_ttl.CopyFrom(Duration(seconds=5))
    resp = await bootstrap.workflow_service.update_namespace(update)
    assert resp.config.workflow_execution_retention_ttl.seconds == 5
    yield await Client.connect(target, namespace=name)


async def test_retention_deletes_closed_runs_even_across_a_crash(
    retention_client: Client, short_retention_server: list[ServerProcess], task_queue: str
) -> None:
    client = retention_client
    closed, running = _wid(), _wid()
    handle = await client.start_workflow("NobodyRunsThis", id=closed, task_queue=task_queue)
    keep = await client.start_workflow("NobodyRunsThis", id=running, task_queue=task_queue)
    await handle.terminate("retention test")
    desc = await handle.describe()
    assert desc.status == WorkflowExecutionStatus.TERMINATED
    assert desc.close_time is not None

    # The deletion timer is durable: it fires after a SIGKILL and restart.
    old = short_retention_server[-1]
    old.kill()
    assert old.db_path is not None
    short_retention_server.append(
        start_perdure_server(
            old.log_path.parent, port=old.port, db_path=old.db_path,
            extra_args=["--min-retention", "1"],
        )
    )  # fmt: skip
    assert (await client.get_workflow_handle(closed).describe()).status == (
        WorkflowExecutionStatus.TERMINATED
    )
    await _eventually(lambda: _gone(client, closed), timeout=15)
    assert (await client.count_workflows(f"WorkflowId = '{closed}'")).count == 0
    # Retention only concerns closed runs.
    await asyncio.sleep(2.5)
    assert (await keep.describe()).status == WorkflowExecutionStatus.RUNNING
    await keep.terminate()
    await _eventually(lambda: _gone(client, running), timeout=15)
