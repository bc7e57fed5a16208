"""Crash test: SIGKILL Perdure's server mid-load, restart it on the same file, lose nothing.

Official temporalio workers (in this process) run a load of workflows with a quick
activity, a long heartbeating activity, a pending timer and a stream of signals. Once
every workflow has its long activity running and its timer pending, the server is killed
with SIGKILL while signals and new starts keep arriving, then restarted on the same
SQLite file and port. Durability means (DESIGN.md §3):

* every started workflow completes, exactly once (one close event, one run);
* every signal whose RPC returned is in the history exactly once, and the workflow saw
  it (signals whose RPC failed may be there at most once);
* activities are at-least-once: a heartbeat timeout during the outage may retry one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.common import RetryPolicy, WorkflowIDConflictPolicy
from temporalio.service import RPCError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.servers import ServerProcess, start_perdure_server

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

WORKFLOWS = 24
LATE_STARTS = 6
LONG_ACTIVITY_SECONDS = 2.5
TIMER_SECONDS = 2.0
RPC_TIMEOUT = timedelta(seconds=5)

_long_started: set[str] = set()


@activity.defn(name="crash_quick")
async def quick(value: str) -> str:
    return value.upper()


@activity.defn(name="crash_long")
async def long_heartbeat(key: str) -> str:
    """Runs across the crash, heartbeating; a retry after a heartbeat timeout is fine."""
    _long_started.add(key)
    loop = asyncio.get_running_loop()
    end = loop.time() + LONG_ACTIVITY_SECONDS
    while loop.time() < end:
        activity.heartbeat(key)
        await asyncio.sleep(0.2)
    return f"long-{key}"


@workflow.defn(name="CrashLoad")
class CrashLoad:
    def __init__(self) -> None:
        self.signals: list[str] = []
        self.done = False

    @workflow.run
    async def run(self, key: str) -> dict[str, Any]:
        first = await workflow.execute_activity(
            quick, f"a-{key}", start_to_close_timeout=timedelta(seconds=10)
        )
        long = workflow.start_activity(
            long_heartbeat,
            key,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=3),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
        )
        await asyncio.sleep(TIMER_SECONDS)
        long_result = await long
        await workflow.wait_condition(lambda: self.done)
        last = await workflow.execute_activity(
            quick, f"z-{key}", start_to_close_timeout=timedelta(seconds=10)
        )
        return {"signals": self.signals, "results": [first, long_result, last]}

    @workflow.signal(name="add")
    def add(self, value: str) -> None:
        self.signals.append(value)

    @workflow.signal(name="finish")
    def finish(self) -> None:
        self.done = True


@dataclass
class Ledger:
    """What the test sent and what the server acknowledged."""

    acked: dict[str, list[str]] = field(default_factory=dict)
    unacked: dict[str, list[str]] = field(default_factory=dict)


@pytest.fixture
def crash_server(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """A Perdure server on its own SQLite file; the list holds each incarnation."""
    servers = [start_perdure_server(tmp_path / "crash")]
    try:
        yield servers
    finally:
        servers[-1].stop()


@pytest.fixture
async def crash_client(crash_server: list[ServerProcess]) -> AsyncIterator[Client]:
    yield await Client.connect(crash_server[0].target)


async def _signal_loop(client: Client, ids: list[str], ledger: Ledger, stop: asyncio.Event) -> None:
    """Round after round, one signal to every workflow, each value unique."""
    round_no = 0
    while not stop.is_set():
        round_no += 1

        async def send(wid: str, value: str) -> None:
            try:
                await client.get_workflow_handle(wid).signal("add", value, rpc_timeout=RPC_TIMEOUT)
            except RPCError:
                ledger.unacked.setdefault(wid, []).append(value)
            else:
                ledger.acked.setdefault(wid, []).append(value)

        await asyncio.gather(*(send(wid, f"{wid}/{round_no}") for wid in ids))
        await asyncio.sleep(0.05)


async def _ensure_started(client: Client, wid: str, task_queue: str) -> None:
    """Start, or find the run that a failed start may have created after all."""
    for _ in range(50):
        try:
            await client.start_workflow(
                CrashLoad.run,
                wid,
                id=wid,
                task_queue=task_queue,
                task_timeout=timedelta(seconds=3),
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                rpc_timeout=RPC_TIMEOUT,
            )
            return
        except RPCError:
            await asyncio.sleep(0.2)
    raise AssertionError(f"could not start {wid}")


async def _retry(call: Any) -> Any:
    for _ in range(50):
        try:
            return await call()
        except RPCError:
            await asyncio.sleep(0.2)
    raise AssertionError("RPC kept failing after the restart")


async def test_sigkill_mid_load_loses_nothing(
    crash_client: Client, crash_server: list[ServerProcess]
) -> None:
    client = crash_client
    task_queue = f"crash-{uuid.uuid4().hex[:8]}"
    prefix = uuid.uuid4().hex[:6]
    early = [f"crash-{prefix}-{i}" for i in range(WORKFLOWS)]
    late = [f"crash-{prefix}-late-{i}" for i in range(LATE_STARTS)]
    ledger = Ledger()
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[CrashLoad],
        activities=[quick, long_heartbeat],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handles: dict[str, WorkflowHandle[Any, Any]] = {}
        for wid in early:
            handles[wid] = await client.start_workflow(
                CrashLoad.run,
                wid,
                id=wid,
                task_queue=task_queue,
                task_timeout=timedelta(seconds=3),
            )

        # Load in flight: every long activity running, every timer pending.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not set(early) <= _long_started:
            assert loop.time() < deadline, f"long activities never started: {_long_started}"
            await asyncio.sleep(0.05)
        stop = asyncio.Event()
        signals = asyncio.create_task(_signal_loop(client, early, ledger, stop))
        await asyncio.sleep(0.3)

        # Starts that race the crash: some are acknowledged, some fail.
        late_starts = [
            asyncio.create_task(
                client.start_workflow(
                    CrashLoad.run,
                    wid,
                    id=wid,
                    task_queue=task_queue,
                    task_timeout=timedelta(seconds=3),
                    rpc_timeout=RPC_TIMEOUT,
                )
            )
            for wid in late
        ]
        old = crash_server[-1]
        old.kill()
        assert old.process.returncode == -9
        await asyncio.sleep(0.5)
        assert old.db_path is not None
        new = start_perdure_server(old.log_path.parent, port=old.port, db_path=old.db_path)
        crash_server.append(new)

        await asyncio.sleep(1.0)
        stop.set()
        await signals
        for wid, task in zip(late, late_starts, strict=True):
            try:
                await task
            except RPCError:
                await _ensure_started(client, wid, task_queue)
        # Every workflow, early or late, is there after the restart.
        for wid in early + late:
            await _retry(lambda wid=wid: client.get_workflow_handle(wid).signal("finish"))

        results = {
            wid: await asyncio.wait_for(client.get_workflow_handle(wid).result(), 45)
            for wid in early + late
        }

    assert sum(len(v) for v in ledger.acked.values()) > WORKFLOWS, "too few signals acked"
    for wid in early + late:
        key = wid
        result = results[wid]
        assert result["results"] == [f"A-{key}".upper(), f"long-{key}", f"Z-{key}".upper()]
        seen = Counter(result["signals"])
        assert all(n == 1 for n in seen.values()), f"{wid}: a signal was delivered twice"
        for value in ledger.acked.get(wid, []):
            assert seen[value] == 1, f"{wid}: acknowledged signal {value} lost"
        assert set(seen) <= set(ledger.acked.get(wid, [])) | set(ledger.unacked.get(wid, []))

        history = await client.get_workflow_handle(wid).fetch_history()
        types = [e.event_type for e in history.events]
        assert [e.event_id for e in history.events] == list(range(1, len(types) + 1))
        closes = [t for t in types if t in _CLOSE_TYPES]
        assert closes == [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED], f"{wid}: {closes}"
        assert types[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
        signaled = Counter(
            e.workflow_execution_signaled_event_attributes.input.payloads[0].data
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
            and e.workflow_execution_signaled_event_attributes.signal_name == "add"
        )
        assert sorted(signaled.values()) == [1] * len(seen)
        assert len(signaled) == len(seen)

        runs = [r async for r in client.list_workflows(f"WorkflowId = '{wid}'")]
        assert len(runs) == 1, f"{wid} has {len(runs)} runs"

    assert "Traceback" not in crash_server[-1].log(), crash_server[-1].log()


_CLOSE_TYPES = frozenset(
    {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    }
)
