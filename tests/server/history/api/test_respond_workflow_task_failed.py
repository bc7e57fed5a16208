"""RespondWorkflowTaskFailed against a stored run."""

from __future__ import annotations

from temporalio.api.enums.v1 import failed_cause_pb2 as causes
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import tokens
from perdure.server.engine.execution import Execution
from perdure.server.history.api.respond_workflow_task_failed import respond_workflow_task_failed
from tests.server.history.api.conftest import Env


async def test_failing_records_the_failure_and_riding_queries_ride_the_next_attempt(
    env: Env,
) -> None:
    run_id = await env.start_run()
    query = env.ride_query(run_id)
    started = await env.start_workflow_task()
    token = tokens.decode_workflow_task(started.response.task_token)
    request = rr.RespondWorkflowTaskFailedRequest(
        cause=causes.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE, identity="w"
    )
    request.failure.message = "boom"
    await respond_workflow_task_failed(env.history, env.queries, env.ns, token, request)
    failed = (await env.events())[-1].workflow_task_failed_event_attributes
    assert failed.failure.message == "boom" and failed.identity == "w"
    assert not query.answer.done()
    st = await env.state()
    env.router.reroute_waiting(env.ns, Execution(st, 0, env.ns.name))
    again = await env.start_workflow_task()
    assert again.response.attempt == 2 and list(again.response.queries) == ["q-1"]


async def test_the_next_attempt_is_transient(env: Env) -> None:
    await env.start_run()
    started = await env.start_workflow_task()
    token = tokens.decode_workflow_task(started.response.task_token)
    request = rr.RespondWorkflowTaskFailedRequest(identity="w")
    await respond_workflow_task_failed(env.history, env.queries, env.ns, token, request)
    again = await env.start_workflow_task()
    assert again.response.attempt == 2
    assert [e.event_id for e in again.started.transient_events] == [5, 6]
    assert (await env.event_types())[-1] == "WORKFLOW_TASK_FAILED", "nothing more written"
