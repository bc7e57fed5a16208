"""The chaos soak's short profile: each scenario for a few seconds of load under faults,
then the checker must find nothing; and the checker must find what is planted in real
observations, so a clean run cannot be a vacuous one."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaos.check import Started, check, left_behind, replay_all
from chaos.run import Report, run_scenario

from tests.pg import pg_unreachable

pytestmark = pytest.mark.timeout(400)


def _soak(scenario: str, seconds: float, workdir: Path) -> Report:
    return asyncio.run(run_scenario(scenario, seconds, seed=3, workdir=workdir, concurrency=5))


def _assert_clean(report: Report) -> None:
    print(report.text())
    assert report.violations == [], report.text()
    assert report.unexpected_exits == [], report.text()
    assert report.faults, "no fault was injected"
    assert all(s.completed_at is not None for s in report.started)
    kinds = {(s.kind, s.sdk) for s in report.started}
    assert {k for k, _ in kinds} == {"ChaosOrder", "ChaosChain"}
    assert {sdk for _, sdk in kinds} == {"perdure", "temporalio"}
    assert sum(len(s.signals_acked) for s in report.started) > 0
    assert sum(len(s.updates_acked) for s in report.started) > 0
    assert report.observed is not None and report.observed.effects


@pytest.fixture(scope="module")
def server_kill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Report]:
    yield _soak("server-kill", 20, tmp_path_factory.mktemp("server-kill"))


def test_server_sigkill_on_sqlite_loses_nothing(server_kill: Report) -> None:
    _assert_clean(server_kill)


def test_worker_sigkill_loses_nothing(tmp_path: Path) -> None:
    _assert_clean(_soak("worker-kill", 15, tmp_path))


def test_connection_resets_lose_nothing(tmp_path: Path) -> None:
    _assert_clean(_soak("proxy-reset", 12, tmp_path))


@pytest.mark.postgres
def test_cluster_member_sigkill_on_postgresql_loses_nothing(tmp_path: Path) -> None:
    reason = pg_unreachable()
    if reason:
        pytest.skip(reason)
    _assert_clean(_soak("pg-cluster", 15, tmp_path))


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


@pytest.mark.postgres
def test_cluster_member_frozen_on_postgresql_loses_nothing(tmp_path: Path) -> None:
    reason = pg_unreachable()
    if reason:
        pytest.skip(reason)
    _assert_clean(_soak("pg-freeze", 15, tmp_path))


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
