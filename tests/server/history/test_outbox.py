"""The outbox on a real store: each cross-execution step commits once, even when repeated.

A "crash" is an exception injected into the last step of a row; firing the row again
must finish the work without doing any of it twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.enums.v1 import command_type_pb2 as ct
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.clock import RealClock
from perdure.server.engine import (
    children,
    completion,
    external,
    requests,
    start,
    workflow_task,
)
from perdure.server.engine.deadlines import TimerKind, TimerRef
from perdure.server.engine.execution import Execution, HistoryEvent
from perdure.server.engine.tokens import WorkflowTaskToken
from perdure.server.history.outbox import Outbox
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace, NamespaceRegistry
from perdure.server.store import open_store
from perdure.server.store.base import ExecutionKey, TimerRow


class Crash(Exception):
    """Stands for the process dying at this point."""


@dataclass
class Env:
    history: HistoryService
    ns: Namespace
    outbox: Outbox

    async def start(self, workflow_id: str) -> str:
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

    async def complete_task(self, workflow_id: str, *commands: command_pb2.Command) -> None:
        """Start the run's pending workflow task and complete it with `commands`."""

        def run(ex: Execution) -> None:
            wt = ex.state.workflow_task
            assert wt is not None
            started = workflow_task.start(ex, wt.seq, identity="w", request_id="r")
            token = WorkflowTaskToken(
                ex.state.namespace_id,
                ex.state.workflow_id,
                ex.state.run_id,
                seq=wt.seq,
                attempt=wt.attempt,
                started_event_id=started.info.started_event_id,
            )
            request = rr.RespondWorkflowTaskCompletedRequest(commands=commands, identity="w")
            completion.complete(ex, token, request, new_id=self.history.new_id)

        await self.history.update(self.ns, workflow_id, "", run)

    async def events(self, workflow_id: str, run_id: str = "") -> list[HistoryEvent]:
        run_id = run_id or (await self.history.current(self.ns, workflow_id)).run_id
        key = ExecutionKey(self.ns.id, workflow_id, run_id)
        return await self.history.read_events(key, 1, 10_000)

    async def due(self, kind: TimerKind) -> list[tuple[TimerRow, TimerRef]]:
        rows = await self.history.store.get_timers(self.history.clock.now_ns() + 10**9, 1000)
        out = [(row, TimerRef.decode(row.data)) for row in rows]
        return [(row, ref) for row, ref in out if ref.kind == kind]

    async def fire_all(self, kind: TimerKind) -> None:
        for row, ref in await self.due(kind):
            await self.outbox.fire(row, ref)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    store = await open_store(":memory:")
    history = HistoryService(store, RealClock())
    namespaces = NamespaceRegistry(store)
    ns = await namespaces.ensure("default")
    try:
        yield Env(history, ns, Outbox(history, namespaces))
    finally:
        await store.close()


