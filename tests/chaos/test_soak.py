"""The chaos soak's short profile: each scenario for a few seconds of load under faults,
then the checker must find nothing; and the checker must find what is planted in real
observations, so a clean run cannot be a vacuous one."""

from __future__ import annotations

import copy
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chaos.check import (
    Observed,
    RunHistory,
    ScheduleRun,
    Started,
    check,
    check_schedule,
    decode,
    left_behind,
    replay_all,
)
from chaos.disk import unavailable as tmpfs_unavailable
from chaos.postgres import unavailable as private_postgres_unavailable
from chaos.run import POSTGRES, SCENARIOS, Report

from tests.pg import pg_unreachable
from tests.servers import REPO

pytestmark = pytest.mark.timeout(400)

HISTORIES = Path(__file__).with_name("histories")

SHORT = {
    "sqlite": "server-kill,worker-kill,disk-full,proxy-reset,proxy-delay,proxy-drop",
    "postgres": "pg-cluster,pg-freeze,pg-restart",
}
"""The short profile: each run combines the scenarios of one topology, a fault every 1-2.5 s
until each scenario has had one. The runs start with this module (an autouse fixture, on the
one worker that runs it) and go at once, each in its own process (`python -m chaos --save`),
so the suite waits for the longest, not for their sum, and this module's tests that need no
soak run meanwhile."""


def _cannot_run(scenario: str, workdir: Path) -> str | None:
    """Why this machine cannot run `scenario` (None: it can)."""
    if scenario in POSTGRES - {"pg-restart"}:
        return pg_unreachable()
    if scenario == "pg-restart":
        return private_postgres_unavailable()
    if scenario == "disk-full":
        return tmpfs_unavailable(workdir)
    return None


class Soaks:
    """The short profile's runs, started together; `report(scenario)` waits for its run."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.skipped: dict[str, str] = {}

    def start(self) -> None:
        workdir = self.workdir
        for name, combined in SHORT.items():
            scenarios = []
            for scenario in combined.split(","):
                reason = _cannot_run(scenario, workdir)
                if reason:
                    self.skipped[scenario] = reason
                else:
                    scenarios.append(scenario)
            if not scenarios:
                continue
            run_dir = workdir / name
            run_dir.mkdir()
            args = [
                sys.executable, "-m", "chaos", "--scenario", ",".join(scenarios),
                "--seconds", "6", "--every", "1-2.5", "--seed", "3", "--concurrency", "5",
                "--workdir", str(run_dir), "--save", str(run_dir / "report.pickle"),
            ]  # fmt: skip
            env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
            out = (run_dir / "output.txt").open("wb")
            self.procs[name] = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO
            )

    def report(self, scenario: str) -> Report:
        if scenario in self.skipped:
            pytest.skip(self.skipped[scenario])
        name = next(n for n, combined in SHORT.items() if scenario in combined.split(","))
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
        """Interrupt runs still going: SIGINT lets a run stop its servers, workers, private
        PostgreSQL and tmpfs (SIGTERM would leave them behind)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _needs_a_soak(item: pytest.Item) -> bool:
    return item.name.startswith("test_scenario_loses_nothing") or "server_kill" in getattr(
        item, "fixturenames", ()
    )


@pytest.fixture(scope="module", autouse=True)
def soaks(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Soaks]:
    """Module-scoped, so it starts once and only where this module runs (under xdist, a
    package fixture would start on every worker that runs any tests/chaos file)."""
    runs = Soaks(tmp_path_factory.mktemp("chaos"))
    mine = [item for item in request.session.items if item.module is request.module]
    if any(_needs_a_soak(item) for item in mine):
        runs.start()
    yield runs
    runs.stop()


@pytest.fixture(scope="module")
def server_kill(soaks: Soaks) -> Report:
    return soaks.report("server-kill")


async def test_both_replayers_catch_a_changed_history() -> None:
    """A history a soak recorded, with its activity type changed, fails to replay in
    Perdure's Replayer and in temporalio's, and the checker names it."""
    from temporalio.api.enums.v1 import EventType

    from perdure.client import WorkflowHistory

    text = (HISTORIES / "cancel_unstarted_activity.json").read_text()
    history = WorkflowHistory.from_json("recorded", text)
    first = history.events[0].workflow_execution_started_event_attributes
    wf_id, run_id = first.workflow_id, first.original_execution_run_id
    runs = {wf_id: [RunHistory(wf_id, run_id, list(history.events))]}
    # Unchanged, it replays in Perdure's Replayer (test_found.py); the soaks replay every
    # history they make in both.
    scheduled = next(
        e for e in runs[wf_id][0].events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    )  # fmt: skip
    scheduled.activity_task_scheduled_event_attributes.activity_type.name = "not_effect"
    failures = await replay_all(runs)
    failure = failures[(wf_id, run_id)]
    assert "perdure:" in failure and "temporalio:" in failure, failure
    spec = decode(first.input)
    started = [Started(wf_id, "ChaosOrder", spec, "temporalio", ending="cancel")]
    found = [str(v) for v in check(started, Observed(runs, {}, [], failures))]
    assert any(f"run {run_id}: replay failed" in v for v in found), found


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_loses_nothing(soaks: Soaks, scenario: str) -> None:
    """The run that holds `scenario` had at least one of its faults and no violation."""
    report = soaks.report(scenario)
    print(report.text())
    assert report.violations == [], report.text()
    assert report.unexpected_exits == [], report.text()
    assert any(f.scenario == scenario for f in report.faults), f"no {scenario} fault"
    assert all(s.completed_at is not None for s in report.started)
    kinds = {(s.kind, s.sdk) for s in report.started}
    assert {k for k, _ in kinds} == {"ChaosOrder", "ChaosChain"}
    assert {sdk for _, sdk in kinds} == {"perdure", "temporalio"}
    assert sum(len(s.signals_acked) for s in report.started) > 0
    assert sum(len(s.updates_acked) for s in report.started) > 0
    assert report.observed is not None and report.observed.effects
    assert any(local for *_, local in report.observed.effects), "no local activity ran"
    assert report.schedule is not None and report.schedule.started, "the schedule took no action"
    assert any(s.from_schedule for s in report.started)


