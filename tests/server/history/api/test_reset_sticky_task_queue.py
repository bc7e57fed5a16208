"""reset_sticky_task_queue: the run's tasks leave the sticky queue, a scheduled one at once."""

from __future__ import annotations

from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.history.api.reset_sticky_task_queue import (
    move_off_sticky,
    reset_sticky_task_queue,
)
from perdure.server.history.api.signal_workflow import signal_workflow
from tests.server.history.api.conftest import Env


async def test_a_task_scheduled_on_the_sticky_queue_moves_to_the_normal_one(env: Env) -> None:
    await env.start("wf")
    await env.start_task("wf")
    await env.complete_task("wf", sticky_queue="worker-1")
    poke = rr.SignalWorkflowExecutionRequest(namespace="default", signal_name="poke")
    poke.workflow_execution.workflow_id = "wf"
    await signal_workflow(env.history, env.ns, poke)
    before = await env.state("wf")
    assert before.sticky_task_queue == "worker-1"
    assert before.workflow_task is not None and before.workflow_task.sticky
    seq = before.workflow_task.seq

    request = rr.ResetStickyTaskQueueRequest(namespace="default")
    request.execution.workflow_id = "wf"
    await reset_sticky_task_queue(env.history, env.ns, request)

    after = await env.state("wf")
    assert after.sticky_task_queue == ""
    wt = after.workflow_task
    assert wt is not None and not wt.sticky
    assert (wt.task_queue, wt.seq > seq) == ("tq", True)


async def test_moving_off_a_gone_sticky_worker_clears_the_run_or_finds_nothing(env: Env) -> None:
    run_id = await env.start("wf")
    await env.start_task("wf")
    await env.complete_task("wf", sticky_queue="worker-1")

    await move_off_sticky(env.history, env.ns, "wf", run_id)
    assert (await env.state("wf")).sticky_task_queue == ""
    await move_off_sticky(env.history, env.ns, "deleted", "run")  # no error
