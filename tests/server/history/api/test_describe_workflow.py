"""describe_workflow: what the run's state says, for the current or a named run."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import NotFound
from perdure.server.history.api.describe_workflow import describe_workflow
from tests.server.engine.helpers import complete_workflow
from tests.server.history.api.conftest import Env


def describe(workflow_id: str, run_id: str = "") -> rr.DescribeWorkflowExecutionRequest:
    request = rr.DescribeWorkflowExecutionRequest(namespace="default")
    request.execution.workflow_id = workflow_id
    request.execution.run_id = run_id
    return request


async def test_the_current_and_a_named_run_are_described(env: Env) -> None:
    first = await env.start("wf")
    await env.run_task("wf", complete_workflow())
    second = await env.start("wf", request_id="second")

    current = await describe_workflow(env.history, env.ns, describe("wf"))
    info = current.workflow_execution_info
    assert (info.execution.run_id, info.type.name) == (second, "Flow")
    assert info.status == wf_enums.WORKFLOW_EXECUTION_STATUS_RUNNING
    assert current.execution_config.task_queue.name == "tq"

    old = await describe_workflow(env.history, env.ns, describe("wf", first))
    assert old.workflow_execution_info.status == wf_enums.WORKFLOW_EXECUTION_STATUS_COMPLETED


async def test_an_unknown_workflow_is_not_found(env: Env) -> None:
    with pytest.raises(NotFound):
        await describe_workflow(env.history, env.ns, describe("nobody"))
