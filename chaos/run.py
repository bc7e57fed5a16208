"""Run a scenario: servers, worker processes of both SDKs, the load driver and the faults,
then settle, check and report.

Scenarios:
- ``server-kill``: one server on SQLite, SIGKILLed every 2-10 s and restarted on the same
  port and database file.
- ``worker-kill``: one server; a random worker process SIGKILLed every 2-10 s, restarted.
- ``pg-cluster``: two servers on one PostgreSQL database, one SIGKILLed at a time every
  2-10 s and restarted 1-3 s later; each SDK's worker talks to a different server.
- ``pg-freeze``: as pg-cluster, but one server is SIGSTOPped for one fault interval (2-10 s)
  and then continued
  (a long GC pause, a frozen VM) while the other serves and may take its leases.
- ``pg-restart``: two servers on a private PostgreSQL instance, which is itself stopped
  (a clean fast shutdown or an immediate one, a crash) and started again 0-2 s later.
- ``disk-full``: one server whose SQLite store is on a small tmpfs, filled to the last byte
  for a while and then freed: its commits fail with "database or disk is full".
- ``proxy-reset``, ``proxy-delay``, ``proxy-drop``: one server on SQLite behind a TCP proxy
  (chaos/proxy.py) that aborts every connection of the workers and the driver's client,
  adds 0.2-1.5 s of latency to all traffic for a while, or forwards nothing for a while.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

os.environ["CHAOS_SDK"] = "perdure"  # the checker replays with Perdure's SDK

from tests.servers import REPO, ServerProcess, free_port, start_perdure_server

from chaos.check import (
    Observed,
    ScheduleRun,
    Started,
    Violation,
    check,
    check_schedule,
    left_behind,
    observe,
    read_store_rows,
)
from chaos.disk import SmallDisk
from chaos.postgres import PrivatePostgres
from chaos.proxy import Proxy
from perdure.common import WorkflowIDReusePolicy

SCENARIOS = (
    "server-kill", "worker-kill", "pg-cluster", "pg-freeze", "pg-restart", "disk-full",
    "proxy-reset", "proxy-delay", "proxy-drop",
)  # fmt: skip
POSTGRES = frozenset({"pg-cluster", "pg-freeze", "pg-restart"})
"""Scenarios whose servers share a PostgreSQL database (two of them); the others use SQLite."""
SQLITE_ONLY = frozenset({"disk-full"})
"""Scenarios that need the SQLite store."""
PROXIED = frozenset({"proxy-reset", "proxy-delay", "proxy-drop"})
"""Scenarios that put a TCP proxy between each server and its workers and clients."""
SDKS = ("perdure", "temporalio")
CANCEL_GRACE = 30.0
"""Seconds a cancelled order has to close before the driver takes its cancellation as spent
and sends the signal it held back (the order then completes)."""
SCHEDULE_EVERY = 3.0
"""Seconds between the actions of the soak's schedule."""


@dataclass
class Fault:
    scenario: str
    what: str
    at: float
    recovered_at: float | None = None


