"""query_workflow: rejection by condition, and the three routes a query takes to a worker."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.api.enums.v1 import query_pb2 as query_enums
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import tokens
from perdure.server.engine.execution import Execution
from perdure.server.errors import DeadlineExceeded, QueryFailed, WorkflowNotReady
from perdure.server.history.api.query_workflow import query_workflow
from perdure.server.history.api.respond_workflow_task_failed import respond_workflow_task_failed
from perdure.server.history.api.start_workflow import start_workflow
from perdure.server.matching.queries import QueryAnswer, QueryTask
from perdure.server.store.base import TaskKind
from tests.server.engine.helpers import complete_workflow, payloads
from tests.server.history.api.conftest import Env, start_request


def query(workflow_id: str, reject_condition: int = 0) -> rr.QueryWorkflowRequest:
    request = rr.QueryWorkflowRequest(namespace="default", query_reject_condition=reject_condition)  # type: ignore[arg-type]
    request.execution.workflow_id = workflow_id
    request.query.query_type = "count"
    return request


def ask(
    env: Env, workflow_id: str, wait_seconds: float = 5
) -> asyncio.Task[rr.QueryWorkflowResponse]:
    return asyncio.create_task(
        query_workflow(
            env.history, env.queries, env.router, env.ns, query(workflow_id),
            wait_seconds=wait_seconds,
        )
    )  # fmt: skip


async def riding(env: Env, run_id: str) -> list[QueryTask]:
    """Wait until the query is routed onto the run's next workflow task; take it."""
    for _ in range(1000):
        tasks = env.queries.take_for_task(env.ns.id, run_id)
        if tasks:
            return tasks
        await asyncio.sleep(0.001)
    raise AssertionError("no query rode the next task")


async def test_a_closed_run_refused_by_the_condition_answers_with_its_status(env: Env) -> None:
    await env.start("wf")
    await env.run_task("wf", complete_workflow())
    resp = await query_workflow(
        env.history, env.queries, env.router, env.ns,
        query("wf", query_enums.QUERY_REJECT_CONDITION_NOT_OPEN), wait_seconds=1,
    )  # fmt: skip
    assert resp.query_rejected.status == wf_enums.WORKFLOW_EXECUTION_STATUS_COMPLETED


async def test_a_query_rides_the_pending_workflow_task(env: Env) -> None:
    run_id = await env.start("wf")
    waiting = ask(env, "wf")
    [task] = await riding(env, run_id)
    assert task.query.query_type == "count"
    env.queries.resolve(task.query_id, QueryAnswer(True, result=payloads(b"7")))
    assert (await waiting).query_result == payloads(b"7")


async def test_a_query_during_a_started_task_is_routed_when_the_task_ends(env: Env) -> None:
    run_id = await env.start("wf")
    await env.start_task("wf")
    waiting = ask(env, "wf")
    while not env.queries.has_waiting(env.ns.id, run_id):
        await asyncio.sleep(0.001)
    await env.complete_task("wf")
    st = await env.state("wf")
    env.router.reroute_waiting(env.ns, Execution(st, 0, env.ns.name))

    # No task is pending now: the query became a query task of its own.
    polled = await env.matching.queue(env.ns.id, "tq", TaskKind.WORKFLOW).poll(1)
    assert isinstance(polled, QueryTask)
    polled.resolve(QueryAnswer(False, error_message="boom"))
    with pytest.raises(QueryFailed, match="boom"):
        await waiting


async def test_an_unanswered_query_times_out_and_is_forgotten(env: Env) -> None:
    run_id = await env.start("wf")
    with pytest.raises(DeadlineExceeded):
        await ask(env, "wf", wait_seconds=0.02)
    assert not env.queries.holds(env.ns.id, run_id)


async def test_a_run_waiting_for_its_first_task_is_not_ready(env: Env) -> None:
    delayed = start_request("wf")
    delayed.workflow_start_delay.seconds = 3600
    await start_workflow(env.history, env.ns, delayed)
    with pytest.raises(WorkflowNotReady, match="Workflow task is not scheduled yet"):
        await ask(env, "wf")


async def test_a_run_whose_task_keeps_failing_fails_the_query_at_once(env: Env) -> None:
    await env.start_run()
    for _ in range(2):
        started = await env.start_workflow_task()
        token = tokens.decode_workflow_task(started.response.task_token)
        request = rr.RespondWorkflowTaskFailedRequest(identity="w")
        await respond_workflow_task_failed(env.history, env.queries, env.ns, token, request)
    with pytest.raises(WorkflowNotReady, match="Workflow Task in failed state"):
        await ask(env, "wf-1")
