"""update_with_start: start (or find) the run, then update it; failures name the operation."""

from __future__ import annotations

import grpc
import pytest
from temporalio.api.enums.v1 import update_pb2 as update_enums
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.errordetails.v1 import message_pb2 as details_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.frontend.rpc import error_detail, status_code
from perdure.server.history.api.update_with_start import (
    START,
    UPDATE,
    MultiOperationFailed,
    update_with_start,
)
from tests.server.history.api.conftest import Env, start_request

ADMITTED = update_enums.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED


def operations(
    conflict_policy: int, update_id: str = "u1"
) -> tuple[rr.StartWorkflowExecutionRequest, rr.UpdateWorkflowExecutionRequest]:
    start = start_request("wf", "uws", workflow_id_conflict_policy=conflict_policy)
    update = rr.UpdateWorkflowExecutionRequest(namespace="default")
    update.workflow_execution.workflow_id = "wf"
    update.request.meta.update_id = update_id
    update.request.input.name = "add"
    update.wait_policy.lifecycle_stage = ADMITTED  # type: ignore[assignment]
    return start, update


async def test_a_new_run_is_started_and_the_update_admitted_to_it(env: Env) -> None:
    start, update = operations(wf_enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL)
    resp = await update_with_start(env.history, env.ns, start, update, wait_seconds=1)

    started, updated = resp.responses[0].start_workflow, resp.responses[1].update_workflow
    assert started.started and started.status == wf_enums.WORKFLOW_EXECUTION_STATUS_RUNNING
    assert updated.stage == ADMITTED
    assert updated.update_ref.workflow_execution.run_id == started.run_id
    assert "u1" in (await env.state("wf")).updates


async def test_use_existing_updates_the_running_run(env: Env) -> None:
    run_id = await env.start("wf")
    start, update = operations(wf_enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING)
    resp = await update_with_start(env.history, env.ns, start, update, wait_seconds=1)
    assert (resp.responses[0].start_workflow.run_id, resp.responses[0].start_workflow.started) == (
        run_id,
        False,
    )
    assert "u1" in (await env.state("wf", run_id)).updates


async def test_a_failed_start_names_the_start_and_aborts_the_update(env: Env) -> None:
    await env.start("wf")
    start, update = operations(wf_enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL)
    with pytest.raises(MultiOperationFailed) as caught:
        await update_with_start(env.history, env.ns, start, update, wait_seconds=1)
    assert caught.value.failed_index == START
    assert status_code(caught.value) == grpc.StatusCode.ALREADY_EXISTS
    detail = error_detail(caught.value)
    assert isinstance(detail, details_pb2.MultiOperationExecutionFailure)
    statuses = detail.statuses
    assert statuses[UPDATE].code == grpc.StatusCode.ABORTED.value[0]
    assert statuses[START].code == grpc.StatusCode.ALREADY_EXISTS.value[0]


async def test_a_failed_update_names_the_update(env: Env) -> None:
    start, update = operations(wf_enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL, update_id="")
    with pytest.raises(MultiOperationFailed) as caught:
        await update_with_start(env.history, env.ns, start, update, wait_seconds=1)
    assert caught.value.failed_index == UPDATE
    assert status_code(caught.value) == grpc.StatusCode.INVALID_ARGUMENT
