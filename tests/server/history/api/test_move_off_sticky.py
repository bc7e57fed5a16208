"""Moving a run off a sticky queue whose worker left."""

from __future__ import annotations

from temporalio.api.history.v1 import message_pb2 as history_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import requests, tokens
from perdure.server.engine.execution import Execution
from perdure.server.engine.state import ExecutionState
from perdure.server.history.api.reset_sticky_task_queue import move_off_sticky
from perdure.server.history.api.respond_workflow_task_completed import (
    respond_workflow_task_completed,
)
from perdure.server.store.base import TaskKind
from tests.server.history.api.conftest import Env


async def _sticky_run_with_a_pending_task(env: Env) -> None:
    await env.start_run()
    started = await env.start_workflow_task()
    request = rr.RespondWorkflowTaskCompletedRequest(identity="w")
    request.sticky_attributes.worker_task_queue.name = "sticky"
    token = tokens.decode_workflow_task(started.response.task_token)
    await respond_workflow_task_completed(env.history, env.queries, env.ns, token, request)

    def signal(ex: Execution) -> None:
        attrs = history_pb2.WorkflowExecutionSignaledEventAttributes(signal_name="go")
        requests.signal(ex, attrs)

    await env.history.update(env.ns, "wf-1", "", signal)


async def test_the_pending_task_moves_to_the_normal_queue(env: Env) -> None:
    await _sticky_run_with_a_pending_task(env)
    sticky = await env.history.store.get_tasks(env.ns.id, "sticky", TaskKind.WORKFLOW, 0, 10)
    assert len(sticky) == 1 and await env.task_rows(TaskKind.WORKFLOW) == []
    await move_off_sticky(env.history, env.ns, "wf-1", "")
    assert await env.history.store.get_tasks(env.ns.id, "sticky", TaskKind.WORKFLOW, 0, 10) == []
    assert len(await env.task_rows(TaskKind.WORKFLOW)) == 1

    def sticky_queue(st: ExecutionState) -> str:
        return st.sticky_task_queue

    assert await env.history.read(env.ns, "wf-1", "", sticky_queue) == ""
    started = await env.start_workflow_task()
    assert not started.started.info.sticky, "the worker gets the whole history"
    assert started.response.workflow_execution_task_queue.name == "tq"


async def test_a_run_that_is_gone_needs_nothing(env: Env) -> None:
    await move_off_sticky(env.history, env.ns, "no-such-workflow", "no-such-run")
