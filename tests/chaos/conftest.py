"""The short profile's soaks start with the package when its tests are collected, so every
other test here runs while they do (tests/chaos/test_soak.py waits for them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chaos.test_soak import Soaks


@pytest.fixture(scope="package", autouse=True)
def soaks(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Soaks]:
    runs = Soaks(tmp_path_factory.mktemp("chaos"))
    if any(item.path.name == "test_soak.py" for item in request.session.items):
        runs.start()
    yield runs
    runs.stop()
