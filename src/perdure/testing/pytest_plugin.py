"""pytest fixtures for workflow tests, loaded automatically where perdure is installed.

- ``perdure_env``: a fresh :py:class:`~perdure.testing.WorkflowEnvironment` per test
  (in-process engine, in memory), shut down after it;
- ``perdure_client``: that environment's client;
- ``perdure_task_queue``: a task queue name of the test's own.

The environment skips time by default (``start_time_skipping``). Choose per run with
``--perdure-env=local|time-skipping`` or the ini option ``perdure_env``, and per test
with ``@pytest.mark.perdure_env("local", **kwargs)``, whose keyword arguments go to the
start method (``serve_grpc=True``, ``namespace="..."``, ``search_attributes=[...]``).
The fixtures are async: pytest needs pytest-asyncio, in its auto mode (``asyncio_mode =
"auto"`` in the pytest configuration) so that async tests run without a marker.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from perdure.client import Client
    from perdure.testing import WorkflowEnvironment

KINDS = ("time-skipping", "local")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("perdure")
    group.addoption(
        "--perdure-env",
        choices=KINDS,
        default=None,
        help="the perdure_env fixture's environment (default: time-skipping)",
    )
    parser.addini("perdure_env", "the perdure_env fixture's environment", default="time-skipping")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "perdure_env(kind, **kwargs): the perdure_env fixture's environment for this test "
        "('time-skipping' or 'local') and the keyword arguments to start it with",
    )


def _choice(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    config = request.config
    kind = str(config.getoption("--perdure-env") or config.getini("perdure_env"))
    kwargs: dict[str, Any] = {}
    marker = request.node.get_closest_marker("perdure_env")
    if marker is not None:
        if marker.args:
            kind = str(marker.args[0])
        kwargs = dict(marker.kwargs)
    if kind not in KINDS:
        raise pytest.UsageError(f"perdure_env must be one of {', '.join(KINDS)}, not {kind!r}")
    return kind, kwargs


async def _perdure_env(request: pytest.FixtureRequest) -> AsyncIterator[WorkflowEnvironment]:
    from perdure.testing import WorkflowEnvironment

    kind, kwargs = _choice(request)
    if kind == "local":
        env = await WorkflowEnvironment.start_local(**kwargs)
    else:
        env = await WorkflowEnvironment.start_time_skipping(**kwargs)
    try:
        yield env
    finally:
        await env.shutdown()


async def _perdure_client(perdure_env: WorkflowEnvironment) -> Client:
    return perdure_env.client


def _needs_pytest_asyncio() -> None:
    pytest.fail("perdure's fixtures need pytest-asyncio (pip install pytest-asyncio)")


perdure_env: Any
perdure_client: Any
try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixtures then say what is missing
    perdure_env = pytest.fixture(_needs_pytest_asyncio, name="perdure_env")
    perdure_client = pytest.fixture(_needs_pytest_asyncio, name="perdure_client")
else:
    perdure_env = pytest_asyncio.fixture(_perdure_env, name="perdure_env")
    perdure_client = pytest_asyncio.fixture(_perdure_client, name="perdure_client")


@pytest.fixture
def perdure_task_queue() -> str:
    """A task queue name no other test uses."""
    return f"tq-{uuid.uuid4().hex[:12]}"
