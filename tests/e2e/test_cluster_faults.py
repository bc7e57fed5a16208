"""Faults of a multi-process deployment: a server process dies, the database goes away.

Two Perdure server processes share one PostgreSQL database, each with an official
temporalio worker connected to it, under a load of `ClusterLoad` workflows (activities,
timers, signals). Durability means (DESIGN.md §3):

* every started workflow completes, exactly once (one close event, one run), on the
  surviving process: the dead one's leases on tasks and timers lapse and are taken over;
* every signal whose RPC returned is in the history exactly once; signals whose RPC
  failed are there at most once;
* while the database is unreachable clients get UNAVAILABLE, and service resumes by
  itself once it is back.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.e2e.cluster_workflows import ClusterLoad, echo
from tests.e2e.test_cluster import CLOSE_TYPES, cluster, cluster_db  # noqa: F401 (fixtures)
from tests.pg import PG_ADMIN_URL
from tests.servers import ServerProcess, start_perdure_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(180)]

WORKFLOWS = 30
RPC_TIMEOUT = timedelta(seconds=5)


@dataclass
class Ledger:
    acked: dict[str, list[str]] = field(default_factory=dict)
    unacked: dict[str, list[str]] = field(default_factory=dict)


def worker(client: Client, task_queue: str, identity: str) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        identity=identity,
        workflows=[ClusterLoad],
        activities=[echo],
        workflow_runner=UnsandboxedWorkflowRunner(),
        graceful_shutdown_timeout=timedelta(seconds=1),
    )


async def signal_loop(
    clients: Callable[[], list[Client]], ids: list[str], ledger: Ledger, stop: asyncio.Event
) -> None:
    """Round after round, one signal to every workflow through each live process in
    turn, each value unique; without retries, so that a failed RPC stays failed."""
    round_no = 0
    while not stop.is_set():
        round_no += 1
        live = clients()

        async def send(i: int, wid: str, value: str, live: list[Client] = live) -> None:
            client = live[i % len(live)]
            try:
                await client.get_workflow_handle(wid).signal(
                    ClusterLoad.add, value, rpc_timeout=RPC_TIMEOUT
                )
            except RPCError:
                ledger.unacked.setdefault(wid, []).append(value)
            else:
                ledger.acked.setdefault(wid, []).append(value)

        await asyncio.gather(*(send(i, w, f"{w}/{round_no}") for i, w in enumerate(ids)))
        await asyncio.sleep(0.1)


async def retry(call: Callable[[], Awaitable[Any]], seconds: float = 60) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        try:
            return await call()
        except RPCError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.3)


async def check_exactly_once(client: Client, results: dict[str, Any], ledger: Ledger) -> None:
    for wid, result in results.items():
        assert result["results"] == [f"A-{wid}".upper(), f"Z-{wid}".upper()]
        seen = Counter(result["signals"])
        assert all(n == 1 for n in seen.values()), f"{wid}: a signal was delivered twice"
        for value in ledger.acked.get(wid, []):
            assert seen[value] == 1, f"{wid}: acknowledged signal {value} lost"
        assert set(seen) <= set(ledger.acked.get(wid, [])) | set(ledger.unacked.get(wid, []))
        history = await client.get_workflow_handle(wid).fetch_history()
        types = [e.event_type for e in history.events]
        assert [e.event_id for e in history.events] == list(range(1, len(types) + 1))
        closes = [t for t in types if t in CLOSE_TYPES]
        assert closes == [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED], f"{wid}: {closes}"
        runs = [r async for r in client.list_workflows(f"WorkflowId = '{wid}'")]
        assert len(runs) == 1, f"{wid} has {len(runs)} runs"


async def test_sigkill_one_process_mid_load(
    cluster: list[ServerProcess],  # noqa: F811
    cluster_db: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    a, b = [await Client.connect(s.target) for s in cluster]
    victim = cluster[0]
    tq = f"faults-{uuid.uuid4().hex[:8]}"
    ids = [f"kill-{uuid.uuid4().hex[:8]}" for _ in range(WORKFLOWS)]
    ledger = Ledger()
    async with worker(b, tq, "worker-on-b"):
        worker_a = worker(a, tq, "worker-on-a")
        run_a = asyncio.create_task(worker_a.run())
        for i, wid in enumerate(ids):
            await (a if i % 2 else b).start_workflow(
                ClusterLoad.run,
                args=[wid, 2.0],
                id=wid,
                task_queue=tq,
                task_timeout=timedelta(seconds=3),
            )
        stop = asyncio.Event()
        alive = [a, b]
        signals = asyncio.create_task(signal_loop(lambda: alive, ids, ledger, stop))
        await asyncio.sleep(1.0)
        # Mid-load: activities running or done, timers pending, signals in flight.
        victim.kill()
        killed = asyncio.get_running_loop().time()
        assert victim.process.returncode == -9
        alive.remove(a)
        await asyncio.sleep(2.0)
        stop.set()
        await signals
        for wid in ids:
            await retry(lambda wid=wid: b.get_workflow_handle(wid).signal(ClusterLoad.finish))
        results = {
            wid: await asyncio.wait_for(b.get_workflow_handle(wid).result(), 60) for wid in ids
        }
        # The dead process's leases (tasks 10 s, timers 10 s after due) lapse in time.
        assert asyncio.get_running_loop().time() - killed < 60
        # The official SDK's worker on the dead process waits for the server to answer its
        # polls when it shuts down (worker_poll_complete_on_shutdown): bring a process
        # back on that port for it, as a restarted server would be.
        revived = start_perdure_server(tmp_path / "revived", db_url=cluster_db, port=victim.port)
        try:
            run_a.cancel()
            await asyncio.wait_for(asyncio.gather(run_a, return_exceptions=True), 60)
        finally:
            revived.stop()
    assert sum(len(v) for v in ledger.acked.values()) > WORKFLOWS
    await check_exactly_once(b, results, ledger)
    assert "Traceback" not in cluster[1].log(), cluster[1].log()


def _cut(db_url: str, allow: bool) -> None:
    """Refuse (or allow again) connections to the test's database, dropping the open ones."""
    name = db_url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )


