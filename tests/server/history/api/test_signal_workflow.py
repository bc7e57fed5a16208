"""signal_workflow: the signal lands on the run once per request id, never on a closed run."""

from __future__ import annotations

import pytest
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import NotFound
from perdure.server.history.api.signal_workflow import signal_workflow
from tests.server.engine.helpers import complete_workflow, payloads
from tests.server.history.api.conftest import Env


def signal(
    workflow_id: str, request_id: str = "", run_id: str = ""
) -> rr.SignalWorkflowExecutionRequest:
    request = rr.SignalWorkflowExecutionRequest(
        namespace="default", signal_name="poke", identity="client", request_id=request_id
    )
    request.workflow_execution.workflow_id = workflow_id
    request.workflow_execution.run_id = run_id
    request.input.CopyFrom(payloads(b"1"))
    return request


async def test_the_signal_is_recorded_with_its_input(env: Env) -> None:
    await env.start("wf")
    await signal_workflow(env.history, env.ns, signal("wf", "s1"))

    event = (await env.events("wf"))[-1]
    attrs = event.workflow_execution_signaled_event_attributes
    assert (attrs.signal_name, attrs.identity, attrs.request_id) == ("poke", "client", "s1")
    assert attrs.input == payloads(b"1")
    assert (await env.state("wf")).signal_count == 1


async def test_a_repeated_request_id_signals_once(env: Env) -> None:
    await env.start("wf")
    await signal_workflow(env.history, env.ns, signal("wf", "s1"))
    await signal_workflow(env.history, env.ns, signal("wf", "s1"))
    await signal_workflow(env.history, env.ns, signal("wf", "s2"))
    assert (await env.event_types("wf")).count("WORKFLOW_EXECUTION_SIGNALED") == 2


async def test_a_signal_while_the_task_runs_schedules_another_task(env: Env) -> None:
    await env.start("wf")
    await env.start_task("wf")
    await signal_workflow(env.history, env.ns, signal("wf"))
    await env.complete_task("wf")
    assert (await env.event_types("wf"))[-1] == "WORKFLOW_TASK_SCHEDULED"


async def test_a_named_run_gets_the_signal(env: Env) -> None:
    run_id = await env.start("wf")
    await signal_workflow(env.history, env.ns, signal("wf", run_id=run_id))
    assert (await env.state("wf", run_id)).signal_count == 1


async def test_closed_or_unknown_runs_are_not_found(env: Env) -> None:
    with pytest.raises(NotFound):
        await signal_workflow(env.history, env.ns, signal("nobody"))
    await env.start("wf")
    await env.run_task("wf", complete_workflow())
    with pytest.raises(NotFound, match="already completed"):
        await signal_workflow(env.history, env.ns, signal("wf"))
