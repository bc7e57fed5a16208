"""start_workflow: new runs, repeats, the id conflict and reuse policies, signal-with-start,
eager start, and a lost race against another writer."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import InvalidArgument, WorkflowExecutionAlreadyStarted
from perdure.server.history.api.start_workflow import check_request, start_workflow
from perdure.server.history.api.terminate_workflow import terminate_workflow
from perdure.server.store.base import CurrentExecution
from tests.server.history.api.conftest import Env, event_types, start_request

RUNNING = wf_enums.WORKFLOW_EXECUTION_STATUS_RUNNING
TERMINATED = wf_enums.WORKFLOW_EXECUTION_STATUS_TERMINATED


def signal_with_start(
    workflow_id: str, request_id: str, **fields: object
) -> rr.SignalWithStartWorkflowExecutionRequest:
    request = rr.SignalWithStartWorkflowExecutionRequest(
        namespace="default",
        workflow_id=workflow_id,
        request_id=request_id,
        signal_name="poke",
        **fields,  # type: ignore[arg-type]
    )
    request.workflow_type.name = "Flow"
    request.task_queue.name = "tq"
    return request


async def terminate(env: Env, workflow_id: str) -> None:
    request = rr.TerminateWorkflowExecutionRequest(namespace="default", reason="done")
    request.workflow_execution.workflow_id = workflow_id
    await terminate_workflow(env.history, env.ns, request)


async def test_a_new_workflow_id_gets_a_running_run_that_is_current(env: Env) -> None:
    result = await start_workflow(env.history, env.ns, start_request("wf"))

    assert result.started and result.eager is None
    current = await env.store.get_current_execution(env.ns.id, "wf")
    assert current is not None and current.run_id == result.run_id
    assert current.status == RUNNING and current.start_request_id == "start-wf"
    assert await env.event_types("wf") == ["WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED"]


async def test_a_missing_request_id_is_filled_in(env: Env) -> None:
    request = start_request("wf")
    request.request_id = ""
    await start_workflow(env.history, env.ns, request)
    assert request.request_id
    assert (await env.state("wf")).start_request_id == request.request_id


async def test_a_repeated_request_reports_the_run_it_started(env: Env) -> None:
    first = await start_workflow(env.history, env.ns, start_request("wf", "same"))
    again = await start_workflow(env.history, env.ns, start_request("wf", "same"))
    assert (again.run_id, again.started) == (first.run_id, True)
    assert await env.event_types("wf") == ["WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED"]


async def test_another_start_of_a_running_workflow_fails_by_default(env: Env) -> None:
    run_id = await env.start("wf")
    with pytest.raises(WorkflowExecutionAlreadyStarted) as caught:
        await start_workflow(env.history, env.ns, start_request("wf", "other"))
    assert caught.value.run_id == run_id


async def test_use_existing_reports_the_running_run_as_not_started(env: Env) -> None:
    run_id = await env.start("wf")
    request = start_request(
        "wf", "other", workflow_id_conflict_policy=wf_enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
    )
    result = await start_workflow(env.history, env.ns, request)
    assert (result.run_id, result.started) == (run_id, False)


async def test_terminate_existing_ends_the_running_run_in_the_same_commit(env: Env) -> None:
    old = await env.start("wf")
    request = start_request(
        "wf",
        "other",
        workflow_id_conflict_policy=wf_enums.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING,
    )
    result = await start_workflow(env.history, env.ns, request)

    assert result.started and result.run_id != old
    old_state = await env.state("wf", old)
    assert old_state.status == TERMINATED
    assert old_state.new_execution_run_id == result.run_id
    assert (await env.event_types("wf", old))[-1] == "WORKFLOW_EXECUTION_TERMINATED"
    current = await env.store.get_current_execution(env.ns.id, "wf")
    assert current is not None and current.run_id == result.run_id


async def test_a_closed_workflow_id_is_reused_unless_the_policy_refuses(env: Env) -> None:
    await env.start("wf")
    await terminate(env, "wf")
    refuse = start_request(
        "wf", "again", workflow_id_reuse_policy=wf_enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
    )
    with pytest.raises(WorkflowExecutionAlreadyStarted):
        await start_workflow(env.history, env.ns, refuse)

    allow = start_request("wf", "again")
    result = await start_workflow(env.history, env.ns, allow)
    assert result.started
    assert (await env.state("wf")).run_id == result.run_id


async def test_signal_with_start_signals_a_running_run(env: Env) -> None:
    run_id = await env.start("wf")
    result = await start_workflow(
        env.history, env.ns, signal_with_start("wf", "sws"), signal_with_start=True
    )
    assert (result.run_id, result.started) == (run_id, False)
    assert "WORKFLOW_EXECUTION_SIGNALED" in await env.event_types("wf")


async def test_signal_with_start_on_a_closed_run_starts_one_with_the_signal(env: Env) -> None:
    old = await env.start("wf")
    await terminate(env, "wf")
    result = await start_workflow(
        env.history, env.ns, signal_with_start("wf", "sws"), signal_with_start=True
    )
    assert result.started and result.run_id != old
    assert await env.event_types("wf") == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
    ]


async def test_signal_with_start_refuses_the_fail_conflict_policy(env: Env) -> None:
    await env.start("wf")
    request = signal_with_start(
        "wf", "sws", workflow_id_conflict_policy=wf_enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL
    )
    with pytest.raises(InvalidArgument):
        await start_workflow(env.history, env.ns, request, signal_with_start=True)


async def test_eager_start_starts_the_first_workflow_task_in_the_start_commit(env: Env) -> None:
    result = await start_workflow(env.history, env.ns, start_request("wf"), eager=True)

    assert result.eager is not None
    assert result.eager.run.state.run_id == result.run_id
    assert event_types(result.eager.run.out.events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
    ]
    wt = (await env.state("wf")).workflow_task
    assert wt is not None and wt.started
    assert wt.started_event_id == result.eager.task.info.started_event_id
    assert await env.event_types("wf") == event_types(result.eager.run.out.events)


async def test_a_start_that_loses_a_race_decides_again_on_the_new_current_run(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The current-run row read first is stale: the conditional commit fails, and the
    second decision sees the run the other writer started."""
    winner = await env.start("wf")
    real = env.store.get_current_execution
    reads: list[CurrentExecution | None] = []

    async def stale_once(namespace_id: str, workflow_id: str) -> CurrentExecution | None:
        row = await real(namespace_id, workflow_id)
        reads.append(row)
        return None if len(reads) == 1 else row

    monkeypatch.setattr(env.store, "get_current_execution", stale_once)
    with pytest.raises(WorkflowExecutionAlreadyStarted) as caught:
        await start_workflow(env.history, env.ns, start_request("wf", "loser"))
    assert caught.value.run_id == winner
    assert len(reads) == 2
    assert (await env.state("wf")).run_id == winner


def test_check_request_refuses_what_no_run_can_be_made_of() -> None:
    request = start_request("wf")
    request.task_queue.name = ""
    with pytest.raises(InvalidArgument, match="TaskQueue is not set"):
        check_request(request)
    check_request(start_request("wf"))
