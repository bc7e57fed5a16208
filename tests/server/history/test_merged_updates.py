"""Updates that queue for the same run are applied in arrival order and committed once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.history.v1 import message_pb2 as history_pb2

from perdure.server.clock import RealClock
from perdure.server.engine import requests
from perdure.server.engine.execution import Execution
from perdure.server.errors import InvalidArgument
from perdure.server.history.api.start_workflow import start_workflow
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace, NamespaceRegistry
from perdure.server.store import open_store
from perdure.server.store.base import ExecutionKey
from tests.server.history.api.conftest import start_request


@dataclass
class Commits:
    """A HistoryObserver counting durable commits."""

    count: int = 0

    def cache_lookup(self, hit: bool) -> None:
        pass

    def committed(self, namespace: str, runs: int, seconds: float, ok: bool) -> None:
        if ok:
            self.count += 1


@dataclass
class Env:
    history: HistoryService
    ns: Namespace
    commits: Commits


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    store = await open_store(":memory:")
    commits = Commits()
    history = HistoryService(store, RealClock(), observer=commits)
    ns = await NamespaceRegistry(store).ensure("default")
    try:
        yield Env(history, ns, commits)
    finally:
        await store.close()


def signal(name: str) -> history_pb2.WorkflowExecutionSignaledEventAttributes:
    return history_pb2.WorkflowExecutionSignaledEventAttributes(signal_name=name)


async def signal_names(env: Env, run_id: str) -> list[str]:
    events = await env.history.read_events(ExecutionKey(env.ns.id, "wf", run_id), 1, 100)
    return [
        e.workflow_execution_signaled_event_attributes.signal_name
        for e in events
        if e.event_type == et.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]


async def queued(env: Env, run_id: str, *actions: Callable[[Execution], object]) -> list[object]:
    """Run `actions` as updates that all queue behind the workflow id's lock at once."""
    gate = asyncio.Event()

    async def hold_lock() -> None:
        async with env.history.workflow_lock(env.ns, "wf"):
            await gate.wait()

    holder = asyncio.create_task(hold_lock())
    await asyncio.sleep(0)
    calls = [asyncio.create_task(env.history.update(env.ns, "wf", run_id, a)) for a in actions]
    await asyncio.sleep(0)
    gate.set()
    await holder
    return await asyncio.gather(*calls, return_exceptions=True)


def signalling(name: str) -> Callable[[Execution], str]:
    return lambda ex: requests.signal(ex, signal(name)) or name


async def test_queued_updates_share_one_commit_in_arrival_order(env: Env) -> None:
    run_id = (await start_workflow(env.history, env.ns, start_request("wf"))).run_id
    before = env.commits.count

    results = await queued(env, run_id, *(signalling(f"s{i}") for i in range(6)))

    assert results == [f"s{i}" for i in range(6)], "each caller gets its own result"
    assert await signal_names(env, run_id) == [f"s{i}" for i in range(6)]
    assert env.commits.count - before == 1


async def test_a_failing_update_in_a_batch_fails_alone(env: Env) -> None:
    run_id = (await start_workflow(env.history, env.ns, start_request("wf"))).run_id

    def refuse(ex: Execution) -> None:
        requests.signal(ex, signal("half-done"))  # changed state must not survive
        raise InvalidArgument("refused")

    results = await queued(env, run_id, signalling("a"), signalling("b"), refuse, signalling("c"))

    assert isinstance(results[2], InvalidArgument)
    assert [r for i, r in enumerate(results) if i != 2] == ["a", "b", "c"]
    assert await signal_names(env, run_id) == ["a", "b", "c"]


async def test_a_cancelled_holder_still_applies_the_updates_it_took(env: Env) -> None:
    run_id = (await start_workflow(env.history, env.ns, start_request("wf"))).run_id
    gate = asyncio.Event()

    async def hold_lock() -> None:
        async with env.history.workflow_lock(env.ns, "wf"):
            await gate.wait()

    holder = asyncio.create_task(hold_lock())
    await asyncio.sleep(0)
    first = asyncio.create_task(
        env.history.update(env.ns, "wf", run_id, lambda ex: requests.signal(ex, signal("x")))
    )
    second = asyncio.create_task(
        env.history.update(env.ns, "wf", run_id, lambda ex: requests.signal(ex, signal("y")))
    )
    await asyncio.sleep(0)
    gate.set()
    await holder
    await asyncio.sleep(0)  # `first` holds the lock now, applying both
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await second

    assert await signal_names(env, run_id) == ["x", "y"]


async def test_an_update_cancelled_while_queued_is_never_applied(env: Env) -> None:
    run_id = (await start_workflow(env.history, env.ns, start_request("wf"))).run_id
    gate = asyncio.Event()

    async def hold_lock() -> None:
        async with env.history.workflow_lock(env.ns, "wf"):
            await gate.wait()

    holder = asyncio.create_task(hold_lock())
    await asyncio.sleep(0)
    dropped = asyncio.create_task(
        env.history.update(env.ns, "wf", run_id, lambda ex: requests.signal(ex, signal("no")))
    )
    await asyncio.sleep(0)
    dropped.cancel()
    await asyncio.gather(dropped, return_exceptions=True)
    gate.set()
    await holder
    await env.history.update(env.ns, "wf", run_id, lambda ex: requests.signal(ex, signal("yes")))

    assert await signal_names(env, run_id) == ["yes"]
