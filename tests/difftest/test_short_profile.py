"""The differential runner's short profile: a fixed seed's generated programs and every
saved regression, each run on the real Temporal dev server and on Perdure's, compared;
and a few programs of the second profile, Perdure's own SDK driving both servers.

`python -m difftest` is the long profile (see difftest/__main__.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from difftest.check import Pair, Verdict, load_regressions
from difftest.program import Program, programs
from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.servers import ServerProcess

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]

SHORT_SEED = 19
SHORT_PROGRAMS = 5
PERDURE_SDK_SEED = 8
PERDURE_SDK_PROGRAMS = 3


@pytest.fixture(scope="module")
def pair(
    temporal_server: ServerProcess,
    perdure_server: ServerProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pair]:
    logdir: Path = tmp_path_factory.mktemp("difftest")
    p = Pair(temporal_server.target, perdure_server.target, logdir)
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def perdure_sdk_pair(
    temporal_server: ServerProcess,
    perdure_server: ServerProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pair]:
    logdir: Path = tmp_path_factory.mktemp("difftest-perdure-sdk")
    p = Pair(temporal_server.target, perdure_server.target, logdir, sdk="perdure")
    try:
        yield p
    finally:
        p.stop()


def check_generated(pair: Pair, count: int, at_seed: int) -> None:
    failures: list[Verdict] = []

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seed(at_seed)
    @given(programs())
    def run(program: Program) -> None:
        verdict = pair.check(program)
        if verdict.failed:
            failures.append(verdict)

    run()
    assert pair.programs_run == count
    assert not failures, "\n\n".join(v.report() for v in failures)


def test_generated_programs_behave_alike(pair: Pair) -> None:
    check_generated(pair, SHORT_PROGRAMS, SHORT_SEED)


def test_generated_programs_behave_alike_with_perdure_sdk(perdure_sdk_pair: Pair) -> None:
    check_generated(perdure_sdk_pair, PERDURE_SDK_PROGRAMS, PERDURE_SDK_SEED)


@pytest.mark.parametrize(
    "program", [p for _, p in load_regressions()], ids=[n for n, _ in load_regressions()]
)
def test_saved_regressions_behave_alike(pair: Pair, program: Program) -> None:
    verdict = pair.check(program)
    assert not verdict.failed, verdict.report()