def crash_once(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> None:
    real: Callable[..., object] = getattr(module, name)
    crashed: list[bool] = []

    def step(*args: object, **kwargs: object) -> object:
        if not crashed:
            crashed.append(True)
            raise Crash(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, step)


def start_child(workflow_id: str) -> command_pb2.Command:
    attrs = command_pb2.StartChildWorkflowExecutionCommandAttributes(workflow_id=workflow_id)
    attrs.workflow_type.name = "Child"
    return command_pb2.Command(
        command_type=ct.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION,
        start_child_workflow_execution_command_attributes=attrs,
    )


def complete() -> command_pb2.Command:
    return command_pb2.Command(
        command_type=ct.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
        complete_workflow_execution_command_attributes=(
            command_pb2.CompleteWorkflowExecutionCommandAttributes()
        ),
    )


def count(events: list[HistoryEvent], event_type: int) -> int:
    return sum(1 for e in events if e.event_type == event_type)


async def test_child_lifecycle_survives_crashes_between_steps(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent_run = await env.start("parent")
    await env.complete_task("parent", start_child("child"))
    # The child run is created, then the process dies before the parent records it.
    crash_once(monkeypatch, children, "record_started")
    with pytest.raises(Crash):
        await env.fire_all(TimerKind.START_CHILD)
    child_run = (await env.history.current(env.ns, "child")).run_id
    await env.fire_all(TimerKind.START_CHILD)
    assert (await env.history.current(env.ns, "child")).run_id == child_run, "one child run"
    assert not await env.due(TimerKind.START_CHILD), "the row is claimed"
    parent_events = await env.events("parent")
    assert count(parent_events, et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED) == 1
    started = next(
        e for e in parent_events if e.event_type == et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    ).child_workflow_execution_started_event_attributes
    assert started.workflow_execution.run_id == child_run
    child_start = (await env.events("child"))[0].workflow_execution_started_event_attributes
    assert child_start.parent_workflow_execution.run_id == parent_run

    # The child completes; the parent's record is written, then the claim is lost.
    await env.complete_task("child", complete())
    real_claim = Outbox._claim
    crashed: list[bool] = []

    async def claim(self: Outbox, *args: object) -> None:
        if not crashed:
            crashed.append(True)
            raise Crash("claim")
        await real_claim(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Outbox, "_claim", claim)
    with pytest.raises(Crash):
        await env.fire_all(TimerKind.NOTIFY_PARENT)
    await env.fire_all(TimerKind.NOTIFY_PARENT)
    assert not await env.due(TimerKind.NOTIFY_PARENT)
    parent_events = await env.events("parent")
    assert count(parent_events, et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED) == 1
    state = await env.history.read(env.ns, "parent", parent_run, lambda st: st)
    assert not state.children


async def test_a_started_child_gets_its_close_policy_from_a_closed_parent(env: Env) -> None:
    await env.start("parent")
    await env.complete_task("parent", start_child("child"))
    await env.fire_all(TimerKind.START_CHILD)
    await env.history.update(
        env.ns,
        "parent",
        "",
        lambda ex: requests.terminate(ex, reason="", details=None, identity=""),
    )
    await env.fire_all(TimerKind.APPLY_PARENT_CLOSE_POLICY)
    closed = (await env.events("child"))[-1]
    assert closed.event_type == et.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED
    assert closed.workflow_execution_terminated_event_attributes.reason == "by parent close policy"


async def test_a_repeated_signal_delivery_signals_once(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    await env.start("target")
    await env.start("sender")
    attrs = command_pb2.SignalExternalWorkflowExecutionCommandAttributes(signal_name="go")
    attrs.execution.workflow_id = "target"
    signal = command_pb2.Command(
        command_type=ct.COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION,
        signal_external_workflow_execution_command_attributes=attrs,
    )
    await env.complete_task("sender", signal)
    crash_once(monkeypatch, external, "record_delivered")
    with pytest.raises(Crash):
        await env.fire_all(TimerKind.SIGNAL_EXTERNAL)
    await env.fire_all(TimerKind.SIGNAL_EXTERNAL)
    assert count(await env.events("target"), et.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) == 1
    sender_events = await env.events("sender")
    assert count(sender_events, et.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED) == 1
    assert not await env.due(TimerKind.SIGNAL_EXTERNAL)


async def test_signal_to_itself_fails_as_not_found(env: Env) -> None:
    await env.start("self")
    attrs = command_pb2.SignalExternalWorkflowExecutionCommandAttributes(signal_name="go")
    attrs.execution.workflow_id = "self"
    signal = command_pb2.Command(
        command_type=ct.COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION,
        signal_external_workflow_execution_command_attributes=attrs,
    )
    await env.complete_task("self", signal)
    await env.fire_all(TimerKind.SIGNAL_EXTERNAL)
    events = await env.events("self")
    assert count(events, et.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) == 0
    assert count(events, et.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED) == 1
