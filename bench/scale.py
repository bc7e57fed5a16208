"""Scale figures of one Perdure server: many sleeping workflows, a large visibility table.

    python -m bench.scale w3 --count 100000 --sample 1000      # 100k one-hour timers
    python -m bench.scale list --db FILE-or-URL                 # a filtered first page

`w3` starts `--count` workflows that each sleep `--sleep` (an hour) and, evenly among
them, `--sample` more that sleep `--sample-sleep` (60 s): it reports the start rate, the
sample's timer lateness (as W3 reads it from each history), the server's RSS with all
those timers pending, then restarts the server on the same database and times how long
it takes to answer again.

`list` serves a database (filled by `python -m bench.preload`) and times
ListWorkflowExecutions with `WorkflowType = "X" AND ExecutionStatus = "Running"`, first
page, default order; it prints the store's query plan for that listing too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.procs import Server, peak_rss_mb, start_server
from bench.run import _agent, _env, _readline, _stop, _tail

LIST_QUERY = 'WorkflowType = "{type}" AND ExecutionStatus = "{status}"'


def rss_mb(pid: int) -> float:
    """Current resident set of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --------------------------------------------------------------------------- w3


def w3(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="perdure-bench-w3scale-"))
    out: dict[str, Any] = {"count": args.count, "sample": args.sample, "load_before": _load()}
    server: Server | None = None
    worker = driver = None
    try:
        began = time.monotonic()
        server = start_server("perdure", workdir, database=args.db)
        out["first_start_ready_s"] = round(time.monotonic() - began, 2)  # the empty baseline
        with (workdir / "worker.log").open("w") as wlog:
            worker = subprocess.Popen(
                _agent("worker", args.sdk, server.target),
                stdout=subprocess.PIPE, stderr=wlog, text=True, env=_env(),
            )  # fmt: skip
        if _readline(worker, time.monotonic() + 60) != "READY\n":
            raise RuntimeError(f"worker did not start:\n{_tail(workdir / 'worker.log')}")
        extra = [
            "--workload", "W3", "--count", str(args.count), "--in-flight", str(args.in_flight),
            "--unloaded", "0", "--warmup", "5", "--sleep", str(args.sleep),
            "--sample", str(args.sample), "--sample-sleep", str(args.sample_sleep),
        ]  # fmt: skip
        with (workdir / "driver.log").open("w") as dlog:
            driver = subprocess.Popen(
                _agent("drive", args.sdk, server.target, *extra),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=dlog, text=True, env=_env(),
            )  # fmt: skip
        deadline = time.monotonic() + args.timeout
        while True:
            line = _readline(driver, deadline)
            if line is None:
                raise RuntimeError(f"driver exited:\n{_tail(workdir / 'driver.log')}")
            if line.startswith("MARK "):
                if line.split()[1] == "end":
                    out["server_rss_mb_at_end"] = round(rss_mb(server.pid), 1)
                assert driver.stdin is not None
                driver.stdin.write("\n")
                driver.stdin.flush()
            elif line.startswith("RESULT "):
                out["result"] = json.loads(line[len("RESULT ") :])["loaded"]
                break
        out["server_peak_rss_mb"] = round(peak_rss_mb(server.pid), 1)
        out["load_after_run"] = _load()
        _stop(driver, 5)
        _stop(worker)
        # Restart with every long timer still pending: how soon does it serve again?
        began = time.monotonic()
        server.stop()
        out["stop_s"] = round(time.monotonic() - began, 2)
        began = time.monotonic()
        server = start_server("perdure", workdir, database=args.db)
        out["restart_ready_s"] = round(time.monotonic() - began, 2)
        time.sleep(5)  # what it holds a moment after, timers loaded
        out["server_rss_mb_after_restart"] = round(rss_mb(server.pid), 1)
        out["load_at_restart"] = _load()
    finally:
        _stop(driver, 5)
        _stop(worker)
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- list


async def _time_list(target: str, query: str, reps: int, page: int) -> dict[str, Any]:
    import grpc
    from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(
            "/temporal.api.workflowservice.v1.WorkflowService/ListWorkflowExecutions",
            request_serializer=rr.ListWorkflowExecutionsRequest.SerializeToString,
            response_deserializer=rr.ListWorkflowExecutionsResponse.FromString,
        )
        request = rr.ListWorkflowExecutionsRequest(namespace="default", query=query, page_size=page)
        times, found = [], 0
        for _ in range(reps):
            began = time.perf_counter()
            resp = await call(request, timeout=60)
            times.append(time.perf_counter() - began)
            found = len(resp.executions)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times) * 1000, 2),
        "max_ms": round(times[-1] * 1000, 2),
        "reps": reps,
        "rows_on_page": found,
    }


async def plan(db: str, workflow_type: str) -> list[str]:
    """The store's plan for the listing (EXPLAIN QUERY PLAN / EXPLAIN)."""
    from perdure.server.store import is_postgres_url, open_store
    from perdure.server.store.sqlstore import SqlStore

    store = await open_store(db)
    try:
        assert isinstance(store, SqlStore)
        sql = store.sql.vis_list("workflow_type = ? AND status = ?", False, "")
        ns = await store.get_namespace("default")
        assert ns is not None
        params = (ns.id, workflow_type, 1, 11)
        pg = is_postgres_url(db)
        rows = await store._fetch(("EXPLAIN " if pg else "EXPLAIN QUERY PLAN ") + sql, params)
        return [str(r[0] if pg else r[-1]) for r in rows]
    finally:
        await store.close()


def list_(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="perdure-bench-list-"))
    out: dict[str, Any] = {"db": args.db, "load_before": _load()}
    began = time.monotonic()
    server = start_server("perdure", workdir, database=args.db, ready_timeout=3600)
    out["server_ready_s"] = round(time.monotonic() - began, 1)  # migrations included
    try:
        query = LIST_QUERY.format(type=args.type, status=args.status)
        out["query"] = query
        out["list"] = asyncio.run(_time_list(server.target, query, args.reps, args.page_size))
        out["load_after"] = _load()
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    out["plan"] = asyncio.run(plan(args.db, args.type))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    a = sub.add_parser("w3", help="many sleeping workflows; timer lateness; restart")
    a.add_argument("--count", type=int, default=100_000)
    a.add_argument("--sleep", type=float, default=3600.0)
    a.add_argument("--sample", type=int, default=1000)
    a.add_argument("--sample-sleep", type=float, default=60.0)
    a.add_argument("--in-flight", type=int, default=100)
    a.add_argument("--sdk", default="perdure", choices=["perdure", "temporalio"])
    a.add_argument("--db", default=None, help="a database URL (default: a fresh SQLite file)")
    a.add_argument("--timeout", type=float, default=3600)
    b = sub.add_parser("list", help="time a filtered visibility listing")
    b.add_argument("--db", required=True, help="SQLite file or postgresql:// URL")
    b.add_argument("--type", default="Sequential")
    b.add_argument("--status", default="Running")
    b.add_argument("--reps", type=int, default=50)
    b.add_argument("--page-size", type=int, default=10)
    args = p.parse_args(argv)
    result = w3(args) if args.what == "w3" else list_(args)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
