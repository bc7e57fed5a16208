"""Turn the raw per-session figures into medians, same-run ratios and a markdown table.

Ratios are taken per repetition (the configurations of one repetition run back to back,
under the same background load) and the median of those is reported, which is steadier
on a shared machine than a ratio of medians.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from typing import Any

CONFIGS: dict[str, tuple[str, str, str]] = {
    # key: (server, sdk, label)
    "a": ("temporal", "temporalio", "(a) Temporal + official SDK"),
    "b": ("perdure", "temporalio", "(b) Perdure + official SDK"),
    "c": ("perdure", "perdure", "(c) Perdure + Perdure SDK"),
    "d": ("temporal", "perdure", "(d) Temporal + Perdure SDK"),
    # (b) with the server's Prometheus metrics on: what metrics cost.
    "e": ("perdure-metrics", "temporalio", "(e) Perdure --metrics-port + official SDK"),
}
# Each Perdure configuration against the all-Temporal baseline it replaces a part of.
RATIOS = [("b", "a"), ("c", "a"), ("d", "a"), ("e", "b")]

WORKLOAD_TITLES = {
    "W1": "W1 1 activity",
    "W2": "W2 10 seq. activities",
    "W3": "W3 2 s timers at once",
    "W4": "W4 signal round trip",
    "W5": "W5 fan-out 100 activities",
    "W6": "W6 100 seq. activities",
    "W7": "W7 every-second schedules",
}

Getter = Callable[[dict[str, Any]], float | None]


def _dig(session: dict[str, Any], *path: str) -> float | None:
    value: Any = session
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def _lat(phase: str, p: str) -> Getter:
    return lambda s: _dig(s, "result", phase, "latency_ms", p)


def metrics_for(workload: str) -> list[tuple[str, list[Getter]]]:
    """(row label, getters) for a workload; a row with several getters shows a/b/c."""
    cost: list[tuple[str, list[Getter]]] = [
        ("server CPU s (loaded phase)", [lambda s: _dig(s, "cpu_loaded", "server")]),
        ("worker CPU s (loaded phase)", [lambda s: _dig(s, "cpu_loaded", "worker")]),
        ("server peak RSS MiB", [lambda s: _dig(s, "rss_mb", "server")]),
        ("worker peak RSS MiB", [lambda s: _dig(s, "rss_mb", "worker")]),
    ]
    if workload == "W7":
        return [
            (
                "fire late p50/p99/max ms",
                [
                    lambda s, p=p: _dig(s, "result", "loaded", "fire_late_ms", p)
                    for p in ("p50", "p99", "max")
                ],
            ),
            ("fires taken / due", [lambda s: _dig(s, "result", "loaded", "fires_taken_ratio")]),
            *cost,
        ]
    if workload == "W3":
        return [
            ("start rate (wf/s)", [lambda s: _dig(s, "result", "loaded", "start_rate_per_s")]),
            (
                "timer fired late p50/p95/max ms",
                [
                    lambda s, p=p: _dig(s, "result", "loaded", "timer_fired_late_ms", p)
                    for p in ("p50", "p95", "max")
                ],
            ),
            (
                "workflow resumed late p50/p95/max ms",
                [
                    lambda s, p=p: _dig(s, "result", "loaded", "timer_resumed_late_ms", p)
                    for p in ("p50", "p95", "max")
                ],
            ),
            *cost,
        ]
    what = "signal→result" if workload == "W4" else "start→result"
    rows: list[tuple[str, list[Getter]]] = [
        ("throughput (wf/s)", [lambda s: _dig(s, "result", "loaded", "workflows_per_s")]),
    ]
    if workload in ("W2", "W5", "W6"):
        rows.append(("activities/s", [lambda s: _dig(s, "result", "loaded", "activities_per_s")]))
    rows += [
        (f"{what} loaded p50/p95/p99 ms", [_lat("loaded", p) for p in ("p50", "p95", "p99")]),
        (
            f"{what} unloaded p50/p95/p99 ms",
            [_lat("unloaded", p) for p in ("p50", "p95", "p99")],
        ),
        *cost,
    ]
    return rows


def median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3f}"


def _ok(sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in sessions if not s.get("error")]


def config_medians(
    sessions: list[dict[str, Any]], workload: str, config: str, getters: list[Getter]
) -> list[float | None]:
    mine = [s for s in _ok(sessions) if s["workload"] == workload and s["config"] == config]
    return [median(g(s) for s in mine) for g in getters]


def same_run_ratios(
    sessions: list[dict[str, Any]], workload: str, num: str, den: str, getters: list[Getter]
) -> list[float | None]:
    """Median over repetitions of num/den, each taken within one repetition."""
    by_rep: dict[tuple[str, int], dict[str, Any]] = {
        (s["config"], s["rep"]): s for s in _ok(sessions) if s["workload"] == workload
    }
    out: list[float | None] = []
    for g in getters:
        ratios = []
        for (config, rep), s in by_rep.items():
            other = by_rep.get((den, rep))
            if config != num or other is None:
                continue
            a, b = g(s), g(other)
            if a is not None and b:
                ratios.append(a / b)
        out.append(median(ratios))
    return out


def step_cost_rows(sessions: list[dict[str, Any]], configs: list[str]) -> list[str]:
    """W6 activities/s over W2's: 1.0 means a step costs the same at 100 steps as at 10."""

    def act(s: dict[str, Any]) -> float | None:
        return _dig(s, "result", "loaded", "activities_per_s")

    cells = []
    for c in configs:
        w2 = config_medians(sessions, "W2", c, [act])[0]
        w6 = config_medians(sessions, "W6", c, [act])[0]
        cells.append(fmt(w6 / w2) if w2 and w6 else "-")
    return cells


def markdown(sessions: list[dict[str, Any]], configs: list[str], workloads: list[str]) -> str:
    """The results table: medians per configuration, then same-run ratios."""
    ratios = [(n, d) for n, d in RATIOS if n in configs and d in configs]
    head = ["Workload", "Metric", *(CONFIGS[c][2] for c in configs)]
    head += [f"{n}/{d}" for n, d in ratios]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for w in workloads:
        for i, (label, getters) in enumerate(metrics_for(w)):
            cells = [WORKLOAD_TITLES.get(w, w) if i == 0 else "", label]
            for c in configs:
                cells.append(" / ".join(fmt(v) for v in config_medians(sessions, w, c, getters)))
            for n, d in ratios:
                rs = same_run_ratios(sessions, w, n, d, getters)
                cells.append(" / ".join(fmt(r) for r in rs))
            lines.append("| " + " | ".join(cells) + " |")
    if "W2" in workloads and "W6" in workloads:
        cells = ["W6 vs W2", "activities/s ratio (1.0 = flat cost per step)"]
        cells += step_cost_rows(sessions, configs) + [""] * len(ratios)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def failures(sessions: list[dict[str, Any]]) -> list[str]:
    """One line per failed session or per workflow that failed inside a measured phase."""
    out = []
    for s in sessions:
        where = f"{s['config']} {s['workload']} rep {s['rep']}"
        if s.get("error"):
            out.append(f"{where}: {s['error']}")
            continue
        for phase in ("unloaded", "loaded"):
            r = (s.get("result") or {}).get(phase) or {}
            if r.get("errors"):
                out.append(f"{where} {phase}: {r['errors']} errors, e.g. {r.get('first_error')}")
    return out
