"""RespondWorkflowTaskCompleted against a stored run."""

from __future__ import annotations

import pytest
from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.enums.v1 import command_type_pb2 as ct
from temporalio.api.enums.v1 import query_pb2 as query_enums
from temporalio.api.query.v1 import message_pb2 as query_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import tokens
from perdure.server.engine.execution import Execution
from perdure.server.errors import InvalidArgument, NotFound
from perdure.server.history.api.respond_workflow_task_completed import (
    respond_workflow_task_completed,
)
from perdure.server.history.api.signal_workflow import signal_workflow
from perdure.server.store.base import TaskKind
from tests.server.engine.helpers import complete_workflow, schedule_activity
from tests.server.history.api.conftest import Env


async def _respond(
    env: Env, *commands: command_pb2.Command, **fields: object
) -> tuple[tokens.WorkflowTaskToken, rr.RespondWorkflowTaskCompletedResponse]:
    started = await env.start_workflow_task()
    token = tokens.decode_workflow_task(started.response.task_token)
    request = rr.RespondWorkflowTaskCompletedRequest(
        commands=commands,
        identity="w",
        **fields,  # type: ignore[arg-type]
    )
    done = await respond_workflow_task_completed(env.history, env.queries, env.ns, token, request)
    assert done.inline is None
    return token, done.response


async def test_completing_applies_the_commands(env: Env) -> None:
    await env.start_run()
    await _respond(env, schedule_activity("a1"))
    assert (await env.event_types())[-2:] == ["WORKFLOW_TASK_COMPLETED", "ACTIVITY_TASK_SCHEDULED"]
    row = await env.only_task(TaskKind.ACTIVITY)
    assert row.workflow_id == "wf-1"
    await env.start_activity()


async def test_a_completed_run_is_closed(env: Env) -> None:
    await env.start_run()
    await _respond(env, complete_workflow())
    assert (await env.event_types())[-1] == "WORKFLOW_EXECUTION_COMPLETED"
    assert await env.task_rows(TaskKind.WORKFLOW) == []


async def test_a_bad_command_fails_the_task_and_the_request(env: Env) -> None:
    await env.start_run()
    started = await env.start_workflow_task()
    token = tokens.decode_workflow_task(started.response.task_token)
    bad = command_pb2.Command(command_type=ct.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK)
    request = rr.RespondWorkflowTaskCompletedRequest(commands=[bad], identity="w")
    with pytest.raises(InvalidArgument, match="BadScheduleActivityAttributes: "):
        await respond_workflow_task_completed(env.history, env.queries, env.ns, token, request)
    events = await env.events()
    assert events[-1].workflow_task_failed_event_attributes.identity == "w"
    assert (await env.event_types())[-1] == "WORKFLOW_TASK_FAILED"


async def test_answers_of_riding_queries_resolve_them(env: Env) -> None:
    run_id = await env.start_run()
    query = env.ride_query(run_id)
    result = query_pb2.WorkflowQueryResult(result_type=query_enums.QUERY_RESULT_TYPE_ANSWERED)
    result.answer.payloads.add(data=b"42")
    await _respond(env, query_results={"q-1": result})
    answer = query.answer.result()
    assert answer.answered and answer.result is not None
    assert answer.result.payloads[0].data == b"42"


async def test_a_task_the_server_fails_answers_no_query_and_the_next_attempt_carries_it(
    env: Env,
) -> None:
    run_id = await env.start_run()
    query = env.ride_query(run_id)
    started = await env.start_workflow_task()
    assert list(started.response.queries) == ["q-1"]
    token = tokens.decode_workflow_task(started.response.task_token)
    bad = command_pb2.Command(command_type=ct.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK)
    result = query_pb2.WorkflowQueryResult(result_type=query_enums.QUERY_RESULT_TYPE_ANSWERED)
    request = rr.RespondWorkflowTaskCompletedRequest(
        commands=[bad], identity="w", query_results={"q-1": result}
    )
    with pytest.raises(InvalidArgument):
        await respond_workflow_task_completed(env.history, env.queries, env.ns, token, request)
    assert not query.answer.done(), "the failed task's answer is not taken"
    assert env.queries.has_waiting(env.ns.id, run_id)
    st = await env.state()
    env.router.reroute_waiting(env.ns, Execution(st, 0, env.ns.name))
    again = await env.start_workflow_task()
    assert list(again.response.queries) == ["q-1"]


async def test_a_task_that_is_not_running_is_not_found(env: Env) -> None:
    await env.start_run()
    token, _ = await _respond(env)
    request = rr.RespondWorkflowTaskCompletedRequest(identity="w")
    with pytest.raises(NotFound, match="Workflow task not found"):
        await respond_workflow_task_completed(env.history, env.queries, env.ns, token, request)


async def _complete_after_a_signal(
    env: Env, return_new: bool
) -> tuple[rr.PollWorkflowTaskQueueResponse | None, list[str]]:
    await env.start_run()
    started = await env.start_workflow_task()
    token = tokens.decode_workflow_task(started.response.task_token)
    await signal_workflow(env.history, env.ns, _signal())  # buffered: the task runs
    request = rr.RespondWorkflowTaskCompletedRequest(
        identity="w", return_new_workflow_task=return_new
    )
    done = await respond_workflow_task_completed(env.history, env.queries, env.ns, token, request)
    inline = done.inline.response if done.inline is not None else None
    return inline, await env.event_types()


def _signal() -> rr.SignalWorkflowExecutionRequest:
    request = rr.SignalWorkflowExecutionRequest(namespace="default", signal_name="poke")
    request.workflow_execution.workflow_id = "wf-1"
    return request


async def test_events_that_came_meanwhile_start_the_next_task_in_the_response(env: Env) -> None:
    """As Temporal: with return_new_workflow_task the next task starts at once and comes back
    with the completion, not through the queue."""
    inline, types = await _complete_after_a_signal(env, return_new=True)
    assert inline is not None and inline.task_token
    assert types[-3:] == ["WORKFLOW_EXECUTION_SIGNALED", "WORKFLOW_TASK_SCHEDULED",
                          "WORKFLOW_TASK_STARTED"]  # fmt: skip
    assert await env.task_rows(TaskKind.WORKFLOW) == []


async def test_without_return_new_workflow_task_the_next_task_is_queued(env: Env) -> None:
    inline, types = await _complete_after_a_signal(env, return_new=False)
    assert inline is None
    assert types[-1] == "WORKFLOW_TASK_SCHEDULED"
    assert len(await env.task_rows(TaskKind.WORKFLOW)) == 1
