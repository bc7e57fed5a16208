"""SQLite specifics: durability across close and crash, pragmas, migrations, ":memory:"."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from perdure.server.store import open_store, plans
from perdure.server.store.base import (
    ExecutionKey,
    NamespaceRecord,
    StoreError,
    TaskKind,
    Unavailable,
)
from perdure.server.store.plans import Step
from perdure.server.store.schema import SCHEMA_VERSION
from perdure.server.store.sqlite import SQLiteStore
from tests.server.store import crash_writer
from tests.server.store.builders import NS, new_key, start, update

ROOT = Path(__file__).resolve().parents[3]


async def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = await SQLiteStore.open(path)
    k = new_key()
    await store.commit(start(k))
    await store.commit(update(k, 1, b"s2"))
    await store.create_namespace(NamespaceRecord("id", "name", b"i", b"c"))
    await store.close()
    store = await SQLiteStore.open(path)
    try:
        snap = await store.load_execution(k)
        assert snap is not None and (snap.state, snap.version) == (b"s2", 2)
        assert len(await store.get_tasks(NS, "tq", TaskKind.WORKFLOW, 0, 10)) == 1
        assert await store.get_namespace("name") is not None
    finally:
        await store.close()


@pytest.mark.slow
async def test_acknowledged_commits_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.server.store.crash_writer",
        str(path),
        "16",
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    acked: dict[int, int] = {}
    try:
        assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"ready"
        lines = 0
        while lines < 1500:
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line, (await proc.stderr.read()).decode()  # type: ignore[union-attr]
            i, version = map(int, line.split())
            acked[i] = version
            lines += 1
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    store = await SQLiteStore.open(path)
    try:
        for i, version in acked.items():
            key = ExecutionKey("crash-ns", f"crash-{i}", f"run-{i}")
            snap = await store.load_execution(key)
            assert snap is not None and snap.version >= version
            # Whatever version is stored is intact: its state and history agree with it.
            assert snap.state == crash_writer.state(i, snap.version)
            batches = await store.read_history(key, 1, 10**6)
            assert [b.first_event_id for b in batches] == list(range(1, snap.version + 1))
            assert all(b.data == b"event %d" % b.first_event_id for b in batches)
            row = await store.get_visibility("crash-ns", key.run_id)
            assert row is not None and row.start_time == snap.version
    finally:
        await store.close()
    assert len(acked) == 16


async def test_pragmas_wal_and_full_sync(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "p.sqlite")
    try:
        rows = await store._fetch("PRAGMA journal_mode", ())
        assert rows[0][0] == "wal"
        # synchronous is per connection: check the writer's own setting.
        assert store._writer._conn.execute("PRAGMA synchronous").fetchall()[0][0] == 2  # FULL
    finally:
        await store.close()


async def test_migrations_are_recorded_once(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite"
    for _ in range(2):
        store = await SQLiteStore.open(path)
        await store.close()
    with sqlite3.connect(path) as conn:
        versions = conn.execute("SELECT version FROM schema_version").fetchall()
    assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    await (await SQLiteStore.open(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO schema_version VALUES (?, 'from the future', 0)", (SCHEMA_VERSION + 1,)
        )
    with pytest.raises(StoreError, match="newer"):
        await SQLiteStore.open(path)


async def test_memory_stores_are_private_and_vanish(tmp_path: Path) -> None:
    a = await SQLiteStore.open(":memory:")
    b = await SQLiteStore.open(":memory:")
    try:
        k = new_key()
        await a.commit(start(k))
        assert await a.load_execution(k) is not None
        assert await b.load_execution(k) is None
    finally:
        await a.close()
        await b.close()
    assert _gone(os.path.dirname(a.path))


def _gone(path: str) -> bool:
    return not os.path.exists(path)


async def test_memory_directories_of_dead_processes_are_swept() -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await proc.wait()  # a pid that no longer runs
    store = await SQLiteStore.open(":memory:")
    base = os.path.dirname(os.path.dirname(store.path))
    orphan = os.path.join(base, f"perdure-memory-{proc.pid}-test")
    await store.close()
    await asyncio.to_thread(os.makedirs, orphan)
    store = await SQLiteStore.open(":memory:")
    await store.close()
    assert _gone(orphan)


@pytest.mark.parametrize(
    "url",
    [":memory:", "sqlite://:memory:", "sqlite://{tmp}/a.db", "sqlite:///{tmp}/c.db", "{tmp}/b.db"],
)
async def test_open_store_urls(tmp_path: Path, url: str) -> None:
    store = await open_store(url.format(tmp=tmp_path))
    try:
        assert isinstance(store, SQLiteStore)
        k = new_key()
        await store.commit(start(k))
        assert await store.load_execution(k) is not None
        if "{tmp}" in url:
            assert store.path.startswith(str(tmp_path))
    finally:
        await store.close()


async def test_closed_store_is_unavailable(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "c.sqlite")
    await store.close()
    await store.close()  # closing twice is harmless
    with pytest.raises(Unavailable):
        await store.commit(start(new_key()))
    with pytest.raises(Unavailable):
        await store.get_namespace("x")


async def test_unopenable_path_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(Unavailable):
        await SQLiteStore.open(tmp_path / "missing-dir" / "x.sqlite")


async def test_cancelled_caller_does_not_break_the_writer(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "x.sqlite")
    try:
        keys = [new_key() for _ in range(20)]
        tasks = [asyncio.create_task(store.commit(start(k))) for k in keys]
        await asyncio.sleep(0)
        for t in tasks[::2]:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        more = new_key()
        await store.commit(start(more))
        assert await store.load_execution(more) is not None
    finally:
        await store.close()


async def test_reads_do_not_wait_for_the_writer(tmp_path: Path) -> None:
    """While a write transaction is open (here: held for 0.5 s), reads still answer at
    once, from the last committed state."""
    store = await SQLiteStore.open(tmp_path / "r.sqlite")
    try:
        k = new_key()
        await store.commit(start(k))
        store._writer._conn.create_function("hold", 1, lambda ms: time.sleep(ms / 1000))
        slow = asyncio.create_task(
            store._write(
                [*plans.plan_commit(store.sql, update(k, 1, b"s2")), Step("SELECT hold(500)", [()])]
            )
        )
        await asyncio.sleep(0.1)  # the writer is now inside its transaction
        t0 = time.perf_counter()
        snap = await store.load_execution(k)
        assert time.perf_counter() - t0 < 0.2
        assert snap is not None and snap.version == 1 and not slow.done()
        await slow
        snap = await store.load_execution(k)
        assert snap is not None and snap.version == 2
    finally:
        await store.close()
