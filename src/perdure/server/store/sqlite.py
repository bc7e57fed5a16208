"""SQLite backend: one file in WAL mode, group commit, reads on reader threads.

Writes go through the single writer thread (sqlite_writer.py) and are acknowledged only
after their COMMIT has been fsynced (`synchronous=FULL`). Reads run on a small pool of
reader connections in threads: WAL lets them proceed while the writer commits, so a
read never waits for an fsync, and each read starts a fresh snapshot, so it sees every
commit that was acknowledged before it was issued.

":memory:" is a throwaway database in a private temporary directory (on /dev/shm when
there is one) with fsync off: SQLite's own in-memory databases cannot be shared between
a writer and concurrent readers without table locks, so a temporary WAL file is what
keeps the semantics identical to the durable mode.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from perdure.server.store.base import SqlValue, StoreError, Unavailable
from perdure.server.store.dialect import SQLITE
from perdure.server.store.plans import Step
from perdure.server.store.rows import Row
from perdure.server.store.schema import SCHEMA_VERSION, SCHEMA_VERSION_DDL, pending_migrations
from perdure.server.store.sqlite_writer import GroupCommitWriter, map_error
from perdure.server.store.sqlstore import SqlStore

MEMORY = ":memory:"
_MEMORY_PREFIX = "perdure-memory-"


class SQLiteStore(SqlStore):
    """The default store. Open with `await SQLiteStore.open(path)`; `close()` when done."""

    def __init__(
        self,
        path: str,
        writer: GroupCommitWriter,
        connect: _Connector,
        readers: int,
        temp_dir: str | None,
    ) -> None:
        super().__init__(SQLITE)
        self.path = path
        self._writer = writer
        self._connect = connect
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._readers = ThreadPoolExecutor(
            max_workers=readers,
            thread_name_prefix="perdure-sqlite-read",
            initializer=self._open_reader,
        )
        self._temp_dir = temp_dir
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        readers: int = 4,
        busy_timeout_ms: int = 10_000,
        durable: bool = True,
        migrate: bool = True,
    ) -> SQLiteStore:
        """Open (creating and migrating as needed) the database at `path`, or ":memory:".

        `durable=False` turns fsync off (`synchronous=OFF`): faster, and a power loss may
        lose acknowledged commits. ":memory:" is never durable. `migrate=False` refuses a
        database whose schema is behind instead of migrating it.
        """
        file, temp_dir = await asyncio.to_thread(_locate, os.fspath(path))
        connect = _Connector(file, busy_timeout_ms, durable and temp_dir is None)
        try:
            conn = await asyncio.to_thread(_open_writer, connect, migrate)
        except BaseException:
            if temp_dir:
                shutil.rmtree(temp_dir, ignore_errors=True)
            raise
        return cls(file, GroupCommitWriter(conn), connect, readers, temp_dir)

    @property
    def transactions(self) -> int:
        """Write transactions committed so far (each one an fsync in durable mode)."""
        return self._writer.transactions

    @property
    def writes(self) -> int:
        """Writes (commits and other updates) applied so far."""
        return self._writer.writes

    @property
    def replayed_batches(self) -> int:
        """Batches rerun with savepoints because one of their writes failed a condition."""
        return self._writer.replayed_batches

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._writer.close()
        await asyncio.to_thread(self._readers.shutdown, True)
        for conn in self._reader_conns:
            conn.close()
        if self._temp_dir:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    # ------------------------------------------------------------------ primitives

    async def _write(self, steps: Sequence[Step]) -> None:
        if self._closed:
            raise Unavailable("the SQLite store is closed")
        await self._writer.submit(steps)

    async def _fetch(self, sql: str, params: Sequence[SqlValue]) -> list[Row]:
        if self._closed:
            raise Unavailable("the SQLite store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read, sql, params)

    def _open_reader(self) -> None:
        conn = self._connect(reader=True)
        self._local.conn = conn
        self._reader_conns.append(conn)

    def _read(self, sql: str, params: Sequence[SqlValue]) -> list[Row]:
        conn: sqlite3.Connection = self._local.conn
        try:
            # fetchall() runs the statement to its end, which ends the read snapshot.
            return conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise map_error(e) from e


class _Connector:
    """Opens connections to one database file with the store's settings."""

    def __init__(self, file: str, busy_timeout_ms: int, durable: bool) -> None:
        self.file = file
        self.busy_timeout_ms = busy_timeout_ms
        self.durable = durable

    def __call__(self, reader: bool) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.file,
                isolation_level=None,  # we BEGIN and COMMIT ourselves
                check_same_thread=False,
                cached_statements=256,
                timeout=self.busy_timeout_ms / 1000,
            )
        except sqlite3.Error as e:
            raise Unavailable(f"cannot open SQLite database {self.file}: {e}") from e
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            conn.execute("PRAGMA cache_size = -32000")  # KiB
            conn.execute("PRAGMA temp_store = MEMORY")
            if reader:
                conn.execute("PRAGMA query_only = 1")
        except sqlite3.Error as e:  # e.g. "file is not a database"
            conn.close()
            raise StoreError(f"cannot use SQLite database {self.file}: {e}") from e
        return conn


def _locate(path: str) -> tuple[str, str | None]:
    """The database file for `path`, and the temporary directory that holds ":memory:"."""
    if path != MEMORY:
        return os.fspath(Path(path).expanduser().absolute()), None
    shm = "/dev/shm"
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else tempfile.gettempdir()
    _sweep_orphans(base)
    temp_dir = tempfile.mkdtemp(prefix=f"{_MEMORY_PREFIX}{os.getpid()}-", dir=base)
    return os.path.join(temp_dir, "store.db"), temp_dir


def _sweep_orphans(base: str) -> None:
    """Remove the ":memory:" directories of processes that died without closing them."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        if not name.startswith(_MEMORY_PREFIX):
            continue
        pid = name[len(_MEMORY_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
        except OSError:
            pass  # alive, or not ours to judge


def _open_writer(connect: _Connector, apply: bool = True) -> sqlite3.Connection:
    conn = connect(reader=False)
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchall()[0][0]
        if str(mode).lower() != "wal":
            raise StoreError(f"SQLite database {connect.file} cannot use WAL (mode {mode})")
        conn.execute(f"PRAGMA synchronous = {'FULL' if connect.durable else 'OFF'}")
        migrate(conn, apply=apply)
    except sqlite3.Error as e:
        conn.close()
        raise map_error(e) from e
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection, *, apply: bool = True) -> int:
    """Bring the database up to SCHEMA_VERSION; each migration in its own transaction.

    With `apply=False`, only check: a database behind this version is refused (a new,
    empty file is created at the current version either way)."""
    conn.execute(SQLITE.render(SCHEMA_VERSION_DDL))
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            version = int(current.fetchall()[0][0])
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"database schema version {version} is newer than this Perdure's"
                    f" ({SCHEMA_VERSION}); upgrade Perdure"
                )
            todo = pending_migrations(version)
            if not todo:
                conn.execute("COMMIT")
                return version
            if not apply and version > 0:
                raise StoreError(
                    f"database schema is at version {version}, this Perdure needs"
                    f" {SCHEMA_VERSION}: run `perdure server migrate` (or start with --migrate)"
                )
            m = todo[0]
            for statement in m.statements(SQLITE):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, description, applied_time) VALUES (?, ?, ?)",
                (m.version, m.description, time.time_ns()),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
