"""Group commit for SQLite: one writer thread, one connection, one fsync per batch.

Callers on the event loop queue write plans and await a future. The thread takes
everything queued, runs it in one transaction with each plan inside its own SAVEPOINT (a
plan whose condition fails is rolled back alone and its caller gets the error), COMMITs
once, and only then resolves the futures: a caller is answered only once its data is
durable. While one batch is being fsynced the next one queues up, so the number of
fsyncs per second stays flat as concurrency grows.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from perdure.server.store.base import AlreadyExists, StoreError, Unavailable
from perdure.server.store.plans import Step

log = logging.getLogger(__name__)

_UNAVAILABLE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_CANTOPEN",
    "SQLITE_NOMEM",
    "SQLITE_READONLY",
    "SQLITE_CORRUPT",
    "SQLITE_NOTADB",
    "SQLITE_PROTOCOL",
)


def map_error(e: sqlite3.Error) -> StoreError:
    """The contract's error for a driver error (the driver's is kept as the cause)."""
    name = getattr(e, "sqlite_errorname", "") or ""
    err: StoreError
    if name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
        err = AlreadyExists(str(e))
    elif name.startswith(_UNAVAILABLE) or (
        isinstance(e, sqlite3.OperationalError) and ("locked" in str(e) or "disk" in str(e))
    ):
        err = Unavailable(f"sqlite: {e}")
    else:
        err = StoreError(f"sqlite: {e}")
    err.__cause__ = e
    return err


_Outcome = tuple["asyncio.Future[None]", BaseException | None]


@dataclass(slots=True)
class _Item:
    steps: Sequence[Step]
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


class GroupCommitWriter:
    """Owns the write connection; `submit` from any event loop, results come back there."""

    def __init__(self, conn: sqlite3.Connection, max_batch: int = 512) -> None:
        self._conn = conn
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="perdure-sqlite-writer", daemon=True)
        self.transactions = 0
        """Write transactions committed (each one fsync)."""
        self.writes = 0
        """Plans applied successfully; writes / transactions is the mean batch size."""
        self.replayed_batches = 0
        """Batches run a second time, with savepoints, because a plan in them failed."""
        self._thread.start()

    def submit(self, steps: Sequence[Step]) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._closed:
                raise Unavailable("the SQLite store is closed")
            self._queue.put(_Item(steps, future, loop))
        return future

    async def close(self) -> None:
        """Finish what is queued, stop the thread and close the connection."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        await asyncio.to_thread(self._thread.join)
        await asyncio.to_thread(self._close_connection)

    def _close_connection(self) -> None:
        try:
            self._conn.execute("PRAGMA optimize")  # refresh planner statistics if stale
        except sqlite3.Error:
            log.warning("sqlite PRAGMA optimize failed", exc_info=True)
        # Closing the last connection checkpoints the WAL into the main file.
        self._conn.close()

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            try:
                outcomes = self._apply(batch)
            except BaseException as e:  # never leave a caller waiting forever
                log.exception("sqlite writer failed a batch of %d writes", len(batch))
                outcomes = [Unavailable(f"sqlite writer: {e!r}") for _ in batch]
            _settle(batch, outcomes)

    def _apply(self, batch: list[_Item]) -> list[BaseException | None]:
        """Commit the batch; each plan's outcome (None for success), in batch order.

        Savepoints cost a copy of every page a plan touches again, so a batch first runs
        without them. Only when a plan fails is the batch rolled back and run again, this
        time with each plan inside a savepoint so that the failing ones can be undone
        alone; replaying in the same order gives every plan the same outcome again.
        """
        cur = self._conn.cursor()
        try:
            try:
                return self._transaction(cur, batch, isolate=False)
            except _PlanFailed as failed:
                if len(batch) == 1:
                    return [failed.error]
                self.replayed_batches += 1
                return self._transaction(cur, batch, isolate=True)
        except Exception as e:
            if self._conn.in_transaction:
                try:
                    cur.execute("ROLLBACK")
                except sqlite3.Error:
                    log.exception("sqlite rollback failed")
            log.warning("sqlite write batch of %d failed: %s", len(batch), e)
            return [
                map_error(e) if isinstance(e, sqlite3.Error) else Unavailable(repr(e))
                for _ in batch
            ]
        finally:
            cur.close()

    def _transaction(
        self, cur: sqlite3.Cursor, batch: list[_Item], isolate: bool
    ) -> list[BaseException | None]:
        cur.execute("BEGIN IMMEDIATE")
        outcomes: list[BaseException | None] = []
        for item in batch:
            if isolate:
                cur.execute("SAVEPOINT w")
            try:
                for step in item.steps:
                    if len(step.rows) == 1:
                        cur.execute(step.sql, step.rows[0])
                    else:
                        cur.executemany(step.sql, step.rows)
                    step.check(cur.rowcount)
            except Exception as e:  # the plan's own fault: a condition, a bad value
                if not self._conn.in_transaction:
                    raise  # SQLite rolled the whole transaction back itself
                error = _as_store_error(e)
                if not isolate:
                    cur.execute("ROLLBACK")
                    raise _PlanFailed(error) from e
                cur.execute("ROLLBACK TO w")
                cur.execute("RELEASE w")
                outcomes.append(error)
            else:
                if isolate:
                    cur.execute("RELEASE w")
                outcomes.append(None)
        cur.execute("COMMIT")
        self.transactions += 1
        self.writes += outcomes.count(None)
        return outcomes


def _as_store_error(e: Exception) -> StoreError:
    if isinstance(e, StoreError):
        return e
    if isinstance(e, sqlite3.Error):
        return map_error(e)
    err = StoreError(f"sqlite cannot store this write: {e!r}")  # e.g. an int beyond 64 bits
    err.__cause__ = e
    return err


class _PlanFailed(Exception):
    """A plan's condition failed in a batch run without savepoints."""

    def __init__(self, error: StoreError) -> None:
        super().__init__(str(error))
        self.error = error


def _settle(batch: list[_Item], outcomes: list[BaseException | None]) -> None:
    """Hand each outcome to its caller's loop: one wake-up per loop and batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for item, outcome in zip(batch, outcomes, strict=True):
        by_loop.setdefault(item.loop, []).append((item.future, outcome))
    for loop, pairs in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, pairs)
        except RuntimeError:  # the caller's loop is closed: nobody is waiting any more
            pass


def _resolve(pairs: list[_Outcome]) -> None:
    for future, outcome in pairs:
        if future.done():  # the caller was cancelled; the write stands regardless
            continue
        if outcome is None:
            future.set_result(None)
        else:
            future.set_exception(outcome)
