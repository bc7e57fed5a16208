"""The long-poll loops: handoffs, started tasks, stale rows dropped, failures requeued."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from temporalio.api.query.v1 import message_pb2 as query_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.matching.polling import poll_activity_task, poll_workflow_task
from perdure.server.matching.queries import QueryTask
from perdure.server.matching.queues import Handoff, TaskQueue, WorkflowTaskStart
from perdure.server.store.base import TaskKind, TaskRow


class Backlog:
    """The store as a queue sees it: a backlog, and the rows it deletes."""

    def __init__(self, *rows: TaskRow) -> None:
        self.rows = list(rows)
        self.deleted: list[str] = []

    async def get_tasks(
        self, namespace_id: str, task_queue: str, kind: TaskKind, after: int, limit: int
    ) -> list[TaskRow]:
        return [r for r in self.rows if r.seq > after][:limit]

    async def delete_tasks(self, keys: Sequence[str]) -> None:
        self.deleted.extend(keys)
        self.rows = [r for r in self.rows if r.key not in keys]


def _row(key: str, seq: int, kind: TaskKind = TaskKind.ACTIVITY) -> TaskRow:
    return TaskRow(key, "ns", "tq", kind, "wf", "run", 5, 0, seq=seq)


def _queue(store: Backlog, kind: TaskKind = TaskKind.ACTIVITY) -> TaskQueue:
    return TaskQueue("ns", "tq", kind, store)  # type: ignore[arg-type]


async def test_a_stale_row_is_dropped_and_the_poll_goes_on() -> None:
    store = Backlog(_row("stale", 1), _row("good", 2))
    queue = _queue(store)
    tried: list[str] = []

    async def start(row: TaskRow) -> rr.PollActivityTaskQueueResponse | None:
        tried.append(row.key)
        return None if row.key == "stale" else rr.PollActivityTaskQueueResponse(activity_id="a")

    resp = await poll_activity_task(queue, "w", 1, start_task=start)
    assert resp is not None and resp.activity_id == "a"
    assert tried == ["stale", "good"]
    assert store.deleted == ["stale"]


async def test_a_row_that_failed_to_start_goes_back_first_in_line() -> None:
    queue = _queue(Backlog(_row("t1", 1)))

    async def broken(row: TaskRow) -> rr.PollActivityTaskQueueResponse | None:
        raise ConnectionError("store down")

    with pytest.raises(ConnectionError):
        await poll_activity_task(queue, "w", 1, start_task=broken)

    async def fine(row: TaskRow) -> rr.PollActivityTaskQueueResponse | None:
        return rr.PollActivityTaskQueueResponse(activity_id=row.key)

    resp = await poll_activity_task(queue, "w", 1, start_task=fine)
    assert resp is not None and resp.activity_id == "t1"


async def test_a_handoff_is_returned_without_starting_anything() -> None:
    queue = _queue(Backlog())

    async def start(row: TaskRow) -> rr.PollActivityTaskQueueResponse | None:
        raise AssertionError("a handoff is started already")

    poll = asyncio.create_task(poll_activity_task(queue, "w", 5, start_task=start))
    await asyncio.sleep(0.01)
    taken = queue.take_idle_poller()
    assert taken is not None and taken[1] == "w"
    handed = rr.PollActivityTaskQueueResponse(activity_id="direct")
    taken[0].set_result(Handoff("k", handed))
    assert await poll is handed


async def test_nothing_until_the_timeout_is_none() -> None:
    async def start(row: TaskRow) -> rr.PollActivityTaskQueueResponse | None:
        raise AssertionError("no task")

    assert await poll_activity_task(_queue(Backlog()), "w", 0.02, start_task=start) is None


async def test_a_query_of_a_gone_run_is_skipped_for_the_next_item() -> None:
    store = Backlog(_row("wt", 1, TaskKind.WORKFLOW))
    queue = _queue(store, TaskKind.WORKFLOW)
    query = QueryTask("q", "ns", "wf", "gone", query_pb2.WorkflowQuery(query_type="q"))
    queue.offer_query(query)
    seen: list[str] = []

    async def start_query(task: QueryTask) -> rr.PollWorkflowTaskQueueResponse | None:
        seen.append(task.query_id)
        return None

    async def start_task(row: TaskRow) -> WorkflowTaskStart | None:
        seen.append(row.key)
        return None

    assert (
        await poll_workflow_task(queue, "w", 0.05, start_task=start_task, start_query=start_query)
        is None
    )
    assert seen == ["q", "wt"]
    assert store.deleted == ["wt"]


async def test_a_query_task_response_is_returned() -> None:
    queue = _queue(Backlog(), TaskKind.WORKFLOW)
    queue.offer_query(QueryTask("q", "ns", "wf", "run", query_pb2.WorkflowQuery(query_type="q")))
    answer = rr.PollWorkflowTaskQueueResponse(task_token=b"query")

    async def start_query(task: QueryTask) -> rr.PollWorkflowTaskQueueResponse | None:
        return answer

    async def start_task(row: TaskRow) -> WorkflowTaskStart | None:
        raise AssertionError("no task")

    polled = await poll_workflow_task(queue, "w", 1, start_task=start_task, start_query=start_query)
    assert polled is answer
