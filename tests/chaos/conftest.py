"""The short profile's soaks start with the package when its tests are collected, so every
other test here runs while they do (tests/chaos/test_soak.py waits for them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chaos.test_soak import Soaks


def _needs_a_soak(item: pytest.Item) -> bool:
    return item.name.startswith("test_scenario_loses_nothing") or "server_kill" in getattr(
        item, "fixturenames", ()
    )


@pytest.fixture(scope="package", autouse=True)
def soaks(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Soaks]:
    runs = Soaks(tmp_path_factory.mktemp("chaos"))
    if any(_needs_a_soak(item) for item in request.session.items):
        runs.start()
    yield runs
    runs.stop()
