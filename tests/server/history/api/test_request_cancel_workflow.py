"""request_cancel_workflow: one cancel request per run, checked against its chain."""

from __future__ import annotations

import pytest
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import NotFound
from perdure.server.history.api.request_cancel_workflow import request_cancel_workflow
from tests.server.engine.helpers import complete_workflow
from tests.server.history.api.conftest import Env


def cancel(
    workflow_id: str, first_execution_run_id: str = ""
) -> rr.RequestCancelWorkflowExecutionRequest:
    request = rr.RequestCancelWorkflowExecutionRequest(
        namespace="default",
        identity="client",
        request_id="c1",
        reason="enough",
        first_execution_run_id=first_execution_run_id,
    )
    request.workflow_execution.workflow_id = workflow_id
    return request


async def test_the_request_is_recorded_once(env: Env) -> None:
    await env.start("wf")
    await request_cancel_workflow(env.history, env.ns, cancel("wf"))
    await request_cancel_workflow(env.history, env.ns, cancel("wf"))

    types = await env.event_types("wf")
    assert types.count("WORKFLOW_EXECUTION_CANCEL_REQUESTED") == 1
    attrs = (await env.events("wf"))[
        types.index("WORKFLOW_EXECUTION_CANCEL_REQUESTED")
    ].workflow_execution_cancel_requested_event_attributes
    assert (attrs.cause, attrs.identity) == ("enough", "client")
    st = await env.state("wf")
    assert st.cancel_requested and st.cancel_request_id == "c1"


async def test_the_first_execution_run_id_must_name_the_runs_chain(env: Env) -> None:
    run_id = await env.start("wf")
    with pytest.raises(NotFound):
        await request_cancel_workflow(env.history, env.ns, cancel("wf", "another-chain"))
    assert not (await env.state("wf")).cancel_requested
    await request_cancel_workflow(env.history, env.ns, cancel("wf", run_id))
    assert (await env.state("wf")).cancel_requested


async def test_asking_a_closed_run_succeeds_and_records_nothing(env: Env) -> None:
    # As on Temporal (tests/e2e/test_official_closed_runs.py runs it against both).
    await env.start("wf")
    await env.run_task("wf", complete_workflow())
    before = await env.event_types("wf")
    await request_cancel_workflow(env.history, env.ns, cancel("wf"))
    assert await env.event_types("wf") == before
