"""update_workflow and poll_workflow_update: admission, waiting for a stage, outcomes."""

from __future__ import annotations

import asyncio

import pytest
from google.protobuf import any_pb2
from google.protobuf.message import Message
from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.enums.v1 import command_type_pb2 as ct
from temporalio.api.enums.v1 import update_pb2 as update_enums
from temporalio.api.failure.v1 import message_pb2 as failure_pb2
from temporalio.api.protocol.v1 import message_pb2 as protocol_pb2
from temporalio.api.update.v1 import message_pb2 as update_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import NotFound
from perdure.server.history.api.update_workflow import poll_workflow_update, update_workflow
from tests.server.engine.helpers import complete_workflow, payloads
from tests.server.history.api.conftest import Env

ADMITTED = update_enums.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED
ACCEPTED = update_enums.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED
COMPLETED = update_enums.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED


def update(workflow_id: str, update_id: str, stage: int = 0) -> rr.UpdateWorkflowExecutionRequest:
    request = rr.UpdateWorkflowExecutionRequest(namespace="default")
    request.workflow_execution.workflow_id = workflow_id
    request.request.meta.update_id = update_id
    request.request.input.name = "add"
    request.wait_policy.lifecycle_stage = stage  # type: ignore[assignment]
    return request


def poll(workflow_id: str, update_id: str, stage: int = 0) -> rr.PollWorkflowExecutionUpdateRequest:
    request = rr.PollWorkflowExecutionUpdateRequest(namespace="default")
    request.update_ref.workflow_execution.workflow_id = workflow_id
    request.update_ref.update_id = update_id
    request.wait_policy.lifecycle_stage = stage  # type: ignore[assignment]
    return request


def message(message_id: str, update_id: str, body: Message) -> protocol_pb2.Message:
    packed = any_pb2.Any()
    packed.Pack(body)
    return protocol_pb2.Message(id=message_id, protocol_instance_id=update_id, body=packed)


def protocol_command(message_id: str) -> command_pb2.Command:
    return command_pb2.Command(
        command_type=ct.COMMAND_TYPE_PROTOCOL_MESSAGE,
        protocol_message_command_attributes=command_pb2.ProtocolMessageCommandAttributes(
            message_id=message_id
        ),
    )


async def accept_and_complete(env: Env, workflow_id: str, update_id: str) -> None:
    """The worker's task accepts the update and answers it with 3."""
    await env.start_task(workflow_id)
    response = update_pb2.Response(outcome=update_pb2.Outcome(success=payloads(b"3")))
    response.meta.update_id = update_id
    await env.complete_task(
        workflow_id,
        protocol_command("accept"),
        protocol_command("respond"),
        messages=[
            message("accept", update_id, update_pb2.Acceptance()),
            message("respond", update_id, response),
        ],
    )


async def test_waiting_for_admission_answers_at_once(env: Env) -> None:
    run_id = await env.start("wf")
    resp = await update_workflow(env.history, env.ns, update("wf", "u1", ADMITTED), wait_seconds=5)
    assert resp.stage == ADMITTED and not resp.HasField("outcome")
    assert (resp.update_ref.workflow_execution.run_id, resp.update_ref.update_id) == (run_id, "u1")
    assert "u1" in (await env.state("wf")).updates


async def test_a_wait_that_runs_out_reports_the_stage_reached(env: Env) -> None:
    await env.start("wf")
    resp = await update_workflow(env.history, env.ns, update("wf", "u1"), wait_seconds=0.05)
    assert resp.stage == ADMITTED


async def test_a_waiting_caller_gets_the_outcome_once_the_worker_completes_it(env: Env) -> None:
    await env.start("wf")
    waiting = asyncio.create_task(
        update_workflow(env.history, env.ns, update("wf", "u1", COMPLETED), wait_seconds=5)
    )
    while "u1" not in (await env.state("wf")).updates:
        await asyncio.sleep(0.001)
    assert not waiting.done()

    await accept_and_complete(env, "wf", "u1")

    resp = await asyncio.wait_for(waiting, 5)
    assert resp.stage == COMPLETED
    assert resp.outcome.success == payloads(b"3")
    polled = await poll_workflow_update(env.history, env.ns, poll("wf", "u1"), wait_seconds=0)
    assert (polled.stage, polled.outcome) == (COMPLETED, resp.outcome)


async def test_a_rejected_update_completes_with_the_rejection(env: Env) -> None:
    await env.start("wf")
    await env.run_task("wf")
    await update_workflow(env.history, env.ns, update("wf", "u1", ADMITTED), wait_seconds=0)
    await env.start_task("wf")
    rejection = update_pb2.Rejection(failure=failure_pb2.Failure(message="no"))
    await env.complete_task("wf", messages=[message("reject", "u1", rejection)])

    resp = await poll_workflow_update(
        env.history, env.ns, poll("wf", "u1", COMPLETED), wait_seconds=1
    )
    assert resp.stage == COMPLETED and resp.outcome.failure.message == "no"


async def test_polling_defaults_to_the_admitted_stage(env: Env) -> None:
    await env.start("wf")
    await update_workflow(env.history, env.ns, update("wf", "u1", ADMITTED), wait_seconds=0)
    resp = await poll_workflow_update(env.history, env.ns, poll("wf", "u1"), wait_seconds=5)
    assert resp.stage == ADMITTED


async def test_unknown_updates_and_closed_runs_are_not_found(env: Env) -> None:
    await env.start("wf")
    with pytest.raises(NotFound, match="update u9 not found"):
        await poll_workflow_update(env.history, env.ns, poll("wf", "u9"), wait_seconds=0)
    await env.run_task("wf", complete_workflow())
    with pytest.raises(NotFound, match="already completed"):
        await update_workflow(env.history, env.ns, update("wf", "u1"), wait_seconds=0)


async def test_an_update_its_run_closes_before_accepting_is_aborted(env: Env) -> None:
    """As Temporal: the caller of an update admitted while the task that closes the run
    ran learns the close aborted it (not that the workflow had already completed)."""
    await env.start("wf")
    await env.start_task("wf")
    waiting = asyncio.create_task(
        update_workflow(env.history, env.ns, update("wf", "u1", COMPLETED), wait_seconds=5)
    )
    await asyncio.sleep(0.1)
    await env.complete_task("wf", complete_workflow())
    with pytest.raises(NotFound, match=r"^workflow update was aborted by closing workflow$"):
        await waiting
