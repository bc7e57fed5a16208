"""The chaos soak's short profile: each scenario for a few seconds of load under faults,
then the checker must find nothing; and the checker must find what is planted in real
observations, so a clean run cannot be a vacuous one."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaos.check import Started, check, left_behind, replay_all
from chaos.run import Report

from tests.pg import pg_unreachable
from tests.servers import REPO

pytestmark = pytest.mark.timeout(400)

SHORT = {
    "sqlite": "server-kill,worker-kill,proxy-reset",
    "postgres": "pg-cluster,pg-freeze",
}
"""The short profile: each run combines the scenarios of one topology, a fault every 1-2.5 s
until each scenario has had one; the runs go at once, each in its own process (`python -m
chaos --save`), so the suite waits for the longest, not for their sum."""


class Soaks:
    """The short profile's runs, started together; `report(name)` waits for one."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        for name, scenarios in SHORT.items():
            if name == "postgres" and pg_unreachable():
                continue
            run_dir = workdir / name
            run_dir.mkdir()
            args = [
                sys.executable, "-m", "chaos", "--scenario", scenarios, "--seconds", "6",
                "--every", "1-2.5", "--seed", "3", "--concurrency", "5",
                "--workdir", str(run_dir), "--save", str(run_dir / "report.pickle"),
            ]  # fmt: skip
            env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
            out = (run_dir / "output.txt").open("wb")
            self.procs[name] = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO
            )

    def report(self, name: str) -> Report:
        if name not in self.procs:
            pytest.skip(pg_unreachable() or f"{name} was not run")
        proc = self.procs[name]
        try:
            proc.wait(360)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        output = (self.workdir / name / "output.txt").read_text(errors="replace")
        saved = self.workdir / name / "report.pickle"
        assert saved.exists(), f"{name} run exited with {proc.returncode}:\n{output}"
        report: Report = pickle.loads(saved.read_bytes())
        return report

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)


@pytest.fixture(scope="module")
def soaks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Soaks]:
    runs = Soaks(tmp_path_factory.mktemp("chaos"))
    yield runs
    runs.stop()


@pytest.fixture(scope="module")
def server_kill(soaks: Soaks) -> Report:
    return soaks.report("sqlite")


def _assert_clean(report: Report, scenarios: str) -> None:
    print(report.text())
    assert report.violations == [], report.text()
    assert report.unexpected_exits == [], report.text()
    for scenario in scenarios.split(","):
        assert any(f.scenario == scenario for f in report.faults), f"no {scenario} fault"
    assert all(s.completed_at is not None for s in report.started)
    kinds = {(s.kind, s.sdk) for s in report.started}
    assert {k for k, _ in kinds} == {"ChaosOrder", "ChaosChain"}
    assert {sdk for _, sdk in kinds} == {"perdure", "temporalio"}
    assert sum(len(s.signals_acked) for s in report.started) > 0
    assert sum(len(s.updates_acked) for s in report.started) > 0
    assert report.observed is not None and report.observed.effects


def test_server_and_worker_sigkill_and_connection_resets_on_sqlite_lose_nothing(
    server_kill: Report,
) -> None:
    _assert_clean(server_kill, SHORT["sqlite"])


@pytest.mark.postgres
def test_cluster_members_killed_and_frozen_on_postgresql_lose_nothing(soaks: Soaks) -> None:
    _assert_clean(soaks.report("postgres"), SHORT["postgres"])