@dataclass
class Report:
    scenario: str
    seconds: float
    seed: int
    started: list[Started] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    unexpected_exits: list[str] = field(default_factory=list)
    observed: Observed | None = None
    schedule: ScheduleRun | None = None
    phases: dict[str, float] = field(default_factory=dict)
    """Wall seconds of each phase: setup, load, settle, check, teardown."""

    def recovery_times(self) -> list[float]:
        return sorted(f.recovered_at - f.at for f in self.faults if f.recovered_at is not None)

    def text(self) -> str:
        done = sum(1 for s in self.started if s.completed_at is not None)
        rec = self.recovery_times()
        p50 = f"{rec[len(rec) // 2]:.2f}s" if rec else "-"
        mx = f"{rec[-1]:.2f}s" if rec else "-"
        kinds: dict[str, int] = {}
        for s in self.started:
            kinds[f"{s.kind}/{s.sdk}"] = kinds.get(f"{s.kind}/{s.sdk}", 0) + 1
        lines = [
            f"scenario            {self.scenario} (seed {self.seed}, {self.seconds:.0f}s of load)",
            f"workflows started   {len(self.started)}  "
            + " ".join(f"{k}={v}" for k, v in sorted(kinds.items())),
            f"workflows closed    {done}  (terminated "
            f"{sum(s.ending == 'terminate' for s in self.started)}, cancelled "
            f"{sum(s.ending == 'cancel' for s in self.started)}, the rest completed)",
            f"signals acked       {sum(len(s.signals_acked) for s in self.started)}",
            f"updates acked       {sum(len(s.updates_acked) for s in self.started)}",
            "schedule actions    "
            + (f"{len(self.schedule.started)} (at least {self.schedule.least_actions()} due)"
               if self.schedule else "-"),
            f"faults injected     {len(self.faults)}  "
            + " ".join(f"{k}={v}" for k, v in Counter(f.scenario for f in self.faults).items()),
            f"recovery p50/max    {p50} / {mx}  "
            f"({len(self.faults) - len(rec)} faults without a later completion)",
            f"violations          {len(self.violations)}",
            "phases              "
            + "  ".join(f"{k} {v:.1f}s" for k, v in self.phases.items()),
        ]  # fmt: skip
        lines += [f"  - {v}" for v in self.violations[:50]]
        lines += [f"  ! unexpected exit: {u}" for u in self.unexpected_exits]
        return "\n".join(lines)


class Servers:
    """The server processes of a scenario and their restarts. The ports are chosen up front,
    so workers can be started (and import their SDK) while the servers come up."""

    def __init__(self, workdir: Path, count: int) -> None:
        self.workdir = workdir
        self.db_url: str | None = None
        self.db_path: Path | None = None
        self.stopped = False
        self.ports = [free_port() for _ in range(count)]
        self.procs: list[ServerProcess] = []

    async def start(self, db_url: str | None, db_path: Path | None) -> None:
        """Start every server at once on the database `db_url` names (or the SQLite file
        `db_path`, by default one per server); return when all listen."""
        self.db_url, self.db_path = db_url, db_path
        self.procs = list(
            await asyncio.gather(
                *(asyncio.to_thread(self._start, i) for i in range(len(self.ports)))
            )
        )

    def _start(self, i: int) -> ServerProcess:
        return start_perdure_server(
            self.workdir / f"server{i}", port=self.ports[i], db_url=self.db_url,
            db_path=self.db_path, timeout=60,
        )  # fmt: skip

    def targets(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.ports]

    def restart(self, i: int) -> None:
        old = self.procs[i]
        extra = ["--http-port", str(old.http_port)]
        self.procs[i] = start_perdure_server(
            self.workdir / f"server{i}", port=old.port, db_path=old.db_path,
            db_url=self.db_url, extra_args=extra, timeout=60,
        )  # fmt: skip
        if self.stopped:  # the run ended (say, on an error) while this restart ran
            self.procs[i].stop()

    def stop(self) -> None:
        self.stopped = True
        for s in self.procs:
            if s.process.poll() is None:
                s.process.send_signal(signal.SIGCONT)  # a frozen server cannot stop
            s.stop()


