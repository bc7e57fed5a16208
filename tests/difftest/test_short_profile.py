"""The differential runner's short profile: a fixed seed's generated programs and every
saved regression, each run on the real Temporal dev server and on Perdure's, compared.

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


def test_generated_programs_behave_alike(pair: Pair) -> None:
    failures: list[Verdict] = []

    @settings(
        max_examples=SHORT_PROGRAMS,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seed(SHORT_SEED)
    @given(programs())
    def run(program: Program) -> None:
        verdict = pair.check(program)
        if verdict.failed:
            failures.append(verdict)

    run()
    assert pair.programs_run == SHORT_PROGRAMS
    assert not failures, "\n\n".join(v.report() for v in failures)


@pytest.mark.parametrize(
    "program", [p for _, p in load_regressions()], ids=[n for n, _ in load_regressions()]
)
def test_saved_regressions_behave_alike(pair: Pair, program: Program) -> None:
    verdict = pair.check(program)
    assert not verdict.failed, verdict.report()
