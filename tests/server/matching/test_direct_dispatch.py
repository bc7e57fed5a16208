"""Direct dispatch: a commit takes a waiting poller and hands it the task it started."""

from __future__ import annotations

import asyncio

from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.matching.queues import DirectDispatch, Handoff, TaskQueue
from perdure.server.store.base import TaskKind, TaskRow


def _queue() -> TaskQueue:
    return TaskQueue("ns", "tq", TaskKind.WORKFLOW, store=None)  # type: ignore[arg-type]


def _row(key: str) -> TaskRow:
    return TaskRow(key, "ns", "tq", TaskKind.WORKFLOW, "wf", "run", 2, 0)


async def test_a_taken_poller_receives_the_handoff_with_its_identity() -> None:
    queue = _queue()
    queue._backlog_checked = True  # nothing stored
    poll = asyncio.ensure_future(queue.poll(5, "worker-1"))
    await asyncio.sleep(0)
    taken = queue.take_idle_poller()
    assert taken is not None and taken[1] == "worker-1"
    assert queue.take_idle_poller() is None, "one waiting poller, taken once"
    handoff = Handoff("run/w/1", task=rr.PollActivityTaskQueueResponse(activity_id="a"))
    DirectDispatch(queue, taken[0], handoff).deliver()
    assert await poll is handoff


async def test_a_poller_given_back_waits_on_for_the_next_task() -> None:
    queue = _queue()
    queue._backlog_checked = True
    poll = asyncio.ensure_future(queue.poll(5, "worker-1"))
    await asyncio.sleep(0)
    taken = queue.take_idle_poller()
    assert taken is not None
    DirectDispatch(
        queue, taken[0], Handoff("k", task=rr.PollActivityTaskQueueResponse())
    ).give_back()
    row = _row("run/w/2")
    queue.offer(row)
    assert await poll is row


async def test_a_handoff_is_not_requeued_when_its_poller_left() -> None:
    queue = _queue()
    queue.requeue(Handoff("k", task=rr.PollActivityTaskQueueResponse()))
    assert queue.backlog_hint == 0