class Workers:
    """One worker process per SDK, each on its own task queue."""

    def __init__(self, workdir: Path, targets: dict[str, str], effects: Path, queue: str) -> None:
        self.workdir = workdir
        self.targets = targets
        self.effects = effects
        self.queue = queue
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        for sdk in SDKS:
            self.start(sdk)

    def start(self, sdk: str) -> None:
        log = (self.workdir / f"worker-{sdk}.log").open("ab")
        env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
        self.procs[sdk] = subprocess.Popen(
            [sys.executable, "-m", "chaos.worker", sdk, self.targets[sdk],
             f"{self.queue}-{sdk}", str(self.effects)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
        )  # fmt: skip

    def dead(self) -> list[str]:
        return [sdk for sdk, p in self.procs.items() if p.poll() is not None]

    def kill(self, sdk: str) -> None:
        self.procs[sdk].kill()
        self.procs[sdk].wait()

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


class Clients:
    """Perdure clients, one per server; a call that fails moves on to the next server."""

    def __init__(self, targets: list[str]) -> None:
        self.targets = targets
        self.clients: dict[str, Any] = {}
        self.turn = 0

    async def call(self, fn: Any, *, timeout: float = 10.0, stop: float | None = None) -> Any:
        """Retry `fn(client)` until it returns; exceptions of kind `Final` are raised."""
        from perdure.client import Client

        while True:
            target = self.targets[self.turn % len(self.targets)]
            try:
                if target not in self.clients:
                    self.clients[target] = await asyncio.wait_for(Client.connect(target), 5)
                return await asyncio.wait_for(fn(self.clients[target]), timeout)
            except Final:
                raise
            except Exception as e:
                if _final(e):
                    raise Final(e) from e
                self.turn += 1
                if stop is not None and time.monotonic() > stop:
                    raise
                await asyncio.sleep(0.2)


class Final(Exception):
    """An answer that retrying cannot change."""


def _final(e: BaseException) -> bool:
    from perdure.client import WorkflowFailureError
    from perdure.exceptions import WorkflowAlreadyStartedError

    return isinstance(e, WorkflowAlreadyStartedError | WorkflowFailureError)


async def drive_one(clients: Clients, s: Started, queue: str, rng: random.Random) -> None:
    """Start one workflow, send it its signals and updates while it runs, await its result."""
    args: list[Any] = [s.spec] if s.kind == "ChaosOrder" else [s.spec["length"], 0]

    async def start(c: Any) -> None:
        # Each attempt carries a new request id: if an earlier one committed and its answer
        # was lost, a short workflow may have closed already, and the default reuse policy
        # would start it again (a second chain, as on Temporal; found by a 30-minute soak).
        await c.start_workflow(
            s.kind, args=args, id=s.workflow_id, task_queue=f"{queue}-{s.sdk}",
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )  # fmt: skip

    try:
        await clients.call(start)
    except Final:
        pass  # an earlier attempt's start committed before its answer was lost
    if s.kind == "ChaosOrder":
        sends: list[tuple[str, int]] = [("signal", v) for v in range(s.spec["signals"])]
        sends += [("update", v) for v in range(s.spec["updates"])]
        rng.shuffle(sends)
        if s.ending:  # one signal is never sent: the workflow cannot complete
            sends.remove(("signal", s.spec["signals"] - 1))
        for what, value in sends:
            await asyncio.sleep(rng.uniform(0.1, 1.5))
            if what == "signal":
                await send_signal(clients, s, value)
            else:
                update_id = f"{s.workflow_id}-u{value}"

                async def update(c: Any, value: int = value, uid: str = update_id) -> Any:
                    return await c.get_workflow_handle(s.workflow_id).execute_update(
                        "bump", value, id=uid
                    )

                got = await clients.call(update, timeout=20)
                if got != value * 10:
                    raise AssertionError(f"{s.workflow_id}: update {update_id} returned {got!r}")
                s.updates_acked[update_id] = value

            async def query(c: Any) -> Any:
                return await c.get_workflow_handle(s.workflow_id).query("progress")

            low, high = len(s.updates_acked), len(s.updates_acked) + len(s.signals_acked)
            progress = await clients.call(query, timeout=20)
            if not low <= progress <= high:
                s.odd_answers.append(f"query progress {progress}, expected {low}..{high}")

    async def result(c: Any) -> Any:
        return await c.get_workflow_handle(s.workflow_id).result()

    if s.ending:
        await asyncio.sleep(rng.uniform(0.1, 1.0))
        await clients.call(lambda c: end(c, s))
    if s.ending == "cancel":
        try:
            s.result = await asyncio.wait_for(clients.call(result, timeout=30), CANCEL_GRACE)
            s.completed_at = time.monotonic()
            return
        except Final:
            s.completed_at = time.monotonic()
            return
        except TimeoutError:
            # The cancellation was spent: the operation it interrupted completed in the same
            # activation (both SDKs then return its result). Let the order complete.
            s.released = True
            await send_signal(clients, s, s.spec["signals"] - 1, closed_ok=True)
    try:
        s.result = await clients.call(result, timeout=30)
    except Final:
        if not s.ending:
            raise
    s.completed_at = time.monotonic()


async def send_signal(clients: Clients, s: Started, value: int, *, closed_ok: bool = False) -> None:
    """Signal `value` to `s` once: one request id for every retry, so it is deduplicated.
    `closed_ok`: the run may have closed meanwhile (then the signal is not acknowledged)."""
    from temporalio.api.common.v1 import Payloads, WorkflowExecution
    from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest

    from perdure.converter import DataConverter
    from perdure.service import RPCError, RPCStatusCode

    request_id = str(uuid.uuid4())
    payloads = DataConverter.default.payload_converter.to_payloads([value])

    async def signal(c: Any) -> bool:
        try:
            await c.workflow_service.signal_workflow_execution(
                SignalWorkflowExecutionRequest(
                    namespace="default",
                    workflow_execution=WorkflowExecution(workflow_id=s.workflow_id),
                    signal_name="add",
                    input=Payloads(payloads=payloads),
                    identity="chaos-driver",
                    request_id=request_id,
                )
            )
        except RPCError as e:
            if closed_ok and e.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    if await clients.call(signal):
        s.signals_acked.append(value)


async def create_schedule(clients: Clients, queue: str, every: float) -> ScheduleRun:
    """Create the soak's schedule (a retry after a lost answer finds it created)."""
    from perdure.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleAlreadyRunningError,
        ScheduleIntervalSpec,
        ScheduleOverlapPolicy,
        SchedulePolicy,
        ScheduleSpec,
    )

    run = ScheduleRun(f"{queue}-schedule", every)
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            "ChaosChain", args=[0, 0], id=f"{queue}-scheduled", task_queue=f"{queue}-perdure"
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=every))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
    )

    async def create(c: Any) -> None:
        try:
            await c.create_schedule(run.schedule_id, schedule)
        except ScheduleAlreadyRunningError:
            pass

    await clients.call(create)
    # After the answer: the server created it at some moment before (an action due between
    # the call and its creation was never due); a retried call only makes this later.
    run.created_at = time.time()
    return run