def test_the_short_profile_covers_every_scenario() -> None:
    assert sorted(n for combined in SHORT.values() for n in combined.split(",")) == sorted(
        SCENARIOS
    )


def test_checker_names_planted_violations(server_kill: Report) -> None:
    """Each fault planted in the real observations of a clean run is found and named."""
    observed = server_kill.observed
    assert observed is not None
    started = server_kill.started
    assert check(started, observed) == []
    order = next(s for s in started if s.kind == "ChaosOrder" and s.signals_acked)

    doubled = copy.deepcopy(observed)
    row = next(r for r in doubled.effects if r[0] == order.workflow_id and not r[4])
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

    local = next(r for r in observed.effects if r[4])
    unrecorded = copy.deepcopy(observed)
    unrecorded.effects = [r for r in observed.effects if r[:3] != local[:3] or not r[4]]
    found = [str(v) for v in check(started, unrecorded)]
    assert any(f"local activity {local[2]} completed, no side effect" in v for v in found), found
    unrecorded.effects.append((*local[:3], 99, True))
    found = [str(v) for v in check(started, unrecorded)]
    assert any(f"local activity {local[2]} ran attempt 99" in v for v in found), found
    unrecorded.effects.append((local[0], local[1], "77", 1, True))
    found = [str(v) for v in check(started, unrecorded)]
    assert any("side effect of local activity 77, no marker" in v for v in found), found

    once = next(
        (wf, run.run_id, e.activity_task_scheduled_event_attributes.activity_id)
        for wf, runs in observed.runs.items()
        for run in runs
        for e in run.events
        if e.activity_task_scheduled_event_attributes.retry_policy.maximum_attempts == 1
    )
    rerun = copy.deepcopy(observed)
    rerun.effects.append((*once, 2, False))
    found = [str(v) for v in check(started, rerun)]
    assert any(f"activity {once[2]} has retries off and 2 side effects" in v for v in found)

    wrong = copy.deepcopy(started)
    wrong.append(Started(order.workflow_id + "-x", "ChaosChain", {"length": 1}, "perdure"))
    found = [str(v) for v in check(wrong, observed)]
    assert f"{order.workflow_id}-x: no history" in found, found


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


def test_checker_holds_a_cancelled_order_to_one_cancel_request(server_kill: Report) -> None:
    """A cancelled order must show the cancel request once; completed instead, it is a
    violation unless the driver released it (its cancellation spent)."""
    observed = server_kill.observed
    assert observed is not None
    relabelled = copy.deepcopy(server_kill.started)
    order = next(s for s in relabelled if s.kind == "ChaosOrder" and s.ending is None)
    order.ending = "cancel"
    found = [str(v) for v in check(relabelled, observed)]
    assert f"{order.workflow_id}: the cancel request appears 0 times" in found, found
    assert any(order.workflow_id in v and "runs closed by" in v for v in found), found
    order.released = True
    found = [str(v) for v in check(relabelled, observed)]
    assert not any(order.workflow_id in v and "runs closed by" in v for v in found), found


def test_a_schedule_that_missed_or_stopped_its_actions_is_a_violation() -> None:
    created = datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC).timestamp()
    due = [datetime(2026, 1, 1, 12, 0, s, tzinfo=UTC) for s in range(3, 31, 3)]
    run = ScheduleRun("s", every=3.0, created_at=created, deleted_at=created + 31)
    run.started = [f"s-scheduled-{t:%Y-%m-%dT%H:%M:%SZ}" for t in due]
    assert run.least_actions() == 10
    assert check_schedule(run) == []
    del run.started[4]  # 12:00:15 missed
    assert [str(v) for v in check_schedule(run)] == ["s: started 9 workflows, 10 were due"]
    run.started = run.started[:3]  # nothing after 12:00:09
    run.deleted_at = created + 60
    assert [str(v) for v in check_schedule(run)] == [
        "s: took no action in the 52s before its deletion"
    ]


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