async def test_database_outage_is_unavailable_then_recovers(
    cluster: list[ServerProcess],  # noqa: F811
    cluster_db: str,  # noqa: F811
) -> None:
    a, b = [await Client.connect(s.target) for s in cluster]
    tq = f"faults-{uuid.uuid4().hex[:8]}"
    ids = [f"outage-{uuid.uuid4().hex[:8]}" for _ in range(10)]
    ledger = Ledger()
    async with worker(a, tq, "worker-on-a"), worker(b, tq, "worker-on-b"):
        for i, wid in enumerate(ids):
            await (a if i % 2 else b).start_workflow(
                ClusterLoad.run, args=[wid, 1.0], id=wid, task_queue=tq
            )
        stop = asyncio.Event()
        signals = asyncio.create_task(signal_loop(lambda: [a, b], ids, ledger, stop))
        await asyncio.sleep(0.5)
        _cut(cluster_db, allow=False)
        try:
            for client in (a, b):
                with pytest.raises(RPCError) as failed:
                    await client.workflow_service.describe_workflow_execution(
                        DescribeWorkflowExecutionRequest(
                            namespace="default", execution={"workflow_id": ids[0]}
                        ),
                        retry=False,
                        timeout=timedelta(seconds=20),
                    )
                assert failed.value.status == RPCStatusCode.UNAVAILABLE, failed.value
            await asyncio.sleep(1.0)
        finally:
            _cut(cluster_db, allow=True)
        await asyncio.sleep(1.0)
        stop.set()
        await signals
        for wid in ids:
            await retry(lambda wid=wid: a.get_workflow_handle(wid).signal(ClusterLoad.finish))
        results = {
            wid: await asyncio.wait_for(a.get_workflow_handle(wid).result(), 60) for wid in ids
        }
    # Signals sent during the outage were retried by the client until it ended, or
    # failed: either way, what was acknowledged is there once.
    await check_exactly_once(a, results, ledger)


async def test_a_process_that_stops_cleanly_hands_over_at_once(
    cluster: list[ServerProcess],  # noqa: F811
) -> None:
    """SIGTERM gives back the stopping process's leases: the other fires its timers when
    due instead of a lease's grace period later."""
    a, b = [await Client.connect(s.target) for s in cluster]
    tq = f"faults-{uuid.uuid4().hex[:8]}"
    ids = [f"stop-{uuid.uuid4().hex[:8]}" for _ in range(10)]
    worker_a = worker(a, tq, "worker-on-a")
    run_a = asyncio.create_task(worker_a.run())
    for wid in ids:  # A's worker drives them: A's commits write (and lease) their timers
        await a.start_workflow(ClusterLoad.run, args=[wid, 4.0], id=wid, task_queue=tq)
    for wid in ids:
        for _ in range(100):
            if (await a.get_workflow_handle(wid).query(ClusterLoad.state))["stage"] == "timer":
                break
            await asyncio.sleep(0.05)
    # The worker leaves first: the server answers its polls at once on ShutdownWorker,
    # which the official SDK waits for (worker_poll_complete_on_shutdown).
    run_a.cancel()
    await asyncio.gather(run_a, return_exceptions=True)
    assert cluster[0].stop() == 0
    async with worker(b, tq, "worker-on-b"):
        for wid in ids:
            await b.get_workflow_handle(wid).signal(ClusterLoad.finish)
        await asyncio.wait_for(
            asyncio.gather(*(b.get_workflow_handle(w).result() for w in ids)), 40
        )
    # B fired them at its first rescan (every 5 s) after they were due; with A's leases
    # kept, not before a grace period (10 s) after they were due.
    for wid in ids:
        events = (await b.get_workflow_handle(wid).fetch_history()).events
        started = next(e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED)
        fired = next(e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED)
        due = started.event_time.ToNanoseconds() + 4 * 10**9
        late = (fired.event_time.ToNanoseconds() - due) / 1e9
        assert late < 8, f"{wid}: timer fired {late:.1f} s late"