async def finish_schedule(clients: Clients, run: ScheduleRun, report: Report) -> None:
    """Delete the schedule, then drive the workflows it started like the others: each is
    awaited and checked (a ChaosChain of one run)."""
    from perdure.service import RPCError, RPCStatusCode

    async def delete(c: Any) -> None:
        try:
            await c.get_schedule_handle(run.schedule_id).delete()
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND:
                raise

    await clients.call(delete)
    run.deleted_at = time.time()

    async def listed(c: Any) -> list[str]:
        query = f"TemporalScheduledById = '{run.schedule_id}'"
        return sorted({w.id async for w in c.list_workflows(query)})

    run.started = await clients.call(listed, timeout=60)
    for wf_id in run.started:
        s = Started(wf_id, "ChaosChain", {"length": 0}, "perdure", from_schedule=True)
        report.started.append(s)

        async def result(c: Any, wf_id: str = wf_id) -> Any:
            return await c.get_workflow_handle(wf_id).result()

        s.result = await clients.call(result, timeout=30)
        s.completed_at = time.monotonic()


async def end(c: Any, s: Started) -> None:
    """Terminate or cancel `s`; a retry after the first took effect finds it closed."""
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.workflowservice.v1 import (
        RequestCancelWorkflowExecutionRequest,
        TerminateWorkflowExecutionRequest,
    )

    from perdure.service import RPCError, RPCStatusCode

    execution = WorkflowExecution(workflow_id=s.workflow_id)
    try:
        if s.ending == "terminate":
            await c.workflow_service.terminate_workflow_execution(
                TerminateWorkflowExecutionRequest(
                    namespace="default", workflow_execution=execution, reason="chaos"
                )
            )
        else:
            await c.workflow_service.request_cancel_workflow_execution(
                RequestCancelWorkflowExecutionRequest(
                    namespace="default", workflow_execution=execution,
                    request_id=f"{s.workflow_id}-cancel", identity="chaos-driver",
                )
            )  # fmt: skip
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise


