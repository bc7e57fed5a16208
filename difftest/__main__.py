"""`python -m difftest --programs N --seed S [--minutes M] [--sdk perdure]`: the long profile.

Starts the real Temporal dev server and Perdure's, generates programs with Hypothesis,
runs each on both (with the official SDK's worker and client, or Perdure's with `--sdk`),
and on an unknown mismatch lets Hypothesis shrink the program, prints the diff and both
histories side by side, and saves it under difftest/regressions/. Then it goes on with
the next seed until the budget is spent, and ends with the counts: programs run,
mismatches (unknown, known, timing-dependent) and coverage of every action and stimulus.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Flaky

from difftest.check import Pair, Verdict, save_regression, side_by_side
from difftest.program import Program, programs
from difftest.sdk import SDKS

SHRINK_GRACE_S = 300.0
"""How long a shrink that began before the deadline may go on past it."""


@dataclass
class Tally:
    """What a long run saw besides unknown mismatches."""

    known: Counter[str] = field(default_factory=Counter)
    flaky: int = 0


def one_seed(
    pair: Pair, s: int, budget: int, deadline: float, shrink: bool, tally: Tally
) -> Verdict | None:
    """Generate up to `budget` programs from seed `s`; the first unknown mismatch is
    shrunk by Hypothesis and returned (its last, smallest failing form)."""
    failing: list[Verdict] = []

    @settings(
        max_examples=budget,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate, Phase.shrink] if shrink else [Phase.generate],
        print_blob=False,
    )
    @seed(s)
    @given(programs())
    def prop(program: Program) -> None:
        if time.monotonic() > deadline + (SHRINK_GRACE_S if failing else 0):
            return  # out of time: the rest passes, so a shrink ends at its smallest so far
        v = pair.check(program)
        status = (
            "UNKNOWN MISMATCH"
            if v.failed
            else "driver failed on both servers"
            if v.crashed
            else "timing-dependent"
            if v.flaky
            else "known: " + ", ".join(sorted({k.id for _, k in v.known}))
            if v.known
            else "same"
        )
        print(f"[{pair.programs_run}] {status}", flush=True)
        tally.known.update({k.id for _, k in v.known})
        tally.flaky += bool(v.flaky)
        if v.flaky or v.crashed:
            print(f"[timing-dependent or crashed program skipped]\n{v.report()}\n", flush=True)
        if v.failed:
            failing.append(v)
            raise AssertionError("mismatch")

    try:
        prop()
    except (AssertionError, Flaky):
        return failing[-1]
    return None


def run(pair: Pair, count: int, first_seed: int, minutes: float, shrink: bool, save: bool) -> int:
    deadline = time.monotonic() + minutes * 60
    tally = Tally()
    found: list[Verdict] = []
    s = first_seed
    while pair.programs_run < count and time.monotonic() < deadline:
        v = one_seed(pair, s, count - pair.programs_run, deadline, shrink, tally)
        s += 1
        if v is None:
            continue
        found.append(v)
        print("=" * 100)
        print(v.report())
        print(side_by_side(v.outcomes))
        dump = pair.logdir / f"mismatch-{len(found)}.json"
        dump.write_text(json.dumps(v.outcomes, indent=1, default=str))
        print(f"outcomes: {dump}")
        if save:
            print(f"saved: {save_regression(v)}")
        sys.stdout.flush()
    print("=" * 100)
    print(f"programs run: {pair.programs_run}")
    print(f"unknown mismatches (shrunk): {len(found)}")
    print(f"timing-dependent programs: {tally.flaky}")
    seen = ", ".join(f"{k} x{n}" for k, n in tally.known.most_common()) or "none"
    print(f"known mismatches seen: {seen}")
    print("coverage:")
    for op, n in sorted(pair.coverage.items()):
        print(f"  {op:<50} {n}")
    return 1 if found else 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m difftest", description=__doc__)
    parser.add_argument("--programs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--sdk", choices=SDKS, default="temporalio", help="worker and client SDK")
    parser.add_argument("--no-shrink", action="store_true")
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--temporal", help="target of a running Temporal server (else started)")
    parser.add_argument("--perdure", help="target of a running Perdure server (else started)")
    args = parser.parse_args()

    from tests.servers import start_perdure_server, start_temporal_server

    work = Path(tempfile.mkdtemp(prefix="difftest-"))
    servers = []
    try:
        if args.temporal:
            t_target = args.temporal
        else:
            servers.append(start_temporal_server(work / "temporal"))
            t_target = servers[-1].target
        if args.perdure:
            p_target = args.perdure
        else:
            servers.append(start_perdure_server(work / "perdure"))
            p_target = servers[-1].target
        pair = Pair(t_target, p_target, work, args.sdk)
        print(f"work dir: {work}, sdk: {args.sdk}", flush=True)
        try:
            code = run(
                pair, args.programs, args.seed, args.minutes, not args.no_shrink, not args.no_save
            )
        finally:
            pair.stop()
    finally:
        for server in servers:
            server.stop()
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
