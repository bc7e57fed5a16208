"""Throughput of one and of several Perdure server processes, SQLite beside PostgreSQL.

    python -m bench.cluster                        # sqlite x1, postgresql x1, postgresql x2
    python -m bench.cluster --setups postgresql:2 --count 2000 --in-flight 100 --reps 3

Each setup gets fresh servers (`perdure server start-dev`; PostgreSQL: a fresh database
perdure_bench_<random> that all its servers share, dropped after) and, per server, one
official-SDK worker process and one load driver process (bench/agent.py, workload W1: a
workflow with one no-op activity). The drivers split `--count` workflows and
`--in-flight` between them and start their loaded phase together; throughput is all
completed workflows over the longest driver's loaded phase. Run from the repository root.

Per setup it also reports the servers' CPU per completed workflow (user+system of every
server process over the loaded phase) and the commit conflict rate: history commits that
failed (a conditional write that lost to another writer, or a claimed row already gone;
Perdure retries them) over all history commits, from each server's Prometheus counters
``persistence_requests``/``persistence_errors`` for ``UpdateWorkflowExecution``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.procs import REPO, cpu_seconds, free_port

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def database(backend: str, tmp: Path) -> Iterator[list[str]]:
    """The server arguments that name a fresh database."""
    if backend == "sqlite":
        yield ["--db-filename", str(tmp / f"bench-{uuid.uuid4().hex[:8]}.db")]
        return
    import psycopg

    name = f"perdure_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ["--db", f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"]
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _popen(args: list[str], log: Path | None = None, **kw: Any) -> subprocess.Popen[str]:
    out = log.open("a") if log else subprocess.PIPE
    return subprocess.Popen(
        [sys.executable, *args], cwd=REPO, text=True, stdout=out, stderr=subprocess.STDOUT
        if log else None, env={**os.environ, "PYTHONPATH": f"{REPO / 'src'}:{REPO}"},
        **kw,
    )  # fmt: skip


def _wait_port(port: int, proc: subprocess.Popen[str], log: Path) -> None:
    import socket

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not listen")


def _line(proc: subprocess.Popen[str], prefix: str) -> str:
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"process ended before {prefix!r}")
        if line.startswith(prefix):
            return line.strip()


def commit_counts(metrics_port: int) -> tuple[float, float]:
    """(history commits, failed history commits) a server has counted so far."""
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    counts = {"persistence_requests": 0.0, "persistence_errors": 0.0}
    for line in text.splitlines():
        name, _, rest = line.partition("{")
        if name in counts and 'operation="UpdateWorkflowExecution"' in rest:
            counts[name] += float(line.rsplit(" ", 1)[1])
    return counts["persistence_requests"], counts["persistence_errors"]


def _spy(pid: int, out: Path, backend: str, servers: int, i: int) -> subprocess.Popen[bytes]:
    """py-spy on one server for the loaded phase (summarise with `python -m bench.profile`)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"cluster-{backend}-{servers}-server{i}.txt"
    spy = Path(sys.executable).parent / "py-spy"  # beside the interpreter, as bench/procs.py
    return subprocess.Popen(
        [str(spy), "record", "--format", "raw", "--rate", "50", "-o", str(path), "--pid", str(pid)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def run_setup(
    backend: str, servers: int, count: int, in_flight: int, tmp: Path, profile: Path | None = None
) -> dict[str, Any]:
    procs: list[subprocess.Popen[str]] = []
    try:
        with database(backend, tmp) as where:
            targets, metrics_ports = [], []
            for i in range(servers):
                port = free_port()
                metrics_ports.append(free_port())
                log = tmp / f"server-{backend}-{i}-{port}.log"
                args = ["-m", "perdure", "server", "start-dev", "--ip", "127.0.0.1"]
                args += ["--port", str(port), "--log-level", "warning", *where]
                args += ["--metrics-port", str(metrics_ports[-1])]
                procs.append(_popen(args, log))
                _wait_port(port, procs[-1], log)
                targets.append(f"127.0.0.1:{port}")
            for t in targets:
                worker = _popen(
                    ["-m", "bench.agent", "worker", "--sdk", "temporalio", "--target", t]
                )
                procs.append(worker)
                _line(worker, "READY")
            drivers = []
            for i, t in enumerate(targets):
                share = count // servers + (1 if i < count % servers else 0)
                args = ["-m", "bench.agent", "drive", "--sdk", "temporalio", "--target", t]
                args += ["--workload", "W1", "--count", str(share)]
                args += ["--in-flight", str(max(1, in_flight // servers))]
                args += ["--unloaded", "0", "--warmup", "20"]
                driver = _popen(args, stdin=subprocess.PIPE)
                procs.append(driver)
                drivers.append(driver)
            spies: list[subprocess.Popen[bytes]] = []
            cpu: dict[str, float] = {}
            commits: dict[str, list[tuple[float, float]]] = {}
            for mark in ("MARK unloaded", "MARK loaded", "MARK end"):
                for d in drivers:  # every driver reaches the mark before any goes on
                    _line(d, mark)
                cpu[mark] = sum(cpu_seconds(procs[i].pid) for i in range(servers))
                commits[mark] = [commit_counts(p) for p in metrics_ports]
                if profile is not None and mark == "MARK loaded":
                    spies = [
                        _spy(procs[i].pid, profile, backend, servers, i) for i in range(servers)
                    ]
                if mark == "MARK end":
                    for spy in spies:
                        spy.send_signal(signal.SIGINT)
                        spy.wait(60)
                for d in drivers:
                    assert d.stdin is not None
                    d.stdin.write("\n")
                    d.stdin.flush()
            results = [json.loads(_line(d, "RESULT ")[len("RESULT ") :]) for d in drivers]
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
    loaded = [r["loaded"] for r in results]
    done = sum(r["completed"] for r in loaded)
    elapsed = max(r["elapsed_s"] for r in loaded)
    p50 = statistics.median(r["latency_ms"].get("p50", 0) for r in loaded)
    server_cpu = cpu["MARK end"] - cpu["MARK loaded"]
    spans = list(zip(commits["MARK loaded"], commits["MARK end"], strict=True))
    tried = sum(end[0] - start[0] for start, end in spans)
    failed = sum(end[1] - start[1] for start, end in spans)
    return {
        "backend": backend,
        "servers": servers,
        "completed": done,
        "errors": sum(r["errors"] for r in loaded),
        "workflows_per_s": round(done / elapsed, 1) if elapsed else 0.0,
        "p50_ms": p50,
        "server_cpu_ms_per_workflow": round(server_cpu / done * 1000, 2) if done else 0.0,
        "commits": int(tried),
        "commit_conflict_pct": round(100 * failed / tried, 2) if tried else 0.0,
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    p.add_argument("--setups", default="sqlite:1,postgresql:1,postgresql:2")
    p.add_argument("--count", type=int, default=1000, help="loaded-phase workflows per setup")
    p.add_argument("--in-flight", type=int, default=100)
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--profile", type=Path, help="py-spy each server's loaded phase into DIR")
    args = p.parse_args()
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory(prefix="perdure-bench-cluster-") as tmp:
        for setup in args.setups.split(","):
            backend, _, n = setup.partition(":")
            if backend not in ("sqlite", "postgresql"):
                raise SystemExit(f"unknown backend {backend!r}")
            servers = int(n or 1)
            if backend == "sqlite" and servers != 1:
                raise SystemExit("SQLite serves one server process; use postgresql:N for more")
            for rep in range(args.reps):
                r = run_setup(backend, servers, args.count, args.in_flight, Path(tmp), args.profile)
                print(json.dumps(r), flush=True)
                rows.append(r | {"rep": rep})
    print(
        "\n| backend | servers | workflows/s (median) | p50 latency ms "
        "| server CPU ms/workflow | commit conflicts % | errors |"
    )
    print("|---|---|---|---|---|---|---|")
    for setup in dict.fromkeys((r["backend"], r["servers"]) for r in rows):
        mine = [r for r in rows if (r["backend"], r["servers"]) == setup]
        rate = statistics.median(r["workflows_per_s"] for r in mine)
        lat = statistics.median(r["p50_ms"] for r in mine)
        errs = sum(r["errors"] for r in mine)
        cpu_ms = statistics.median(r["server_cpu_ms_per_workflow"] for r in mine)
        conflicts = statistics.median(r["commit_conflict_pct"] for r in mine)
        print(
            f"| {setup[0]} | {setup[1]} | {rate:.1f} | {lat:.0f} | {cpu_ms:.2f} "
            f"| {conflicts:.2f} | {errs} |"
        )


if __name__ == "__main__":
    main()
