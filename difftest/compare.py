"""Normalise two servers' outcomes of one program and list where they differ.

Normalising removes what legitimately differs between any two runs: times, task and
event-store ids, identities, request ids, the per-run token in workflow ids and task
queue names, and UUIDs (run ids), which become <id1>, <id2>… in order of appearance.
Payloads are decoded so a diff shows values, not base64.
"""

from __future__ import annotations

import base64
import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")
STICKY = re.compile(r"\d+@\S+-[0-9a-f]{32}")
"""A worker's sticky queue: its process id and host, and a random part."""
TIMING_DURATIONS = {"firstWorkflowTaskBackoff"}
"""Durations that depend on timing: a continued run's first task waits until at least a
second has passed since the previous run started (both servers)."""
SORTED_KEYS = {"coreUsedFlags", "langUsedFlags"}
"""Sets the SDK sends in no particular order."""
DROPPED_KEYS = {
    "eventTime",
    "taskId",
    "identity",
    "requestId",
    "token",
    "expirationTime",
    "lastHeartbeatTime",
    "lastStartedTime",
    "scheduledTime",
    "startedTime",
    "originalScheduledTime",
    # The encoded size of the history so far: varies with the ids' and times' encodings.
    "historySizeBytes",
    # The worker's Python stack at the failure: which frames it shows depends on where the
    # workflow's coroutines were suspended (a replay from a full history, timing).
    "stackTrace",
}


@dataclass(frozen=True)
class Diff:
    """One difference: where, and each server's value (None when absent)."""

    path: str
    temporal: Any
    perdure: Any

    def render(self) -> str:
        return (
            f"{self.path}:\n  temporal: {_short(self.temporal)}\n  perdure:  {_short(self.perdure)}"
        )


def _short(value: Any, limit: int = 400) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def _decode_payload(value: dict[str, Any]) -> Any:
    meta = value.get("metadata", {})
    enc = base64.b64decode(meta.get("encoding", "")).decode(errors="replace")
    data = base64.b64decode(value.get("data", ""))
    if enc == "json/plain":
        try:
            return json.loads(data)
        except ValueError:
            return data.decode(errors="replace")
    if enc == "binary/null":
        return None
    return {"encoding": enc, "data": data.decode(errors="replace")}


def normalise(outcome: dict[str, Any]) -> dict[str, Any]:
    token = outcome.get("token", "")
    ids: dict[str, str] = {}

    def fix_str(s: str) -> str:
        if STICKY.fullmatch(s):
            return "<sticky-queue>"
        if token:
            s = s.replace(token, "<T>")

        def rename(m: re.Match[str]) -> str:
            return ids.setdefault(m.group(0), f"<id{len(ids) + 1}>")

        return UUID.sub(rename, s)

    def fix_value(k: str, x: Any) -> Any:
        if k in SORTED_KEYS:
            return sorted(x)
        if k in TIMING_DURATIONS and isinstance(x, str) and x not in ("0s", ""):
            return "<positive>"
        return walk(x)

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            if (
                "metadata" in v
                and "encoding" in v.get("metadata", {})
                and set(v) <= {"metadata", "data"}
            ):
                return walk(_decode_payload(v))
            if "continuedExecutionRunId" in v:
                # A continued run's first task waits until a second has passed since the
                # previous run started: whether it waits at all depends on timing.
                v = {k: x for k, x in v.items() if k != "firstWorkflowTaskBackoff"}
            return {
                (k.replace(token, "<T>") if token else k): fix_value(k, x)
                for k, x in v.items()
                if k not in DROPPED_KEYS and not k.endswith(("Time", "_time"))
            }
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str):
            return fix_str(v)
        return v

    # Histories first: ids are numbered in the order the runs and children show them, so a
    # difference elsewhere (a describe field only one server has) does not renumber them.
    first = ("runs", "children")
    ordered = {k: outcome[k] for k in first if k in outcome}
    ordered.update((k, v) for k, v in outcome.items() if k not in first and k != "token")
    out: dict[str, Any] = walk(ordered)
    return out


def _event_line(e: dict[str, Any]) -> str:
    etype = str(e.get("eventType", "?")).removeprefix("EVENT_TYPE_")
    return etype


def _diff_values(path: str, a: Any, b: Any, out: list[Diff]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            _diff_values(f"{path}.{k}", a.get(k), b.get(k), out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff_values(f"{path}[{i}]", x, y, out)
    elif a != b:
        out.append(Diff(path, a, b))


def _diff_history(
    path: str, a: list[dict[str, Any]], b: list[dict[str, Any]], out: list[Diff]
) -> None:
    la = [_event_line(e) for e in a]
    lb = [_event_line(e) for e in b]
    if la != lb:
        text = "\n".join(difflib.unified_diff(la, lb, "temporal", "perdure", lineterm="", n=2))
        out.append(Diff(f"{path}.eventTypes", text, "(the unified diff: - temporal, + perdure)"))
        return
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        _diff_values(f"{path}[{i}:{la[i]}]", x, y, out)


def compare(temporal: dict[str, Any], perdure: dict[str, Any]) -> list[Diff]:
    """Every difference between two outcomes, histories first as event-type sequences."""
    a, b = normalise(temporal), normalise(perdure)
    out: list[Diff] = []
    if bool(a.get("crash")) != bool(b.get("crash")):  # both crashing is the driver's fault
        out.append(Diff("crash", a.get("crash"), b.get("crash")))
    runs_a, runs_b = a.get("runs") or [], b.get("runs") or []
    if len(runs_a) != len(runs_b):
        out.append(Diff("runs.count", len(runs_a), len(runs_b)))
    for i, (ra, rb) in enumerate(zip(runs_a, runs_b, strict=False)):
        _diff_history(f"runs[{i}]", ra, rb, out)
    ca, cb = a.get("children") or {}, b.get("children") or {}
    for cid in sorted(set(ca) | set(cb)):
        _diff_history(f"children[{cid}]", ca.get(cid) or [], cb.get(cid) or [], out)
    for key in sorted((set(a) | set(b)) - {"runs", "children", "crash"}):
        _diff_values(key, a.get(key), b.get(key), out)
    return out


def render(diffs: list[Diff]) -> str:
    return "\n".join(d.render() for d in diffs)
