"""Fill a database fast with closed executions, to measure what stored data costs.

    python -m bench.preload --db URL-or-file --count 1000000 [--expire-rate R]

A handful of real runs (one per workflow shape and closing status) is recorded once on a
throwaway server; each preloaded run is a copy of one of them under a new workflow id and
run id, written with `SqlStore.commit_many` (a few statements per chunk of thousands of
runs, not a transaction per run). A copy has what a real closed run leaves: its
mutable state, its history (one batch, of the real size), its current-run row, its
visibility row (start and close times spread over the last day) and its retention
(DELETE_EXECUTION) timer. The state blob keeps the recorded run's times, so Describe
shows those; listing and retention see the copy's.

Retention: by default every copy's deletion is due after the bench ends (close time + one
day). `--expire-rate R` makes the oldest copies due at R a second from `--expire-from`
(epoch seconds; default: when the preload ends), to measure deletion in the background.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from perdure.server.store import open_store
from perdure.server.store.base import (
    Commit,
    CurrentExecution,
    CurrentWrite,
    ExecutionKey,
    ExecutionWrite,
    HistoryBatch,
    TimerRow,
    VisibilityRow,
)
from perdure.server.store.sqlstore import SqlStore

SECOND = 1_000_000_000
DAY = 24 * 3600 * SECOND
RETENTION = DAY
"""The default namespace's retention (namespaces.DEFAULT_RETENTION_SECONDS)."""
CHUNK = 2_000
"""Runs per transaction."""
TASK_QUEUE = "bench"

# (template, weight): workflow shapes and closing statuses, as a mix of runs a service keeps.
MIX = {
    "sequential-1": 40,
    "sequential-10": 20,
    "fan-out-5": 10,
    "sleeper": 10,
    "terminated": 10,
    "canceled": 5,
    "timed-out": 5,
}


def _template_id(k: int) -> str:
    return f"preload-t{k:09d}"


def preload_id(i: int) -> str:
    """The workflow id of preloaded run `i` (the same length as a template's)."""
    return f"preload-{i:010d}"


@dataclass(frozen=True)
class Template:
    """One recorded closed run, everything a copy needs."""

    name: str
    workflow_id: str
    run_id: str
    state: bytes
    history: HistoryBatch
    current: CurrentExecution
    visibility: VisibilityRow
    delete_timer: TimerRow

    @property
    def duration(self) -> int:
        assert self.visibility.close_time is not None
        return self.visibility.close_time - self.visibility.start_time

    def copy(self, ns: str, workflow_id: str, start: int, delete_at: int) -> Commit:
        """This run in namespace id `ns` under a new workflow id and run id, started at
        `start`. Ids are swapped inside the blobs too (ids of equal length: the msgpack
        and protobuf framing stays valid)."""
        run_id = str(uuid.uuid4())
        old = [self.current.namespace_id, self.workflow_id, self.run_id]
        pairs = [
            (a.encode(), b.encode()) for a, b in zip(old, [ns, workflow_id, run_id], strict=True)
        ]

        def swap(b: bytes) -> bytes:
            for a, z in pairs:
                b = b.replace(a, z)
            return b

        close = start + self.duration
        key = ExecutionKey(ns, workflow_id, run_id)
        h = self.history
        return Commit(
            namespace_id=ns,
            workflow_id=workflow_id,
            executions=[
                ExecutionWrite(
                    key, None, swap(self.state), HistoryBatch(1, h.last_event_id, swap(h.data))
                )
            ],
            current=CurrentWrite(
                None,
                dataclasses.replace(
                    self.current,
                    namespace_id=ns,
                    workflow_id=workflow_id,
                    run_id=run_id,
                    start_time=start,
                    close_time=close,
                ),
            ),
            timers_added=[
                dataclasses.replace(
                    self.delete_timer,
                    key=self.delete_timer.key.replace(self.run_id, run_id),
                    namespace_id=ns,
                    workflow_id=workflow_id,
                    run_id=run_id,
                    fire_time=delete_at,
                )
            ],
            visibility=[
                dataclasses.replace(
                    self.visibility,
                    namespace_id=ns,
                    workflow_id=workflow_id,
                    run_id=run_id,
                    root_workflow_id=workflow_id,
                    root_run_id=run_id,
                    start_time=start,
                    execution_time=start,
                    close_time=close,
                )
            ],
        )


# --------------------------------------------------------------------------- templates


