"""`temporal operator namespace delete` (OperatorService.DeleteNamespace): the namespace
goes at once (renamed, state DELETED) and its executions are deleted in the background;
its name is free again."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from tests.e2e import official_workflows as wf
from tests.e2e.test_cli import cli, eventually
from tests.servers import ServerProcess

pytestmark = pytest.mark.timeout(90)


async def test_delete_namespace(any_server: ServerProcess, task_queue: str) -> None:
    name = f"doomed-{uuid.uuid4().hex[:8]}"
    await cli(any_server, "operator", "namespace", "create", "-n", name)

    async def registered() -> Client:
        client = await Client.connect(any_server.target, namespace=name)
        await client.start_workflow(wf.WaitForSignal.run, 1, id="doomed-wf", task_queue=task_queue)
        return client

    async def ready() -> Client:
        try:
            return await registered()
        except RPCError as err:
            raise AssertionError(str(err)) from err

    client = await eventually(ready)
    out = await cli(any_server, "operator", "namespace", "delete", "-n", name, "--yes")
    assert f"Namespace {name} has been deleted." in out.out
    described = await cli(any_server, "operator", "namespace", "describe", "-n", name, check=False)
    assert described.rc != 0
    assert f"Namespace {name} is not found." in described.err
    with pytest.raises(RPCError) as caught:
        await client.get_workflow_handle("doomed-wf").describe()
    assert caught.value.status == RPCStatusCode.NOT_FOUND
    # The name is free again, and the new namespace has none of the old one's executions.
    await cli(any_server, "operator", "namespace", "create", "-n", name)

    async def fresh() -> None:
        try:
            again = await Client.connect(any_server.target, namespace=name)
            await again.get_workflow_handle("doomed-wf").describe()
        except RPCError as err:
            assert err.status == RPCStatusCode.NOT_FOUND
            assert "workflow" in err.message.lower(), err.message
            return
        raise AssertionError("the old namespace's workflow is still there")

    await eventually(fresh)
