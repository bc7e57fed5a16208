"""A private PostgreSQL instance for the `pg-restart` scenario, which restarts and crashes
the database itself: the shared cluster at 127.0.0.1:5432 is never touched.

It runs Debian's `initdb` and `pg_ctl` (/usr/lib/postgresql/*/bin) as the `postgres` user
(initdb refuses root) on a free port, its data directory and socket in a directory that
user owns; trust authentication on 127.0.0.1. fsync is off: the soak kills processes, not
the machine, so what PostgreSQL has written survives in the page cache anyway.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.servers import free_port


def bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def unavailable() -> str | None:
    """None when a private instance can be started here, else why not."""
    if bin_dir() is None:
        return "no /usr/lib/postgresql/*/bin/pg_ctl"
    if os.geteuid() != 0:
        return "starting PostgreSQL as the postgres user needs root"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user"
    if shutil.which("runuser") is None:
        return "no runuser"
    return None


class PrivatePostgres:
    """`initdb` into a fresh directory, `start`; `restart(mode)`; `destroy` at the end."""

    def __init__(self) -> None:
        found = bin_dir()
        if found is None:
            raise RuntimeError("no PostgreSQL binaries")
        self.bin = found
        self.root = Path(tempfile.mkdtemp(prefix="perdure-chaos-pg-"))
        shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "data"
        self.port = free_port()
        self._as_postgres(
            [str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
             "--no-sync", "-E", "UTF8"],
        )  # fmt: skip
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, args: list[str], timeout: float = 120) -> None:
        done = subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            capture_output=True, text=True, timeout=timeout, check=False, cwd=self.root,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.root} -c fsync=off -c max_connections=200"
        )
        self._as_postgres(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
             "-o", options, "-w", "-t", "60", "start"],
        )  # fmt: skip

    def stop(self, mode: str) -> None:
        """`pg_ctl stop -m MODE`: "fast" (a clean shutdown) or "immediate" (a crash: the
        next start runs crash recovery)."""
        self._as_postgres(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60",
             "stop"],
        )  # fmt: skip

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        for _ in range(50):  # backends may outlive their postmaster for a moment
            try:
                shutil.rmtree(self.root)
                return
            except OSError:
                time.sleep(0.1)