async def _run_templates(target: str) -> None:
    """One run per MIX entry, with the Perdure SDK, all left closed."""
    os.environ["BENCH_SDK"] = "perdure"
    from perdure.client import Client

    client: Any = await Client.connect(target)
    ids = {name: _template_id(k) for k, name in enumerate(MIX)}
    q = TASK_QUEUE
    await client.execute_workflow("Sequential", 1, id=ids["sequential-1"], task_queue=q)
    await client.execute_workflow("Sequential", 10, id=ids["sequential-10"], task_queue=q)
    await client.execute_workflow("FanOut", 5, id=ids["fan-out-5"], task_queue=q)
    await client.execute_workflow("Sleeper", 0.05, id=ids["sleeper"], task_queue=q)
    waiting = {}
    for name in ("terminated", "canceled"):
        waiting[name] = await client.start_workflow("SignalWaiter", id=ids[name], task_queue=q)
        await waiting[name].query("ready")
    await waiting["terminated"].terminate("preload template")
    await waiting["canceled"].cancel()
    timed = await client.start_workflow(
        "SignalWaiter", id=ids["timed-out"], task_queue=q, execution_timeout=timedelta(seconds=1)
    )
    for handle in [*waiting.values(), timed]:
        try:
            await handle.result()
        except Exception:
            pass  # the closing status is what we wanted


async def _read_templates(db: str) -> list[Template]:
    store = await open_store(db)
    try:
        out = []
        timers = await store.get_timers(2**62, 10_000)
        for k, name in enumerate(MIX):
            wid = _template_id(k)
            cur = await _current_any(store, wid)
            ns, run = cur.namespace_id, cur.run_id
            snap = await store.load_execution(ExecutionKey(ns, wid, run))
            batches = await store.read_history(ExecutionKey(ns, wid, run), 1, 1_000_000)
            vis = await store.get_visibility(ns, run)
            (delete,) = [t for t in timers if t.run_id == run and t.key.startswith(f"{run}/t")]
            assert snap is not None and vis is not None and vis.close_time is not None
            # Serialized History messages concatenate into one (a repeated field).
            history = HistoryBatch(1, batches[-1].last_event_id, b"".join(b.data for b in batches))
            out.append(Template(name, wid, run, snap.state, history, cur, vis, delete))
        return out
    finally:
        await store.close()


async def _current_any(store: Any, wid: str) -> CurrentExecution:
    for ns in await store.list_namespaces():
        cur = await store.get_current_execution(ns.id, wid)
        if cur is not None:
            return cur  # type: ignore[no-any-return]
    raise RuntimeError(f"template run {wid} not found")


def record_templates() -> list[Template]:
    """Run the template workflows on a throwaway Perdure server and read their rows."""
    from bench.procs import REPO, start_server

    workdir = Path(tempfile.mkdtemp(prefix="perdure-preload-templates-"))
    server = start_server("perdure", workdir)
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'src'}"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "bench.agent", "worker", "--sdk", "perdure", "--target",
         server.target],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    try:
        assert worker.stdout is not None
        if worker.stdout.readline() != "READY\n":
            raise RuntimeError("template worker did not start")
        asyncio.run(_run_templates(server.target))
    finally:
        worker.terminate()
        worker.wait(30)
        server.stop()
    try:
        return asyncio.run(_read_templates(str(workdir / "perdure.db")))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------- the load


def _plan(
    templates: list[Template], count: int, first: int, now: int, expire: tuple[int, float] | None
) -> Iterator[tuple[int, Template, int, int]]:
    """(index, template, start time, deletion time) of each run to write.

    Runs start evenly over the day before `now`, oldest first, so none is due for
    deletion before `now` + the preload's own duration; with `expire` = (from, rate) the
    oldest ones are re-dated to be deleted at `rate` a second from `from`.
    """
    rng = random.Random(first)
    weights = [MIX[t.name] for t in templates]
    span = DAY - 3600 * SECOND  # the newest deletion is due an hour after `now`
    for j in range(count):
        t = rng.choices(templates, weights)[0]
        start = now - span + j * span // max(count, 1)
        delete_at = start + t.duration + RETENTION
        if expire is not None:
            due = expire[0] + round(j * SECOND / expire[1])
            if due < delete_at:
                delete_at = due
                start = due - RETENTION - t.duration
        yield first + j, t, start, delete_at


async def preload(
    db: str,
    count: int,
    *,
    first: int = 0,
    expire: tuple[int, float] | None = None,
    templates: list[Template] | None = None,
    progress: bool = False,
) -> float:
    """Write `count` closed runs (ids from `first`) into `db`; returns the seconds it took."""
    templates = templates or await asyncio.to_thread(record_templates)
    began = time.monotonic()
    store = await open_store(db)
    if not isinstance(store, SqlStore):
        raise TypeError(f"{type(store).__name__} cannot bulk-load")
    gc.disable()  # millions of short-lived rows, no cycles: collections only cost time
    writing: asyncio.Future[None] | None = None
    try:
        ns = await default_namespace(store)
        chunk: list[Commit] = []
        done = 0
        for i, t, start, delete_at in _plan(templates, count, first, time.time_ns(), expire):
            chunk.append(t.copy(ns, preload_id(i), start, delete_at))
            if len(chunk) == CHUNK:
                # The database writes one chunk while the next one is built.
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(store.commit_many(chunk))
                done += len(chunk)
                chunk = []
                if progress and done % 50_000 == 0:
                    rate = done / (time.monotonic() - began)
                    print(f"preload: {done:,} runs, {rate:,.0f}/s", file=sys.stderr, flush=True)
        if writing is not None:
            await writing
        await store.commit_many(chunk)
    finally:
        gc.enable()
        await store.close()
    return time.monotonic() - began


