"""Commits per second of a store, at several concurrencies.

    python bench/store_commit.py [--backend sqlite|memory|postgres] [--url URL]
                                 [--seconds S] [--concurrency 1,100]

sqlite (the default) is a fresh durable file in a temporary directory (every
acknowledged commit fsynced); postgres a fresh database perdure_bench_<random> on the
server that --url names (default postgresql://postgres@127.0.0.1:5432/postgres), dropped
afterwards. Each worker runs workflows
through realistic transitions: a start (new execution, current row, first history batch,
workflow task, run-timeout timer, visibility row) followed by updates (version check,
history batch, claim the previous task, add the next one). It prints commits/s, mean
latency and, for SQLite, the mean group-commit batch size.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Iterator

from perdure.server.store import open_store
from perdure.server.store.base import (
    Commit,
    CurrentExecution,
    CurrentWrite,
    ExecutionKey,
    ExecutionWrite,
    HistoryBatch,
    Store,
    TaskKind,
    TaskRow,
    TimerRow,
    VisibilityRow,
)

STATE = os.urandom(1500)
EVENTS = os.urandom(600)
UPDATES_PER_RUN = 9


def _task(key: ExecutionKey, n: int) -> TaskRow:
    return TaskRow(
        f"{key.run_id}/wt{n}",
        key.namespace_id,
        "bench-tq",
        TaskKind.WORKFLOW,
        key.workflow_id,
        key.run_id,
        n,
        time.time_ns(),
    )


def start_commit(key: ExecutionKey) -> Commit:
    now = time.time_ns()
    return Commit(
        key.namespace_id,
        key.workflow_id,
        executions=[ExecutionWrite(key, None, STATE, HistoryBatch(1, 2, EVENTS))],
        current=CurrentWrite(
            None, CurrentExecution(key.namespace_id, key.workflow_id, key.run_id, 1, "r", now)
        ),
        tasks_added=[_task(key, 2)],
        timers_added=[
            TimerRow(
                f"{key.run_id}/run",
                key.namespace_id,
                key.workflow_id,
                key.run_id,
                now + 3600 * 10**9,
            )
        ],
        visibility=[
            VisibilityRow(
                key.namespace_id,
                key.run_id,
                key.workflow_id,
                "BenchWorkflow",
                "bench-tq",
                1,
                now,
                now,
                columns={"Keyword01": "bench"},
            )
        ],
    )


def update_commit(key: ExecutionKey, version: int) -> Commit:
    first = 2 + 3 * (version - 1) + 1
    return Commit(
        key.namespace_id,
        key.workflow_id,
        executions=[ExecutionWrite(key, version, STATE, HistoryBatch(first, first + 2, EVENTS))],
        tasks_claimed=[f"{key.run_id}/wt{first - 1}"],
        tasks_added=[_task(key, first + 2)],
    )


async def worker(store: Store, deadline: float, latencies: list[float]) -> int:
    done = 0
    while time.perf_counter() < deadline:
        key = ExecutionKey("bench-ns", f"wf-{uuid.uuid4().hex}", uuid.uuid4().hex)
        commits = [start_commit(key)] + [update_commit(key, v) for v in range(1, UPDATES_PER_RUN)]
        for c in commits:
            t0 = time.perf_counter()
            await store.commit(c)
            latencies.append(time.perf_counter() - t0)
            done += 1
            if time.perf_counter() >= deadline:
                break
    return done


async def run(url: str, seconds: float, concurrency: int) -> None:
    store = await open_store(url)
    try:
        tx0 = getattr(store, "transactions", 0)
        latencies: list[float] = []
        t0 = time.perf_counter()
        deadline = t0 + seconds
        counts = await asyncio.gather(
            *(worker(store, deadline, latencies) for _ in range(concurrency))
        )
        elapsed = time.perf_counter() - t0
        total = sum(counts)
        latencies.sort()
        tx = getattr(store, "transactions", 0) - tx0
        batch = f"  mean batch {total / tx:6.1f}" if tx else ""
        print(
            f"{type(store).__name__:14} concurrency {concurrency:4d}: {total / elapsed:9.0f}"
            f" commits/s  p50 {latencies[len(latencies) // 2] * 1e3:7.2f} ms"
            f"  p99 {latencies[int(len(latencies) * 0.99)] * 1e3:7.2f} ms{batch}",
            flush=True,
        )
    finally:
        await store.close()


@contextlib.contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A new PostgreSQL database next to `admin_url`'s, dropped on exit."""
    import psycopg

    name = f"perdure_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "memory", "postgres"], default="sqlite")
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", default="1,100")
    args = parser.parse_args()
    for c in [int(c) for c in args.concurrency.split(",")]:
        if args.backend == "postgres":
            with scratch_database(args.url) as url:
                asyncio.run(run(url, args.seconds, c))
        elif args.backend == "memory":
            asyncio.run(run(":memory:", args.seconds, c))
        else:
            with tempfile.TemporaryDirectory(prefix="perdure-bench-") as tmp:
                asyncio.run(run(os.path.join(tmp, "bench.db"), args.seconds, c))


if __name__ == "__main__":
    main()
