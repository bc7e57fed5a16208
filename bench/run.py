"""Run the workload suite against each server/SDK configuration; write a table and JSON.

    python -m bench [--configs a,b,c,d] [--workloads W1,...,W6] [--reps 3] [--quick]

Every session (configuration x workload x repetition) starts a fresh server on a new
SQLite file, one worker process and one driver process, measures, and stops them all.
Configurations run back to back inside each repetition so their ratios share conditions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import preload, profile
from bench.procs import REPO, Server, cpu_seconds, peak_rss_mb, start_server
from bench.report import CONFIGS, failures, markdown

RESULTS = REPO / "bench" / "results"
ALL_WORKLOADS = ["W1", "W2", "W3", "W4", "W5", "W6", "W7"]


@dataclass(frozen=True)
class Load:
    """How many workflows a session's loaded phase runs, and how many at once."""

    count: int
    in_flight: int
    unloaded: int
    warmup: int
    timeout: float


def default_loads(scale: float, unloaded: int, warmup: int) -> dict[str, Load]:
    """Per-workload sizes. W5 and W6 run fewer, bigger workflows (see README)."""

    def n(x: int) -> int:
        return max(1, round(x * scale))

    return {
        "W1": Load(n(2000), 100, unloaded, warmup, 1200),
        "W2": Load(n(1000), 100, unloaded, warmup, 1800),
        "W3": Load(n(2000), 100, 0, min(warmup, 10), 900),
        "W4": Load(n(2000), 100, unloaded, warmup, 1200),
        "W5": Load(n(50), 10, max(1, unloaded // 5), min(warmup, 5), 1800),
        "W6": Load(n(100), 100, max(1, unloaded // 5), min(warmup, 5), 1800),
        # W7: schedules (not workflows), created 50 at a time, then a minute of fires.
        "W7": Load(n(1000), 50, 0, 0, 900),
    }


def _agent(role: str, sdk: str, target: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bench.agent", role, "--sdk", sdk, "--target", target, *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'src'}"}


def _readline(proc: subprocess.Popen[str], deadline: float) -> str | None:
    """Next stdout line of `proc`, or None at EOF; TimeoutError past the deadline."""
    assert proc.stdout is not None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        ready, _, _ = select.select([proc.stdout], [], [], min(left, 1.0))
        if ready:
            line = proc.stdout.readline()
            return line if line else None


def _stop(proc: subprocess.Popen[str] | None, grace: float = 30) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


@dataclass(frozen=True)
class Storage:
    """What Perdure's servers store on: `--postgres`, `--preload`, `--expire-rate`."""

    postgres: str | None = None
    preload: int = 0
    expire_rate: float = 0


def session(
    config: str, workload: str, rep: int, load: Load, *, profile_to: Path | None = None,
    storage: Storage = Storage(),
) -> dict[str, Any]:  # fmt: skip
    """One measured run: fresh server, worker, driver; returns the raw figures."""
    server_kind, sdk, _ = CONFIGS[config]
    out: dict[str, Any] = {"config": config, "workload": workload, "rep": rep, "sdk": sdk}
    out["load"] = load.__dict__
    workdir = Path(tempfile.mkdtemp(prefix=f"perdure-bench-{config}{workload}-"))
    server: Server | None = None
    worker = driver = None
    db: preload.SessionDatabase | None = None
    began = time.monotonic()
    try:
        if server_kind.startswith("perdure") and storage != Storage():
            out["storage"] = storage.__dict__
            db = preload.session_database(
                workdir, count=storage.preload, postgres=storage.postgres,
                expire_rate=storage.expire_rate,
            )  # fmt: skip
        server = start_server(
            server_kind, workdir, profile_to=profile_to, database=db.url if db else None,
            ready_timeout=900,
        )  # fmt: skip
        out["load_avg_at_start"] = os.getloadavg()
        with (workdir / "worker.log").open("w") as wlog:
            worker = subprocess.Popen(
                _agent("worker", sdk, server.target),
                stdout=subprocess.PIPE, stderr=wlog, text=True, env=_env(), cwd=REPO,
            )  # fmt: skip
        if _readline(worker, time.monotonic() + 60) != "READY\n":
            raise RuntimeError(f"worker did not start:\n{_tail(workdir / 'worker.log')}")
        extra = [
            "--workload", workload, "--count", str(load.count),
            "--in-flight", str(load.in_flight), "--unloaded", str(load.unloaded),
            "--warmup", str(load.warmup),
        ]  # fmt: skip
        with (workdir / "driver.log").open("w") as dlog:
            driver = subprocess.Popen(
                _agent("drive", sdk, server.target, *extra),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=dlog, text=True,
                env=_env(), cwd=REPO,
            )  # fmt: skip
        marks: dict[str, dict[str, float]] = {}
        deadline = time.monotonic() + load.timeout
        while True:
            line = _readline(driver, deadline)
            if line is None:
                raise RuntimeError(
                    f"driver exited ({driver.wait()}):\n{_tail(workdir / 'driver.log')}"
                )
            if line.startswith("MARK "):
                marks[line.split()[1]] = {
                    "server": cpu_seconds(server.pid),
                    "worker": cpu_seconds(worker.pid),
                    "driver": cpu_seconds(driver.pid),
                    "t": time.monotonic(),
                }
                assert driver.stdin is not None
                driver.stdin.write("\n")
                driver.stdin.flush()
            elif line.startswith("RESULT "):
                out["result"] = json.loads(line[len("RESULT ") :])
                break
        for phase, (a, b) in {
            "unloaded": ("unloaded", "loaded"),
            "loaded": ("loaded", "end"),
        }.items():
            out[f"cpu_{phase}"] = {
                k: round(marks[b][k] - marks[a][k], 3) for k in ("server", "worker", "driver", "t")
            }
        out["rss_mb"] = {
            "server": round(peak_rss_mb(server.pid), 1),
            "worker": round(peak_rss_mb(worker.pid), 1),
        }
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"[:2000]
    finally:
        _stop(driver, 5)
        _stop(worker)
        if server is not None:
            if "error" in out:
                out["server_log_tail"] = server.log_tail(20)
            server.stop()
        if db is not None:
            db.drop()
        shutil.rmtree(workdir, ignore_errors=True)
    out["wall_s"] = round(time.monotonic() - began, 1)
    return out


def smoke(config: str) -> str | None:
    """A few W1 workflows; returns why the configuration cannot run, or None."""
    s = session(config, "W1", 0, Load(count=5, in_flight=5, unloaded=2, warmup=0, timeout=90))
    if s.get("error"):
        return s["error"]
    loaded = s["result"]["loaded"]
    if loaded["errors"]:
        return f"{loaded['errors']}/5 workflows failed: {loaded.get('first_error')}"
    return None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", default="a,b,c,d", help="subset of a,b,c,d (see README)")
    p.add_argument("--workloads", default=",".join(ALL_WORKLOADS))
    p.add_argument("--reps", type=int, default=None, help="repetitions (default 3, quick 1)")
    p.add_argument("--quick", action="store_true", help="a tenth of the workflows, 1 rep")
    p.add_argument("--scale", type=float, default=None, help="multiply workflow counts")
    p.add_argument("--count", type=int, default=None, help="loaded-phase workflows (all loads)")
    p.add_argument("--in-flight", type=int, default=None, help="concurrency (all loads)")
    p.add_argument("--unloaded", type=int, default=None, help="one-at-a-time workflows")
    p.add_argument("--no-smoke", action="store_true", help="skip the SDK smoke test of c/d")
    p.add_argument(
        "--profile", action="store_true", help="run Perdure's server under py-spy (W1 of b)"
    )
    p.add_argument(
        "--postgres",
        metavar="URL",
        default=None,
        help="Perdure on a fresh PostgreSQL database per session, made through this"
        " maintenance URL (postgresql://user@host:port/postgres)",
    )
    p.add_argument("--preload", type=int, default=0, help="closed runs stored before each session")
    p.add_argument(
        "--expire-rate",
        type=float,
        default=0,
        help="closed runs whose retention ends per second during the session",
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    configs = [c for c in args.configs.split(",") if c]
    workloads = [w for w in args.workloads.split(",") if w]
    for c in configs:
        if c not in CONFIGS:
            p.error(f"unknown configuration {c!r}")
    for w in workloads:
        if w not in ALL_WORKLOADS:
            p.error(f"unknown workload {w!r}")
    reps = args.reps or (1 if args.quick else 3)
    scale = args.scale or (0.1 if args.quick else 1.0)
    unloaded = args.unloaded if args.unloaded is not None else (10 if args.quick else 50)
    loads = default_loads(scale, unloaded, 10 if args.quick else 20)
    for w, ld in loads.items():
        loads[w] = Load(
            args.count or ld.count, args.in_flight or ld.in_flight, ld.unloaded, ld.warmup,
            ld.timeout,
        )  # fmt: skip

    storage = Storage(args.postgres, args.preload, args.expire_rate)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    skipped: dict[str, str] = {}
    for c in configs:
        if CONFIGS[c][1] == "perdure" and not args.no_smoke and not args.profile:
            why = smoke(c)
            if why:
                skipped[c] = why
                print(f"SKIP {CONFIGS[c][2]}: Perdure's SDK failed the smoke test: {why}")
    configs = [c for c in configs if c not in skipped]

    sessions: list[dict[str, Any]] = []
    for rep in range(1, reps + 1):
        for w in workloads:
            for c in configs:
                prof = None
                if args.profile and CONFIGS[c][0] == "perdure":
                    prof = args.out / f"profile-{stamp}-{c}{w}-{rep}.txt"
                s = session(c, w, rep, loads[w], profile_to=prof, storage=storage)
                sessions.append(s)
                print(_line(s), flush=True)
                if prof is not None and prof.exists():
                    print(profile.summary(prof), flush=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    report = {
        "when": stamp,
        "commit": commit,
        "host": {"python": platform.python_version(), "cpus": os.cpu_count(),
                 "load_avg_at_end": os.getloadavg()},
        "configs": {c: CONFIGS[c] for c in configs},
        "skipped": skipped,
        "loads": {w: loads[w].__dict__ for w in workloads},
        "storage": storage.__dict__,
        "sessions": sessions,
    }  # fmt: skip
    (args.out / f"bench-{stamp}.json").write_text(json.dumps(report, indent=1))
    table = markdown(sessions, configs, workloads)
    notes = failures(sessions) + [f"skipped {c}: {why}" for c, why in skipped.items()]
    text = table + ("\n\n" + "\n".join(f"- {n}" for n in notes) if notes else "") + "\n"
    (args.out / f"bench-{stamp}.md").write_text(text)
    print(f"\nMedians of {reps} repetition(s); ratios are medians of same-run ratios.\n")
    print(text)
    print(f"raw figures: {args.out / f'bench-{stamp}.json'}")


def _line(s: dict[str, Any]) -> str:
    head = f"[{s['config']} {s['workload']} rep {s['rep']}] {s['wall_s']}s"
    if s.get("error"):
        return f"{head} FAILED: {s['error'].splitlines()[0]}"
    loaded = s["result"]["loaded"]
    figures = {k: loaded.get(k) for k in ("workflows_per_s", "errors")}
    return f"{head} {figures} cpu={s['cpu_loaded']} rss={s['rss_mb']}"


if __name__ == "__main__":
    main()