async def drive(
    clients: Clients, report: Report, queue: str, rng: random.Random,
    load_over: asyncio.Event, settle: float, concurrency: int,
) -> None:  # fmt: skip
    """Keep `concurrency` workflows in flight until the load is over, then let them finish
    (for at most `settle` seconds)."""
    tasks: set[asyncio.Task[None]] = set()
    n = orders = 0
    while not load_over.is_set():
        while len(tasks) < concurrency:
            sdk = SDKS[n % 2]
            if rng.random() < 0.6:
                kind = "ChaosOrder"
                spec = {"acts": rng.randint(1, 3), "sleep": round(rng.uniform(0.2, 1.5), 2),
                        "signals": rng.randint(1, 3), "updates": rng.randint(0, 2),
                        "local": orders % 3 != 2, "once": orders % 2 == 0}  # fmt: skip
                orders += 1
            else:
                kind, spec = "ChaosChain", {"length": rng.randint(1, 3)}
            s = Started(f"{queue}-{n}-{kind}-{sdk}", kind, spec, sdk)
            roll = rng.random()
            if kind == "ChaosOrder" and roll < 0.2:
                s.ending = "terminate" if roll < 0.1 else "cancel"
            report.started.append(s)
            child = random.Random(rng.random())
            tasks.add(asyncio.create_task(drive_one(clients, s, queue, child)))
            n += 1
        done, tasks = await asyncio.wait(tasks, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            t.result()
    if tasks:
        done, pending = await asyncio.wait(tasks, timeout=settle)
        for t in pending:
            t.cancel()
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                report.unexpected_exits.append(f"driver: {t.exception()!r}")


class Injector:
    """Injects the faults of the scenarios, one at a time every `every` seconds (seeded):
    each scenario in turn in a shuffled order, so a run of several scenarios has every
    fault at least once, and the load lasts until it has."""

    def __init__(
        self, scenarios: tuple[str, ...], servers: Servers, workers: Workers, report: Report,
        rng: random.Random, every: tuple[float, float], proxies: list[Proxy],
        postgres: PrivatePostgres | None, disk: SmallDisk | None,
    ) -> None:  # fmt: skip
        self.scenarios = scenarios
        self.servers = servers
        self.workers = workers
        self.report = report
        self.rng = rng
        self.every = every
        self.proxies = proxies
        self.postgres = postgres
        self.disk = disk
        self.current = scenarios[0]

    async def run(self, load_end: float, load_over: asyncio.Event) -> None:
        """Inject until the load time is up and every scenario has had a fault."""
        turn: list[str] = []
        hit: set[str] = set()
        while True:
            delay = self.rng.uniform(*self.every)
            left = load_end - time.monotonic()
            if hit == set(self.scenarios) and left < delay:
                await asyncio.sleep(max(0.0, left))
                load_over.set()
                return
            await asyncio.sleep(delay)
            if not turn:
                turn = list(self.scenarios)
                self.rng.shuffle(turn)
            scenario = self.current = turn.pop()
            hit.add(scenario)
            await getattr(self, scenario.replace("-", "_"))()
            for sdk in self.workers.dead():
                self.report.unexpected_exits.append(
                    f"worker {sdk} exited with {self.workers.procs[sdk].returncode}"
                )
                self.workers.start(sdk)

    def _fault(self, what: str) -> None:
        self.report.faults.append(Fault(self.current, what, time.monotonic()))

    async def server_kill(self) -> None:
        i = self.rng.randrange(len(self.servers.procs))
        self._fault(f"kill server {i}")
        self.servers.procs[i].kill()
        await asyncio.to_thread(self.servers.restart, i)

    async def pg_cluster(self) -> None:
        i = self.rng.randrange(len(self.servers.procs))
        self._fault(f"kill server {i}")
        self.servers.procs[i].kill()
        await asyncio.sleep(self.rng.uniform(1, 3))
        await asyncio.to_thread(self.servers.restart, i)

    async def pg_freeze(self) -> None:
        i = self.rng.randrange(len(self.servers.procs))
        self._fault(f"freeze server {i}")
        self.servers.procs[i].process.send_signal(signal.SIGSTOP)
        await asyncio.sleep(self.rng.uniform(*self.every))
        self.servers.procs[i].process.send_signal(signal.SIGCONT)

    async def worker_kill(self) -> None:
        sdk = self.rng.choice(SDKS)
        self._fault(f"kill worker {sdk}")
        self.workers.kill(sdk)
        await asyncio.sleep(self.rng.uniform(0, 1))
        self.workers.start(sdk)

    async def pg_restart(self) -> None:
        assert self.postgres is not None
        mode = self.rng.choice(("fast", "immediate"))
        self._fault(f"stop PostgreSQL ({mode})")
        await asyncio.to_thread(self.postgres.stop, mode)
        await asyncio.sleep(self.rng.uniform(0, 2))
        await asyncio.to_thread(self.postgres.start)

    async def disk_full(self) -> None:
        assert self.disk is not None
        await asyncio.to_thread(self.disk.fill)
        self._fault("disk full")
        await asyncio.sleep(self.rng.uniform(*self.every))
        self.disk.free()

    async def proxy_reset(self) -> None:
        self._fault("reset connections")
        for p in self.proxies:
            p.reset_all()

    async def proxy_delay(self) -> None:
        latency = self.rng.uniform(0.2, 1.5)
        self._fault(f"delay traffic {latency:.1f}s")
        seconds = self.rng.uniform(*self.every)
        await asyncio.gather(*(p.delay(latency, seconds) for p in self.proxies))

    async def proxy_drop(self) -> None:
        self._fault("drop traffic")
        seconds = self.rng.uniform(*self.every)
        await asyncio.gather(*(p.drop(seconds) for p in self.proxies))


def store_rows(servers: Servers) -> dict[str, list[tuple[str, int]]]:
    """The store's tasks and timers, read beside the running servers."""
    if servers.db_url:
        import psycopg

        with psycopg.connect(servers.db_url) as pg:
            return read_store_rows(pg)
    path = servers.procs[0].db_path
    assert path is not None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
    try:
        return read_store_rows(db)
    finally:
        db.close()


def _recoveries(report: Report) -> None:
    """Each fault's recovery: the first workflow completed after it."""
    completions = sorted(s.completed_at for s in report.started if s.completed_at is not None)
    for f in report.faults:
        f.recovered_at = next((t for t in completions if t > f.at), None)


def parse_scenarios(spec: str) -> tuple[str, ...]:
    """`a,b,c` -> the scenarios it names, checked: one run can combine several."""
    names = tuple(dict.fromkeys(n.strip() for n in spec.split(",") if n.strip()))
    unknown = [n for n in names if n not in SCENARIOS]
    if not names or unknown:
        raise ValueError(f"scenarios must be among {SCENARIOS}, not {spec!r}")
    if set(names) & POSTGRES and set(names) & SQLITE_ONLY:
        raise ValueError(f"{spec!r} mixes PostgreSQL and SQLite-only scenarios")
    return names


async def run_scenario(
    scenario: str, seconds: float, *, seed: int = 1, workdir: Path | None = None,
    settle: float = 120.0, concurrency: int = 6, every: tuple[float, float] = (2.0, 10.0),
) -> Report:  # fmt: skip
    """Run `scenario` (or several, comma-separated, on one system) for `seconds` of load
    with a fault every `every` seconds, settle, check; the report holds the violations."""
    scenarios = parse_scenarios(scenario)
    workdir = workdir or Path(tempfile.mkdtemp(prefix=f"chaos-{scenarios[0]}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    report = Report(",".join(scenarios), seconds, seed)
    mark = time.monotonic()

    def phase(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        report.phases[name] = now - mark
        mark = now

    effects = workdir / "effects.db"
    db_url = shared_db = None
    postgres: PrivatePostgres | None = None
    disk: SmallDisk | None = None
    servers: Servers | None = None
    workers: Workers | None = None
    proxies: list[Proxy] = []
    try:
        servers = Servers(workdir, 2 if set(scenarios) & POSTGRES else 1)
        targets = servers.targets()
        if set(scenarios) & PROXIED:
            proxies = [Proxy("127.0.0.1", port) for port in servers.ports]
            for p in proxies:
                await p.start()
            targets = [p.target for p in proxies]
        queue = f"chaos-{uuid.uuid4().hex[:6]}"
        # The workers connect once their server listens; they import their SDK meanwhile.
        workers = Workers(
            workdir, {sdk: targets[i % len(targets)] for i, sdk in enumerate(SDKS)}, effects, queue
        )
        if "pg-restart" in scenarios:
            postgres = await asyncio.to_thread(PrivatePostgres)
            db_url = postgres.url
        elif set(scenarios) & POSTGRES:
            from tests.pg import create_database, pg_unreachable

            reason = await asyncio.to_thread(pg_unreachable)
            if reason:
                raise RuntimeError(reason)
            db_url = shared_db = await asyncio.to_thread(create_database, "perdure_chaos")
        db_path = None
        if "disk-full" in scenarios:
            disk = SmallDisk(workdir / "disk", 256)
            db_path = disk.path / "perdure.db"
        await servers.start(db_url, db_path)
        clients = Clients(targets)
        phase("setup")
        load_over = asyncio.Event()
        driver_rng = random.Random(rng.random())
        schedule = await create_schedule(clients, queue, SCHEDULE_EVERY)
        injector = Injector(
            scenarios, servers, workers, report, random.Random(rng.random()), every, proxies,
            postgres, disk,
        )  # fmt: skip
        await asyncio.gather(
            drive(clients, report, queue, driver_rng, load_over, settle, concurrency),
            injector.run(time.monotonic() + seconds, load_over),
        )
        report.schedule = schedule
        try:
            await asyncio.wait_for(finish_schedule(clients, schedule, report), settle)
        except TimeoutError:
            report.violations.append(
                Violation(schedule.schedule_id, f"not settled within {settle:.0f}s")
            )
        phase("load+settle")
        _recoveries(report)
        for s in report.started:
            if s.completed_at is None:
                report.violations.append(
                    Violation(s.workflow_id, f"did not complete within {settle:.0f}s of settling")
                )
        observed = await clients.call(
            lambda c: observe(c, report.started, str(effects)), timeout=300
        )
        report.observed = observed
        report.violations += check(report.started, observed)
        report.violations += left_behind(store_rows(servers), time.time_ns())
        report.violations += check_schedule(schedule)
        for sdk in workers.dead():
            report.unexpected_exits.append(
                f"worker {sdk} exited with {workers.procs[sdk].returncode}"
            )
        phase("check")
    finally:
        if workers is not None:
            workers.stop()
        for p in proxies:
            await p.stop()
        if servers is not None:
            servers.stop()
        if shared_db:
            from tests.pg import drop_database

            drop_database(shared_db)
        if postgres is not None:
            postgres.destroy()
        if disk is not None:
            for f in disk.path.glob("perdure.db*"):  # kept for a post-mortem
                shutil.copy2(f, workdir / f.name)
            disk.unmount()
        phase("teardown")
    return report


def _every(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    return float(low), float(high or low)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m chaos", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument(
        "--scenario", required=True,
        help=f"one of {', '.join(SCENARIOS)}; several, comma-separated, share one run",
    )  # fmt: skip
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--minutes", type=float, help="minutes of load (instead of --seconds)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument(
        "--every", type=_every, default=(2.0, 10.0), metavar="MIN-MAX",
        help="seconds between faults, drawn uniformly (default 2-10)",
    )  # fmt: skip
    parser.add_argument("--settle", type=float, default=120.0)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", action="store_true", help="also print the violations as JSON")
    parser.add_argument(
        "--save", type=Path, help="pickle the report (with the observations) to this file"
    )
    a = parser.parse_args(argv)
    try:
        parse_scenarios(a.scenario)
    except ValueError as e:
        parser.error(str(e))
    seconds = a.minutes * 60 if a.minutes is not None else a.seconds
    report = asyncio.run(
        run_scenario(
            a.scenario, seconds, seed=a.seed, workdir=a.workdir, settle=a.settle,
            concurrency=a.concurrency, every=a.every,
        )
    )  # fmt: skip
    print(report.text())
    if a.json:
        print(json.dumps([str(v) for v in report.violations]))
    if a.save:
        a.save.write_bytes(pickle.dumps(report))
    sys.exit(1 if report.violations or report.unexpected_exits else 0)