def test_checker_names_planted_violations(server_kill: Report) -> None:
    """Each fault planted in the real observations of a clean run is found and named."""
    observed = server_kill.observed
    assert observed is not None
    started = server_kill.started
    assert check(started, observed) == []
    order = next(s for s in started if s.kind == "ChaosOrder" and s.signals_acked)

    doubled = copy.deepcopy(observed)
    row = next(r for r in doubled.effects if r[0] == order.workflow_id)
    doubled.effects.append(row)
    found = [str(v) for v in check(started, doubled)]
    assert any(order.workflow_id in v and "more than once" in v for v in found), found

    lost = copy.deepcopy(started)
    lost_order = next(s for s in lost if s.workflow_id == order.workflow_id)
    lost_order.signals_acked.append(999)
    found = [str(v) for v in check(lost, observed)]
    assert f"{order.workflow_id}: acknowledged signal 999 appears 0 times" in found, found

    hidden = copy.deepcopy(observed)
    run = hidden.runs[order.workflow_id][-1]
    del hidden.visibility[(order.workflow_id, run.run_id)]
    found = [str(v) for v in check(started, hidden)]
    assert f"{order.workflow_id}: run {run.run_id}: not in visibility" in found, found

    gap = copy.deepcopy(observed)
    gap.runs[order.workflow_id][-1].events[2].event_id += 1
    found = [str(v) for v in check(started, gap)]
    assert any("not contiguous" in v for v in found), found

    missing = copy.deepcopy(observed)
    del missing.runs[f"{order.workflow_id}-child"]
    found = [str(v) for v in check(started, missing)]
    assert f"{order.workflow_id}-child: no history" in found, found

    queried = copy.deepcopy(started)
    next(s for s in queried if s.workflow_id == order.workflow_id).odd_answers.append("q 9")
    found = [str(v) for v in check(queried, observed)]
    assert f"{order.workflow_id}: q 9" in found, found

    wrong = copy.deepcopy(started)
    wrong.append(Started(order.workflow_id + "-x", "ChaosChain", {"length": 1}, "perdure"))
    found = [str(v) for v in check(wrong, observed)]
    assert f"{order.workflow_id}-x: no history" in found, found


async def test_both_replayers_catch_a_changed_history(server_kill: Report) -> None:
    """A real history whose activity type is changed fails to replay in Perdure's Replayer
    and in temporalio's, and the checker names it."""
    from temporalio.api.enums.v1 import EventType

    observed = server_kill.observed
    assert observed is not None
    order = next(s for s in server_kill.started if s.kind == "ChaosOrder")
    runs = {order.workflow_id: copy.deepcopy(observed.runs[order.workflow_id])}
    assert await replay_all(runs) == {}
    run = runs[order.workflow_id][-1]
    scheduled = next(
        e for e in run.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    )
    scheduled.activity_task_scheduled_event_attributes.activity_type.name = "not_effect"
    failures = await replay_all(runs)
    failure = failures[(order.workflow_id, run.run_id)]
    assert "perdure:" in failure and "temporalio:" in failure, failure
    changed = copy.deepcopy(observed)
    changed.replay_failures = failures
    found = [str(v) for v in check(server_kill.started, changed)]
    assert any(f"run {run.run_id}: replay failed" in v for v in found), found


def test_checker_names_a_wrong_ending(server_kill: Report) -> None:
    """A workflow that completed although the driver terminated it is a violation."""
    observed = server_kill.observed
    assert observed is not None
    relabelled = copy.deepcopy(server_kill.started)
    order = next(s for s in relabelled if s.kind == "ChaosOrder" and s.ending is None)
    order.ending = "terminate"
    order.result = None
    found = [str(v) for v in check(relabelled, observed)]
    want = (
        f"{order.workflow_id}: runs closed by ['EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED'], "
        "expected ['EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED']"
    )
    assert want in found, found


def test_leftover_tasks_and_overdue_timers_are_violations() -> None:
    now = 1_800_000_000 * 10**9
    rows = {
        "tasks": [("queued-wf", 0)],
        "timers": [("overdue-wf", now - 60 * 10**9), ("retention-wf", now + 86_400 * 10**9)],
    }
    found = [str(v) for v in left_behind(rows, now)]
    assert found == [
        "queued-wf: a task is still queued after the system settled",
        "overdue-wf: a timer is 60s overdue after the system settled",
    ]