# --------------------------------------------------------------------------- for bench sessions

CACHE = Path(__file__).resolve().parent / "results" / "preload-cache"
PG_PREFIX = "perdure_bench_"
_templates: list[Template] = []


@dataclass
class SessionDatabase:
    """The database one bench session's server runs on, and how to throw it away."""

    url: str
    postgres: str | None = None
    """The maintenance URL (postgres database) that created this one, to drop it."""

    def drop(self) -> None:
        if self.postgres is not None:
            _pg_admin(self.postgres, f"DROP DATABASE IF EXISTS {self.url.rsplit('/', 1)[1]}")


def _pg_admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def _pg_exists(url: str, name: str) -> bool:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return bool(found.fetchall())


def _schema_tag() -> str:
    from perdure.server.store.schema import SCHEMA_VERSION

    return f"v{SCHEMA_VERSION}"


def session_database(
    workdir: Path, *, count: int, postgres: str | None, expire_rate: float = 0,
    expire_lead: float = 15, expire_window: float = 300,
) -> SessionDatabase:  # fmt: skip
    """A fresh database for one session holding `count` preloaded closed runs.

    The preloaded state is built once per count and schema version (a SQLite file under
    bench/results/preload-cache, or a PostgreSQL database used as a TEMPLATE) and copied
    for each session. `postgres` is a maintenance URL ("postgresql://user@host:port/postgres").
    With `expire_rate`, runs whose retention ends at that rate, from `expire_lead` s on,
    for `expire_window` s, are added to the copy (retention in the background).
    """
    if not _templates and (count or expire_rate):
        _templates.extend(record_templates())
    if postgres is None:
        db = SessionDatabase(str(workdir / "perdure.db"))
        if count:
            cached = CACHE / f"sqlite-{count}-{_schema_tag()}.db"
            if not cached.exists():
                CACHE.mkdir(parents=True, exist_ok=True)
                partial = cached.with_suffix(".partial")
                for p in partial.parent.glob(partial.name + "*"):
                    p.unlink()
                asyncio.run(preload(str(partial), count, templates=_templates, progress=True))
                partial.rename(cached)
            shutil.copyfile(cached, db.url)
    else:
        base = postgres.rsplit("/", 1)[0]
        name = f"{PG_PREFIX}{os.getpid()}_{time.monotonic_ns()}"
        db = SessionDatabase(f"{base}/{name}", postgres)
        template = ""
        if count:
            cached = f"perdure_preload_{count}_{_schema_tag()}"
            if not _pg_exists(postgres, cached):
                _pg_admin(postgres, f"CREATE DATABASE {cached}_partial")
                asyncio.run(
                    preload(f"{base}/{cached}_partial", count, templates=_templates, progress=True)
                )
                _pg_admin(postgres, f"ALTER DATABASE {cached}_partial RENAME TO {cached}")
            template = f" TEMPLATE {cached}"
        _pg_admin(postgres, f"CREATE DATABASE {name}{template}")
    if expire_rate:
        n = round(expire_rate * expire_window)
        # Due from `expire_lead` s after this write ends (estimated at 1,000 runs a second).
        start = int((time.time() + n / 1000 + expire_lead) * SECOND)
        asyncio.run(
            preload(db.url, n, first=count, expire=(start, expire_rate), templates=_templates)
        )
    return db


async def default_namespace(store: Any, namespace_id: str | None = None) -> str:
    """The id of namespace "default", created as the server would (with `namespace_id`
    when given) if the database has none yet."""
    from perdure.server.namespaces import new_namespace

    found = await store.get_namespace("default")
    if found is not None:
        return str(found.id)
    ns = new_namespace("default")
    if namespace_id is not None:
        ns.info.id = namespace_id
        ns = dataclasses.replace(ns, id=namespace_id)
    await store.create_namespace(ns.record())
    return ns.id


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.preload", description=__doc__.split("\n")[0])
    p.add_argument("--db", required=True, help="SQLite file or postgresql:// URL")
    p.add_argument("--count", type=int, required=True, help="closed runs to write")
    p.add_argument("--first", type=int, default=0, help="index of the first run's id")
    p.add_argument("--expire-rate", type=float, default=0, help="deletions due per second")
    p.add_argument("--expire-from", type=float, default=None, help="epoch s (default: the end)")
    args = p.parse_args(argv)
    expire = None
    if args.expire_rate > 0:
        # Default: due from the end of the preload, estimated at 10,000 runs a second.
        start = args.expire_from or time.time() + args.count / 10_000
        expire = (int(start * SECOND), args.expire_rate)
    took = asyncio.run(preload(args.db, args.count, first=args.first, expire=expire, progress=True))
    print(f"preloaded {args.count:,} closed runs in {took:.1f} s ({args.count / took:,.0f}/s)")


if __name__ == "__main__":
    main()
