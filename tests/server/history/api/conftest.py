"""A history service on an in-memory SQLite store, and steps the operations' tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest
from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.protocol.v1 import message_pb2 as protocol_pb2
from temporalio.api.query.v1 import message_pb2 as query_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.clock import RealClock
from perdure.server.engine import completion, tokens, workflow_task
from perdure.server.engine.execution import Execution, HistoryEvent
from perdure.server.engine.state import ExecutionState
from perdure.server.history.api.record_activity_task_started import record_activity_task_started
from perdure.server.history.api.record_workflow_task_started import (
    record_workflow_task_started,
)
from perdure.server.history.api.respond_workflow_task_completed import (
    respond_workflow_task_completed,
)
from perdure.server.history.api.start_workflow import start_workflow
from perdure.server.history.service import HistoryService
from perdure.server.matching.queries import QueryRegistry, QueryTask
from perdure.server.matching.query_routing import QueryRouter
from perdure.server.matching.queues import Matching, WorkflowTaskStart
from perdure.server.namespaces import Namespace, NamespaceRegistry
from perdure.server.store import open_store
from perdure.server.store.base import ExecutionKey, Store, TaskKind, TaskRow

WORKFLOW_ID = "wf-1"


def start_request(
    workflow_id: str, request_id: str = "", **fields: object
) -> rr.StartWorkflowExecutionRequest:
    request = rr.StartWorkflowExecutionRequest(
        namespace="default",
        workflow_id=workflow_id,
        request_id=request_id or f"start-{workflow_id}",
        identity="client",
        **fields,  # type: ignore[arg-type]
    )
    request.workflow_type.name = "Flow"
    request.task_queue.name = "tq"
    return request


def event_types(events: Sequence[HistoryEvent]) -> list[str]:
    return [et.EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events]


@dataclass
class Env:
    store: Store
    history: HistoryService
    ns: Namespace
    matching: Matching
    queries: QueryRegistry
    router: QueryRouter

    # ------------------------------------------------------------------ runs

    async def start(self, workflow_id: str = WORKFLOW_ID, request_id: str = "") -> str:
        """Start a run through the start operation; its run id."""
        result = await start_workflow(self.history, self.ns, start_request(workflow_id, request_id))
        return result.run_id

    async def start_run(self, workflow_id: str = WORKFLOW_ID) -> str:
        return await self.start(workflow_id, workflow_id)

    async def state(self, workflow_id: str = WORKFLOW_ID, run_id: str = "") -> ExecutionState:
        return await self.history.read(self.ns, workflow_id, run_id, lambda st: st)

    async def events(self, workflow_id: str = WORKFLOW_ID, run_id: str = "") -> list[HistoryEvent]:
        run_id = await self.history.resolve_run_id(self.ns, workflow_id, run_id)
        key = ExecutionKey(self.ns.id, workflow_id, run_id)
        return await self.history.read_events(key, 1, 10_000)

    async def event_types(self, workflow_id: str = WORKFLOW_ID, run_id: str = "") -> list[str]:
        return event_types(await self.events(workflow_id, run_id))

    def ride_query(self, run_id: str, query_id: str = "q-1") -> QueryTask:
        """A query waiting for the run's next workflow task, as QueryWorkflow leaves it."""
        query = QueryTask(
            query_id, self.ns.id, WORKFLOW_ID, run_id, query_pb2.WorkflowQuery(query_type="q")
        )
        self.queries.ride_next_task(query)
        return query

    # ------------------------------------------------------------------ tasks, as workers see them

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

    # ------------------------------------------------------------------ tasks, by engine step

    async def start_task(self, workflow_id: str) -> None:
        """Start the current run's pending workflow task (as a poll would)."""

        def run(ex: Execution) -> None:
            wt = ex.state.workflow_task
            assert wt is not None
            workflow_task.start(ex, wt.seq, identity="worker", request_id=self.history.new_id())

        await self.history.update(self.ns, workflow_id, "", run)

    async def complete_task(
        self,
        workflow_id: str,
        *commands: command_pb2.Command,
        messages: Sequence[protocol_pb2.Message] = (),
        sticky_queue: str = "",
    ) -> None:
        """Complete the current run's started workflow task with `commands` (and, with
        `sticky_queue`, ask for the run's next tasks on that queue)."""

        def run(ex: Execution) -> None:
            wt = ex.state.workflow_task
            assert wt is not None and wt.started
            st = ex.state
            token = tokens.WorkflowTaskToken(
                st.namespace_id, st.workflow_id, st.run_id,
                seq=wt.seq, attempt=wt.attempt, started_event_id=wt.started_event_id,
            )  # fmt: skip
            request = rr.RespondWorkflowTaskCompletedRequest(
                commands=commands, messages=messages, identity="worker"
            )
            if sticky_queue:
                request.sticky_attributes.worker_task_queue.name = sticky_queue
            completion.complete(ex, token, request, new_id=self.history.new_id)

        await self.history.update(self.ns, workflow_id, "", run)

    async def run_task(self, workflow_id: str, *commands: command_pb2.Command) -> None:
        await self.start_task(workflow_id)
        await self.complete_task(workflow_id, *commands)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    store = await open_store(":memory:")
    history = HistoryService(store, RealClock())
    ns = await NamespaceRegistry(store).ensure("default")
    try:
        matching, queries = Matching(store), QueryRegistry()
        yield Env(store, history, ns, matching, queries, QueryRouter(queries, matching))
    finally:
        await store.close()
