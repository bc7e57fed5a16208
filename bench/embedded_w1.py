"""Embedded mode against DBOS Transact on SQLite, and time skipping, on this machine.

    python -m bench.embedded_w1 [--seconds 20] [--in-flight 100] [--out results.json]

W1: each workflow runs one no-op activity (DBOS: one no-op step). Each system runs in
its own subprocess, one after the other, on a fresh SQLite file with durable commits:

- ``perdure``: ``Client.connect("embedded://<file>")`` and a Worker in the same process;
- ``dbos``: DBOS Transact with ``system_database_url = sqlite:///<file>``.

``--dir /dev/shm`` puts both databases on tmpfs, where fsync costs nothing.
``--memory`` runs Perdure on ``embedded://:memory:`` (no fsync; DBOS keeps its file).
``BENCH_EAGER=0`` turns off eager workflow start for Perdure.

Per system: unloaded latency (one workflow at a time: start to result, p50/p90) and
throughput with ``--in-flight`` workflows always running. Then ``month``: a workflow
that sleeps 30 days with one timer per day under ``start_time_skipping()``, in wall
seconds. DBOS is a bench-only dependency (``pip install -e .[bench]``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from perdure import activity, workflow

RunOne = Callable[[int], Awaitable[object]]
EAGER = os.environ.get("BENCH_EAGER", "1") == "1"
"""Eager workflow start (the first workflow task rides the start's commit and response):
the worker is in the same process, as DBOS's executor is."""


@activity.defn(name="noop")
async def noop() -> None:
    return None


@workflow.defn(name="W1")
class W1:
    @workflow.run
    async def run(self) -> str:
        await workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=60))
        return "ok"


@workflow.defn(name="Month")
class Month:
    @workflow.run
    async def run(self) -> int:
        for _ in range(30):
            await workflow.sleep(timedelta(days=1))
        return 30


async def _measure(run_one: RunOne, seconds: float, in_flight: int) -> dict[str, float]:
    for i in range(20):  # warm up
        await run_one(-1 - i)
    latencies = []
    deadline = time.monotonic() + min(seconds, 10)
    n = 0
    while time.monotonic() < deadline and n < 500:
        started = time.perf_counter()
        await run_one(n)
        latencies.append(time.perf_counter() - started)
        n += 1
    latencies.sort()
    done = 0
    counter = iter(range(10**9, 2 * 10**9))
    stop = time.monotonic() + seconds

    async def loop() -> None:
        nonlocal done
        while time.monotonic() < stop:
            await run_one(next(counter))
            done += 1

    started = time.monotonic()
    cpu = os.times()
    await asyncio.gather(*(loop() for _ in range(in_flight)))
    elapsed = time.monotonic() - started
    cpu_end = os.times()
    cpu_s = (cpu_end.user - cpu.user) + (cpu_end.system - cpu.system)
    return {
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p90_ms": latencies[int(len(latencies) * 0.9)] * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "workflows_per_s": done / elapsed,
        "cpu_ms_per_workflow": cpu_s / max(done, 1) * 1000,
        "completed": done,
    }


async def _perdure(db: str, seconds: float, in_flight: int) -> dict[str, float]:
    from perdure.client import Client
    from perdure.worker import Worker

    client = await Client.connect(f"embedded://{db}")
    try:
        async with Worker(
            client,
            task_queue="w1",
            workflows=[W1],
            activities=[noop],
            max_concurrent_workflow_tasks=in_flight,
            max_concurrent_activities=in_flight,
        ):

            async def run_one(i: int) -> object:
                return await client.execute_workflow(
                    W1.run, id=f"w1-{i}", task_queue="w1", request_eager_start=EAGER
                )

            return await _measure(run_one, seconds, in_flight)
    finally:
        await client.service_client.close()


async def _dbos(db: str, seconds: float, in_flight: int) -> dict[str, float]:
    import logging

    from dbos import DBOS, DBOSConfig

    logging.getLogger("dbos").setLevel(logging.WARNING)

    @DBOS.step()
    async def dbos_noop() -> None:
        return None

    @DBOS.workflow()
    async def w1() -> str:
        await dbos_noop()
        return "ok"

    config: DBOSConfig = {
        "name": "bench-w1",
        "system_database_url": f"sqlite:///{db}",
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()
    try:

        async def run_one(i: int) -> object:
            handle = await DBOS.start_workflow_async(w1)
            return await handle.get_result()

        return await _measure(run_one, seconds, in_flight)
    finally:
        DBOS.destroy()


async def _month() -> dict[str, float]:
    from perdure.testing import WorkflowEnvironment
    from perdure.worker import Worker

    env = await WorkflowEnvironment.start_time_skipping()
    async with env, Worker(env.client, task_queue="month", workflows=[Month]):
        started = time.perf_counter()
        await env.client.execute_workflow(Month.run, id="month", task_queue="month")
        wall = time.perf_counter() - started
    return {"wall_s": wall}


def _child(
    system: str, seconds: float, in_flight: int, directory: str | None, memory: bool
) -> None:
    with tempfile.TemporaryDirectory(prefix=f"bench-{system}-", dir=directory) as tmp:
        db = ":memory:" if memory and system == "perdure" else str(Path(tmp) / f"{system}.db")
        if system == "perdure":
            result = asyncio.run(_perdure(db, seconds, in_flight))
        elif system == "dbos":
            result = asyncio.run(_dbos(db, seconds, in_flight))
        else:
            result = asyncio.run(_month())
    print(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)  # temporalio's modules may abort at interpreter exit (see tests/conftest.py)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--in-flight", type=int, default=100)
    parser.add_argument("--systems", default="perdure,dbos,month")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--dir", help="where the SQLite files go (/dev/shm: no fsync cost; default: $TMPDIR)"
    )
    parser.add_argument(
        "--memory", action="store_true", help="Perdure on embedded://:memory: (no fsync)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.seconds, args.in_flight, args.dir, args.memory)
        return
    results: dict[str, Any] = {
        "in_flight": args.in_flight,
        "seconds": args.seconds,
        "dir": args.dir or tempfile.gettempdir(),
        "eager_start": EAGER,
        "perdure_db": ":memory:" if args.memory else "file",
    }
    for system in args.systems.split(","):
        proc = subprocess.run(
            [sys.executable, "-m", "bench.embedded_w1", "--child", system,
             "--seconds", str(args.seconds), "--in-flight", str(args.in_flight),
             *(["--dir", args.dir] if args.dir else []),
             *(["--memory"] if args.memory else [])],
            capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            results[system] = {"error": proc.stderr[-2000:]}
        else:
            results[system] = json.loads(lines[-1])
        print(system, json.dumps(results[system]), flush=True)
    if "perdure" in results and "dbos" in results:
        ours, theirs = results["perdure"], results["dbos"]
        if "workflows_per_s" in ours and "workflows_per_s" in theirs:
            ratio = ours["workflows_per_s"] / theirs["workflows_per_s"]
            results["throughput_ratio"] = ratio
            print(f"perdure/dbos throughput: {ratio:.2f}x", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
