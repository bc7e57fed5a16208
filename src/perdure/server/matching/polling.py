"""The long poll: wait for a task, start it for the poller, or drop it when stale.

One loop per task kind, the same on local and shared-database queues. A task handed
over already started (direct dispatch) is returned as is; a task row is started through
history (the caller's `start_task`, the RecordWorkflowTaskStarted / RecordActivityTask-
Started operation), which answers None when the task turned stale (started elsewhere,
its run gone): the row is dropped and the poll goes on. If starting fails, the task goes
back to the queue for the next poller. Query tasks ride the workflow task queues.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.matching.queries import QueryTask
from perdure.server.matching.queues import Handoff, TaskQueue, WorkflowTaskStart
from perdure.server.store.base import TaskRow

R = TypeVar("R")
StartWorkflowTask = Callable[[TaskRow], Awaitable[WorkflowTaskStart | None]]
"""Start the workflow task of a row for this poller; None if the task is stale."""
StartQueryTask = Callable[[QueryTask], Awaitable[rr.PollWorkflowTaskQueueResponse | None]]
"""The poll response of a query task; None if its run is gone (the query is answered)."""
StartActivityTask = Callable[[TaskRow], Awaitable[rr.PollActivityTaskQueueResponse | None]]
"""Start the activity attempt of a row for this poller; None if the task is stale."""


async def poll_workflow_task(
    queue: TaskQueue,
    identity: str,
    timeout: float,
    *,
    start_task: StartWorkflowTask,
    start_query: StartQueryTask,
    worker_key: str = "",
    build_id: str = "",
) -> WorkflowTaskStart | rr.PollWorkflowTaskQueueResponse | None:
    """A started workflow task (its history still to add), a query task's response, or
    None when nothing came within `timeout` seconds (or the worker `worker_key` left)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        item = await queue.poll(left, identity, worker_key, build_id)
        if item is None:
            break
        if isinstance(item, Handoff):
            assert isinstance(item.task, WorkflowTaskStart), "a workflow queue's handoff"
            return item.task
        if isinstance(item, QueryTask):
            try:
                response = await start_query(item)
            except BaseException:
                queue.requeue(item)
                raise
            if response is None:
                continue
            return response
        started = await _start(queue, item, start_task)
        if started is not None:
            return started
    return None


async def poll_activity_task(
    queue: TaskQueue,
    identity: str,
    timeout: float,
    *,
    start_task: StartActivityTask,
    worker_key: str = "",
    build_id: str = "",
) -> rr.PollActivityTaskQueueResponse | None:
    """A started activity task, or None when nothing came within `timeout` seconds (or
    the worker `worker_key` left)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        item = await queue.poll(left, identity, worker_key, build_id)
        if item is None:
            break
        if isinstance(item, Handoff):
            assert isinstance(item.task, rr.PollActivityTaskQueueResponse), "an activity handoff"
            return item.task
        assert not isinstance(item, QueryTask), "activity queues carry no queries"
        if not await queue.dispatch_turn(deadline):
            queue.requeue(item)  # the queue's rate allows no more tasks before the deadline
            break
        started = await _start(queue, item, start_task)
        if started is not None:
            return started
    return None


async def _start(
    queue: TaskQueue, row: TaskRow, start_task: Callable[[TaskRow], Awaitable[R | None]]
) -> R | None:
    """Start `row`'s task; drop a stale row, give the row back if starting failed."""
    try:
        started = await start_task(row)
    except BaseException:
        queue.requeue(row)
        raise
    queue.resolved(row.key)
    if started is None:
        await queue.store.delete_tasks([row.key])
    return started
