"""terminate_workflow: the run ends now, a started workflow task fails with it."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import NotFound
from perdure.server.history.api.terminate_workflow import terminate_workflow
from tests.server.engine.helpers import payloads
from tests.server.history.api.conftest import Env


def terminate(
    workflow_id: str, first_execution_run_id: str = ""
) -> rr.TerminateWorkflowExecutionRequest:
    request = rr.TerminateWorkflowExecutionRequest(
        namespace="default",
        identity="client",
        reason="stop",
        first_execution_run_id=first_execution_run_id,
    )
    request.workflow_execution.workflow_id = workflow_id
    request.details.CopyFrom(payloads(b"why"))
    return request


async def test_the_run_closes_as_terminated_with_reason_and_details(env: Env) -> None:
    await env.start("wf")
    await terminate_workflow(env.history, env.ns, terminate("wf"))

    st = await env.state("wf")
    assert st.status == wf_enums.WORKFLOW_EXECUTION_STATUS_TERMINATED and not st.running
    attrs = (await env.events("wf"))[-1].workflow_execution_terminated_event_attributes
    assert (attrs.reason, attrs.identity, attrs.details) == ("stop", "client", payloads(b"why"))
    current = await env.store.get_current_execution(env.ns.id, "wf")
    assert current is not None and current.status == st.status


async def test_a_started_workflow_task_fails_first(env: Env) -> None:
    await env.start("wf")
    await env.start_task("wf")
    await terminate_workflow(env.history, env.ns, terminate("wf"))
    assert (await env.event_types("wf"))[-2:] == [
        "WORKFLOW_TASK_FAILED",
        "WORKFLOW_EXECUTION_TERMINATED",
    ]


async def test_terminating_twice_or_another_chain_is_not_found(env: Env) -> None:
    await env.start("wf")
    with pytest.raises(NotFound):
        await terminate_workflow(env.history, env.ns, terminate("wf", "another-chain"))
    await terminate_workflow(env.history, env.ns, terminate("wf"))
    with pytest.raises(NotFound, match="already completed"):
        await terminate_workflow(env.history, env.ns, terminate("wf"))


async def test_without_a_reason_the_event_carries_temporals_default(env: Env) -> None:
    await env.start("wf")
    request = terminate("wf")
    request.reason = ""
    await terminate_workflow(env.history, env.ns, request)
    attrs = (await env.events("wf"))[-1].workflow_execution_terminated_event_attributes
    assert attrs.reason == "terminated by user via frontend"
