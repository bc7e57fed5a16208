"""delete_workflow: running runs are terminated first; deleted runs are gone everywhere."""

from __future__ import annotations

import pytest
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import NotFound
from perdure.server.history.api.delete_workflow import delete_workflow
from perdure.server.store.base import ExecutionKey
from tests.server.engine.helpers import complete_workflow
from tests.server.history.api.conftest import Env


def delete(workflow_id: str, run_id: str = "") -> rr.DeleteWorkflowExecutionRequest:
    request = rr.DeleteWorkflowExecutionRequest(namespace="default")
    request.workflow_execution.workflow_id = workflow_id
    request.workflow_execution.run_id = run_id
    return request


async def test_a_running_run_is_terminated_and_removed(env: Env) -> None:
    run_id = await env.start("wf")
    await delete_workflow(env.history, env.ns, delete("wf"))

    assert await env.store.load_execution(ExecutionKey(env.ns.id, "wf", run_id)) is None
    with pytest.raises(NotFound):
        await env.state("wf", run_id)


async def test_a_closed_run_is_removed_and_the_others_stay(env: Env) -> None:
    first = await env.start("wf")
    await env.run_task("wf", complete_workflow())
    second = await env.start("wf", request_id="second")

    await delete_workflow(env.history, env.ns, delete("wf", first))

    assert await env.store.load_execution(ExecutionKey(env.ns.id, "wf", first)) is None
    assert (await env.state("wf", second)).running


async def test_an_unknown_workflow_is_not_found(env: Env) -> None:
    with pytest.raises(NotFound):
        await delete_workflow(env.history, env.ns, delete("nobody"))
