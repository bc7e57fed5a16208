"""reset_workflow: a new current run from an earlier workflow task; repeats find it again."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import NotFound
from perdure.server.history.api.reset_workflow import reset_workflow
from tests.server.history.api.conftest import Env


def reset(
    workflow_id: str, finish_event_id: int, request_id: str = "reset-1", run_id: str = ""
) -> rr.ResetWorkflowExecutionRequest:
    request = rr.ResetWorkflowExecutionRequest(
        namespace="default",
        reason="bad deploy",
        request_id=request_id,
        workflow_task_finish_event_id=finish_event_id,
    )
    request.workflow_execution.workflow_id = workflow_id
    request.workflow_execution.run_id = run_id
    return request


async def test_the_running_run_makes_way_for_the_reset_run(env: Env) -> None:
    old = await env.start("wf")
    await env.run_task("wf")
    finish = len(await env.events("wf"))  # the task's WorkflowTaskCompleted

    resp = await reset_workflow(env.history, env.ns, reset("wf", finish))

    assert resp.run_id != old
    assert (await env.state("wf")).run_id == resp.run_id
    replaced = await env.state("wf", old)
    assert replaced.status == wf_enums.WORKFLOW_EXECUTION_STATUS_TERMINATED
    assert replaced.reset_run_id == resp.run_id
    assert await env.event_types("wf") == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_FAILED",
        "WORKFLOW_TASK_SCHEDULED",
    ]


async def test_a_repeated_request_returns_the_run_it_made(env: Env) -> None:
    await env.start("wf")
    await env.run_task("wf")
    finish = len(await env.events("wf"))
    first = await reset_workflow(env.history, env.ns, reset("wf", finish))
    again = await reset_workflow(env.history, env.ns, reset("wf", finish))
    assert again.run_id == first.run_id
    # Another request id resets again, here from the reset run's own failed task.
    other = await reset_workflow(env.history, env.ns, reset("wf", 4, "reset-2", first.run_id))
    assert other.run_id != first.run_id
    assert (await env.state("wf")).run_id == other.run_id
    assert not (await env.state("wf", first.run_id)).running


async def test_an_unknown_workflow_is_not_found(env: Env) -> None:
    with pytest.raises(NotFound):
        await reset_workflow(env.history, env.ns, reset("nobody", 4))
