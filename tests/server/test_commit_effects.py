"""The server's commit effects: a commit's tasks reach matching, its timers the queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.clock import RealClock
from perdure.server.commit_effects import ServerCommitEffects
from perdure.server.engine import start
from perdure.server.history.service import HistoryService
from perdure.server.matching.queries import QueryRegistry
from perdure.server.matching.query_routing import QueryRouter
from perdure.server.matching.queues import Handoff, Matching, WorkflowTaskStart
from perdure.server.namespaces import NamespaceRegistry
from perdure.server.store import open_store
from perdure.server.store.base import Store, TaskKind
from perdure.server.timers.queue import TimerQueue


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    store = await open_store(":memory:")
    try:
        yield store
    finally:
        await store.close()


def _request(workflow_id: str) -> rr.StartWorkflowExecutionRequest:
    request = rr.StartWorkflowExecutionRequest(workflow_id=workflow_id, request_id=workflow_id)
    request.workflow_type.name = "Flow"
    request.task_queue.name = "tq"
    request.workflow_run_timeout.FromSeconds(30)
    return request


async def test_tasks_go_to_matching_or_straight_to_a_waiting_poller(store: Store) -> None:
    clock = RealClock()
    queries = QueryRegistry()
    matching = Matching(store)
    timers = TimerQueue(store, clock)
    timers._loaded_until = clock.now_ns() + 60 * 10**9  # as after a first scan
    effects = ServerCommitEffects(
        matching=matching,
        timers=timers,
        queries=queries,
        query_router=QueryRouter(queries, matching),
        new_id=HistoryService.new_id,
    )
    history = HistoryService(store, clock, effects=effects)
    ns = await NamespaceRegistry(store).ensure("default")

    async def start_run(workflow_id: str) -> None:
        ex = start.new_run(
            _request(workflow_id),
            namespace=ns.name,
            namespace_id=ns.id,
            run_id=history.new_id(),
            now=clock.now_ns(),
        )
        await history.commit(ns, [(ex, None)], current_expected=None)

    queue = matching.queue_for_poller(ns.id, "tq", TaskKind.WORKFLOW, identity="w1")
    queue._backlog_checked = True
    await start_run("nobody-waits")
    assert queue.backlog_hint == 1, "offered to the queue after the commit"
    assert timers.next_fire_time() is not None, "the run timeout is armed"

    ready = await queue.poll(1, "w1")
    assert ready is not None and not isinstance(ready, Handoff)
    poll = asyncio.create_task(queue.poll(5, "w1"))
    await asyncio.sleep(0)
    await start_run("a-poller-waits")
    handed = await poll
    assert isinstance(handed, Handoff) and isinstance(handed.task, WorkflowTaskStart)
    assert handed.task.response.workflow_execution.workflow_id == "a-poller-waits"
    assert queue.backlog_hint == 0
