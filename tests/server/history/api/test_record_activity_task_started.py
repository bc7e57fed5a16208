"""RecordActivityTaskStarted against a stored run."""

from __future__ import annotations

from perdure.server.engine import tokens
from perdure.server.history.api.record_activity_task_started import record_activity_task_started
from perdure.server.store.base import TaskKind
from tests.server.engine.helpers import schedule_activity
from tests.server.history.api.conftest import Env


async def test_starting_an_activity_claims_its_row(env: Env) -> None:
    run_id = await env.start_run()
    await env.complete_workflow_task(schedule_activity("a1"))
    row = await env.only_task(TaskKind.ACTIVITY)
    resp = await record_activity_task_started(env.history, env.ns, row, "worker-a")
    assert resp is not None
    token = tokens.decode_activity_task(resp.task_token)
    assert (token.run_id, token.attempt) == (run_id, 1)
    assert resp.activity_id == "a1" and resp.activity_type.name == "act"
    assert resp.start_to_close_timeout.seconds == 10
    assert await env.task_rows(TaskKind.ACTIVITY) == []
    # The started event is written when the attempt ends, as Temporal does.
    assert (await env.event_types())[-1] == "ACTIVITY_TASK_SCHEDULED"


async def test_an_attempt_started_already_is_stale(env: Env) -> None:
    await env.start_run()
    await env.complete_workflow_task(schedule_activity("a1"))
    row = await env.only_task(TaskKind.ACTIVITY)
    assert await record_activity_task_started(env.history, env.ns, row, "worker-a")
    assert await record_activity_task_started(env.history, env.ns, row, "worker-b") is None
