"""RecordWorkflowTaskStarted against a stored run."""

from __future__ import annotations

from perdure.server.engine import tokens
from perdure.server.history.api.record_workflow_task_started import (
    record_workflow_task_started,
)
from perdure.server.store.base import TaskKind, TaskRow
from tests.server.history.api.conftest import Env


async def test_starting_claims_the_row_and_writes_the_started_event(env: Env) -> None:
    run_id = await env.start_run()
    row = await env.only_task(TaskKind.WORKFLOW)
    started = await record_workflow_task_started(env.history, env.queries, env.ns, row, "w1")
    assert started is not None
    resp = started.response
    token = tokens.decode_workflow_task(resp.task_token)
    assert token.run_id == run_id
    assert resp.started_event_id == 3 and resp.attempt == 1
    assert resp.workflow_type.name == "Flow" and resp.workflow_execution.run_id == run_id
    assert not resp.history.events, "the caller adds the history"
    assert started.started.info.started_event_id == 3
    assert await env.event_types() == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
    ]
    assert (await env.events())[-1].workflow_task_started_event_attributes.identity == "w1"
    assert await env.task_rows(TaskKind.WORKFLOW) == [], "the start claimed the row"


async def test_a_task_started_already_is_stale(env: Env) -> None:
    await env.start_run()
    row = await env.only_task(TaskKind.WORKFLOW)
    assert await record_workflow_task_started(env.history, env.queries, env.ns, row, "w1")
    again = await record_workflow_task_started(env.history, env.queries, env.ns, row, "w2")
    assert again is None
    assert (await env.event_types()).count("WORKFLOW_TASK_STARTED") == 1


async def test_a_task_of_a_run_that_is_gone_is_stale(env: Env) -> None:
    row = TaskRow("nope/w/1", env.ns.id, "tq", TaskKind.WORKFLOW, "wf-x", "nope", 1, 0)
    assert await record_workflow_task_started(env.history, env.queries, env.ns, row, "w") is None


async def test_queries_waiting_for_the_next_task_ride_on_it(env: Env) -> None:
    run_id = await env.start_run()
    env.ride_query(run_id)
    started = await env.start_workflow_task()
    assert list(started.response.queries) == ["q-1"]
    assert started.response.queries["q-1"].query_type == "q"
