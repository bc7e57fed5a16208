"""A history service on an in-memory SQLite store, and steps the operations' tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest
from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.protocol.v1 import message_pb2 as protocol_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.clock import RealClock
from perdure.server.engine import completion, workflow_task
from perdure.server.engine.execution import Execution, HistoryEvent
from perdure.server.engine.state import ExecutionState
from perdure.server.engine.tokens import TaskToken, TokenKind
from perdure.server.history.api.start_workflow import start_workflow
from perdure.server.history.service import HistoryService
from perdure.server.matching.queries import QueryRegistry
from perdure.server.matching.queues import Matching
from perdure.server.namespaces import Namespace, NamespaceRegistry
from perdure.server.store import open_store
from perdure.server.store.base import ExecutionKey, Store


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

    async def start(self, workflow_id: str, request_id: str = "") -> str:
        request = start_request(workflow_id, request_id)
        result = await start_workflow(self.history, self.ns, request)
        return result.run_id

    async def state(self, workflow_id: str, run_id: str = "") -> ExecutionState:
        return await self.history.read(self.ns, workflow_id, run_id, lambda st: st)

    async def events(self, workflow_id: str, run_id: str = "") -> list[HistoryEvent]:
        run_id = await self.history.resolve_run_id(self.ns, workflow_id, run_id)
        key = ExecutionKey(self.ns.id, workflow_id, run_id)
        return await self.history.read_events(key, 1, 10_000)

    async def types(self, workflow_id: str, run_id: str = "") -> list[str]:
        return event_types(await self.events(workflow_id, run_id))

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
            token = TaskToken(
                TokenKind.WORKFLOW_TASK, st.namespace_id, st.workflow_id, st.run_id,
                scheduled_event_id=wt.seq, started_event_id=wt.started_event_id,
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
        yield Env(store, history, ns, Matching(store), QueryRegistry())
    finally:
        await store.close()
