"""The benchmark's bookkeeping: percentiles, same-run ratios, timer lateness, profiles."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.agent import percentile, summarize, timer_lateness
from bench.profile import load, summary
from bench.report import fmt, markdown, same_run_ratios
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History, HistoryEvent


def _session(config: str, rep: int, wps: float, **extra: Any) -> dict[str, Any]:
    loaded = {"workflows_per_s": wps, "activities_per_s": wps * 10, "latency_ms": {"p50": wps}}
    return {
        "config": config,
        "workload": "W2",
        "rep": rep,
        "result": {"loaded": loaded},
        "cpu_loaded": {"server": 1.0, "worker": 2.0},
        "rss_mb": {"server": 50.0, "worker": 60.0},
        **extra,
    }


def test_percentile_is_nearest_rank() -> None:
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 95) == 3.0
    assert summarize([0.001, 0.002]) == {"p50": 1.0, "p95": 2.0, "p99": 2.0, "max": 2.0, "n": 2}
    assert summarize([]) == {}


def test_ratios_pair_configurations_within_a_repetition() -> None:
    # Rep 1 ran under load (both slow), rep 2 quiet: per-rep ratios are both 2.0.
    sessions = [_session("a", 1, 10), _session("b", 1, 20), _session("a", 2, 40)]
    sessions += [_session("b", 2, 80), _session("b", 3, 1, error="boom")]

    def wps(s: dict[str, Any]) -> float:
        return float(s["result"]["loaded"]["workflows_per_s"])

    assert same_run_ratios(sessions, "W2", "b", "a", [wps]) == [2.0]
    table = markdown(sessions, ["a", "b"], ["W2"])
    assert "| W2 10 seq. activities | throughput (wf/s) | 25.0 | 50.0 | 2.00 |" in table


def test_format_keeps_three_significant_figures() -> None:
    assert [fmt(v) for v in (None, 0, 0.01234, 1.234, 12.34, 1234.5)] == [
        "-", "0", "0.012", "1.23", "12.3", "1234",
    ]  # fmt: skip


def _event(kind: int, at: datetime, **attrs: Any) -> HistoryEvent:
    event = HistoryEvent(event_type=kind, **attrs)  # type: ignore[arg-type]
    event.event_time.FromDatetime(at)
    return event


def test_timer_lateness_from_history() -> None:
    t0 = datetime(2026, 1, 1)
    started = _event(EventType.EVENT_TYPE_TIMER_STARTED, t0)
    started.timer_started_event_attributes.start_to_fire_timeout.FromTimedelta(timedelta(seconds=2))
    history = History(
        events=[
            started,
            _event(EventType.EVENT_TYPE_TIMER_FIRED, t0 + timedelta(seconds=2.01)),
            _event(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, t0 + timedelta(seconds=2.01)),
            _event(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, t0 + timedelta(seconds=2.05)),
        ]
    )
    fired, resumed = timer_lateness(history)
    assert round(fired, 3) == 0.01 and resumed is not None and round(resumed, 3) == 0.05


def test_profile_summary_counts_self_and_inclusive(tmp_path: Path) -> None:
    raw = tmp_path / "p.txt"
    raw.write_text(
        "main (perdure/cli/server.py:10);commit (perdure/server/store/sqlite.py:5) 3\n"
        "main (perdure/cli/server.py:10);encode (perdure/server/engine/codec.py:7) 1\n"
    )
    own, incl, total = load(raw)
    assert total == 4
    assert own["commit (perdure/server/store/sqlite.py)"] == 3
    assert incl["main (perdure/cli/server.py)"] == 4
    assert " 75.0  commit (perdure/server/store/sqlite.py)" in summary(raw)
