"""The pytest plugin's fixtures, run in a fresh pytest process (pytester)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

TESTS = """
from datetime import timedelta
import time

import pytest

from perdure import workflow
from perdure.worker import Worker


@workflow.defn
class Month:
    @workflow.run
    async def run(self) -> float:
        start = workflow.now()
        await workflow.sleep(timedelta(days=31))
        return (workflow.now() - start).total_seconds()


async def test_default_skips_time(perdure_env, perdure_client, perdure_task_queue):
    assert perdure_env.supports_time_skipping
    assert perdure_client is perdure_env.client
    started = time.monotonic()
    async with Worker(perdure_client, task_queue=perdure_task_queue, workflows=[Month]):
        waited = await perdure_client.execute_workflow(
            Month.run, id="m", task_queue=perdure_task_queue
        )
    assert waited >= 31 * 86400
    assert time.monotonic() - started < 5


@pytest.mark.perdure_env("local", namespace="marked")
async def test_marker_picks_kind_and_arguments(perdure_env, perdure_client):
    assert not perdure_env.supports_time_skipping
    assert perdure_client.namespace == "marked"


async def test_each_test_has_a_fresh_engine(perdure_client):
    handle = await perdure_client.start_workflow("Absent", id="m", task_queue="nobody")
    assert (await handle.describe()).workflow_type == "Absent"


async def test_reports_kind(perdure_env):
    print("SKIPS=", perdure_env.supports_time_skipping)
"""

INI = """
[pytest]
asyncio_mode = auto
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makepyfile(test_workflows=TESTS)
    return pytester


def test_fixtures_need_no_boilerplate(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*SKIPS= True*"])


def test_command_line_option_chooses_the_environment(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess(
        "-p", "no:cacheprovider", "-s", "--perdure-env=local", "-k", "reports_kind or marker"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*SKIPS= False*"])


def test_unknown_kind_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makeini(INI + "perdure_env = sometimes\n")
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-k", "reports_kind")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*perdure_env must be one of*"])
