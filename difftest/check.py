"""One program on both servers at once, compared; a mismatch is run again to tell a real
difference from a program whose outcome depends on timing."""

from __future__ import annotations

import itertools
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from difftest.compare import Diff, compare, normalise, render
from difftest.driver import Runner
from difftest.known import Known, classify
from difftest.program import Program

REGRESSIONS = Path(__file__).resolve().parent / "regressions"
RUN_LIMIT_S = 150.0


@dataclass
class Verdict:
    program: Program
    diffs: list[Diff] = field(default_factory=list)
    known: list[tuple[Diff, Known]] = field(default_factory=list)
    unknown: list[Diff] = field(default_factory=list)
    flaky: list[tuple[str, Diff]] = field(default_factory=list)
    """Differences between two runs on the same server: the program depends on timing."""
    outcomes: dict[str, Any] = field(default_factory=dict)
    crashed: str = ""
    """The driver failed on both servers: a difftest problem, reported, not a mismatch."""

    @property
    def failed(self) -> bool:
        return bool(self.unknown)

    def report(self) -> str:
        lines = [f"program:\n{self.program.dumps()}"]
        if self.crashed:
            lines.append(f"the driver failed on both servers:\n{self.crashed}")
        if self.flaky:
            lines.append("timing-dependent (differs between two runs on one server):")
            for side, d in self.flaky:
                lines.append(f"[{side}: first run vs second run] {d.render()}")
        if self.known:
            ids = sorted({k.id for _, k in self.known})
            lines.append(f"known mismatches: {', '.join(ids)}")
        if self.unknown:
            lines.append("UNKNOWN mismatches (- temporal, + perdure):")
            lines.append(render(self.unknown))
        return "\n".join(lines)


class Pair:
    """A driver for each server, both with the same SDK (see sdk.py); runs programs on
    both at once."""

    def __init__(
        self, temporal_target: str, perdure_target: str, logdir: Path, sdk: str = "temporalio"
    ) -> None:
        logdir.mkdir(parents=True, exist_ok=True)
        self.logdir = logdir
        self.sdk = sdk
        self.runners = {
            "temporal": Runner(temporal_target, logdir / f"driver-{sdk}-temporal.log", sdk),
            "perdure": Runner(perdure_target, logdir / f"driver-{sdk}-perdure.log", sdk),
        }
        self.counter = itertools.count()
        self.session = uuid.uuid4().hex[:6]
        self.coverage: Counter[str] = Counter()
        self.programs_run = 0

    def run(self, program: Program) -> dict[str, dict[str, Any]]:
        n = next(self.counter)
        for name, runner in self.runners.items():
            runner.send(program, f"{self.session}-{n}-{name[0]}", RUN_LIMIT_S)
        return {name: r.receive(RUN_LIMIT_S + 30) for name, r in self.runners.items()}

    def check(self, program: Program) -> Verdict:
        self.programs_run += 1
        self.coverage.update(set(program.ops()))
        first = self.run(program)
        verdict = Verdict(program, outcomes=first)
        if first["temporal"].get("crash") and first["perdure"].get("crash"):
            verdict.crashed = first["temporal"]["crash"]
            return verdict
        diffs = compare(first["temporal"], first["perdure"])
        if not diffs:
            return verdict
        again = self.run(program)
        verdict.flaky = [
            (side, d) for side in ("temporal", "perdure") for d in compare(first[side], again[side])
        ]
        if verdict.flaky:
            return verdict
        verdict.diffs = diffs
        verdict.known, verdict.unknown = classify(diffs, program)
        return verdict

    def stop(self) -> None:
        for r in self.runners.values():
            r.stop()


def save_regression(verdict: Verdict, name: str | None = None) -> Path:
    """Keep a program that found a mismatch; the test suite replays every saved one."""
    REGRESSIONS.mkdir(exist_ok=True)
    text = verdict.program.dumps()
    name = name or f"r{uuid.uuid5(uuid.NAMESPACE_OID, text).hex[:10]}"
    path = REGRESSIONS / f"{name}.json"
    data = {
        "found": render(verdict.unknown or [d for d, _ in verdict.known])[:4000],
        "known": sorted({k.id for _, k in verdict.known}),
        "program": verdict.program.to_json(),
    }
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return path


def load_regressions() -> list[tuple[str, Program]]:
    out = []
    for path in sorted(REGRESSIONS.glob("*.json")):
        data = json.loads(path.read_text())
        out.append((path.stem, Program.from_json(data["program"])))
    return out


def side_by_side(outcomes: dict[str, Any]) -> str:
    """Both normalised histories, event types only, side by side."""
    t, p = normalise(outcomes["temporal"]), normalise(outcomes["perdure"])
    lines = []
    for i in range(max(len(t.get("runs") or []), len(p.get("runs") or []))):
        ta = (
            [e.get("eventType", "")[11:] for e in (t.get("runs") or [[]] * (i + 1))[i]]
            if i < len(t.get("runs") or [])
            else []
        )
        pa = (
            [e.get("eventType", "")[11:] for e in (p.get("runs") or [])[i]]
            if i < len(p.get("runs") or [])
            else []
        )
        lines.append(f"run {i}: {'temporal':<40} perdure")
        for j in range(max(len(ta), len(pa))):
            a = ta[j] if j < len(ta) else ""
            b = pa[j] if j < len(pa) else ""
            mark = " " if a == b else "!"
            lines.append(f" {mark}{j + 1:3} {a:<40} {b}")
    return "\n".join(lines)
