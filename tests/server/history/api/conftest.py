"""A history service on an in-memory SQLite store, and steps that drive one run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.clock import RealClock
from perdure.server.engine import start, tokens
from perdure.server.engine.execution import HistoryEvent
from perdure.server.history.api.record_activity_task_started import record_activity_task_started
from perdure.server.history.api.record_workflow_task_started import (
    record_workflow_task_started,
)
from perdure.server.history.api.respond_workflow_task_completed import (
    respond_workflow_task_completed,
)
from perdure.server.history.service import HistoryService
from perdure.server.matching.queries import QueryRegistry
from perdure.server.matching.queues import WorkflowTaskStart
from perdure.server.namespaces import Namespace, NamespaceRegistry
from perdure.server.store import open_store
from perdure.server.store.base import ExecutionKey, TaskKind, TaskRow

WORKFLOW_ID = "wf-1"


@dataclass
class Env:
    history: HistoryService
    queries: QueryRegistry
    ns: Namespace

    async def start_run(self, workflow_id: str = WORKFLOW_ID) -> str:
        request = rr.StartWorkflowExecutionRequest(workflow_id=workflow_id, request_id=workflow_id)
        request.workflow_type.name = "Flow"
        request.task_queue.name = "tq"
        run_id = self.history.new_id()
        ex = start.new_run(
            request,
            namespace=self.ns.name,
            namespace_id=self.ns.id,
            run_id=run_id,
            now=self.history.clock.now_ns(),
        )
        await self.history.commit(self.ns, [(ex, None)], current_expected=None)
        return run_id

    async def task_rows(self, kind: TaskKind) -> list[TaskRow]:
        return await self.history.store.get_tasks(self.ns.id, "tq", kind, 0, 100)

    async def only_task(self, kind: TaskKind) -> TaskRow:
        rows = await self.task_rows(kind)
        assert len(rows) == 1, rows
        return rows[0]

    async def start_workflow_task(self) -> WorkflowTaskStart:
        row = await self.only_task(TaskKind.WORKFLOW)
        started = await record_workflow_task_started(self.history, self.queries, self.ns, row, "w")
        assert started is not None
        return started

    async def complete_workflow_task(self, *commands: command_pb2.Command) -> None:
        started = await self.start_workflow_task()
        token = tokens.decode_workflow_task(started.response.task_token)
        request = rr.RespondWorkflowTaskCompletedRequest(commands=commands, identity="w")
        await respond_workflow_task_completed(self.history, self.queries, self.ns, token, request)

    async def start_activity(self) -> rr.PollActivityTaskQueueResponse:
        row = await self.only_task(TaskKind.ACTIVITY)
        resp = await record_activity_task_started(self.history, self.ns, row, "worker-a")
        assert resp is not None
        return resp

    async def events(self, workflow_id: str = WORKFLOW_ID) -> list[HistoryEvent]:
        run_id = (await self.history.current(self.ns, workflow_id)).run_id
        key = ExecutionKey(self.ns.id, workflow_id, run_id)
        return await self.history.read_events(key, 1, 10_000)

    async def event_types(self, workflow_id: str = WORKFLOW_ID) -> list[str]:
        return [
            et.EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
            for e in await self.events(workflow_id)
        ]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    store = await open_store(":memory:")
    history = HistoryService(store, RealClock())
    ns = await NamespaceRegistry(store).ensure("default")
    try:
        yield Env(history, QueryRegistry(), ns)
    finally:
        await store.close()
