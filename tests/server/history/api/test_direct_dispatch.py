"""Sync match inside a commit: a waiting poller gets the task the commit starts."""

from __future__ import annotations

import asyncio

from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import start
from perdure.server.engine.execution import Execution
from perdure.server.history.api.direct_dispatch import start_for_waiting_pollers
from perdure.server.matching.queues import Handoff, Matching, WorkflowTaskStart
from perdure.server.store.base import TaskKind
from tests.server.history.api.conftest import Env


def _new_run(env: Env) -> Execution:
    request = rr.StartWorkflowExecutionRequest(workflow_id="wf-1", request_id="wf-1")
    request.workflow_type.name = "Flow"
    request.task_queue.name = "tq"
    return start.new_run(
        request,
        namespace=env.ns.name,
        namespace_id=env.ns.id,
        run_id=env.history.new_id(),
        now=env.history.clock.now_ns(),
    )


async def test_a_waiting_poller_gets_the_task_started_in_the_same_commit(env: Env) -> None:
    matching = Matching(env.history.store)
    queue = matching.queue_for_poller(env.ns.id, "tq", TaskKind.WORKFLOW, identity="w1")
    queue._backlog_checked = True  # nothing stored yet
    poll = asyncio.create_task(queue.poll(5, "w1"))
    await asyncio.sleep(0)
    ex = _new_run(env)
    dispatches = start_for_waiting_pollers(ex, matching, env.queries, env.history.new_id)
    assert len(dispatches) == 1
    await env.history.commit(env.ns, [(ex, None)], current_expected=None)
    assert not poll.done(), "delivered only once the commit is durable"
    dispatches[0].deliver()
    handed = await poll
    assert isinstance(handed, Handoff) and isinstance(handed.task, WorkflowTaskStart)
    assert handed.task.response.started_event_id == 3
    assert (await env.event_types())[-1] == "WORKFLOW_TASK_STARTED"
    events = await env.events()
    assert events[-1].workflow_task_started_event_attributes.identity == "w1"
    assert await env.task_rows(TaskKind.WORKFLOW) == [], "no row: started before written"


async def test_without_a_waiting_poller_the_task_waits_in_its_queue(env: Env) -> None:
    matching = Matching(env.history.store)
    ex = _new_run(env)
    assert start_for_waiting_pollers(ex, matching, env.queries, env.history.new_id) == []
    await env.history.commit(env.ns, [(ex, None)], current_expected=None)
    assert len(await env.task_rows(TaskKind.WORKFLOW)) == 1
