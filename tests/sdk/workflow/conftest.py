"""Fixtures for workflow runtime tests: Perdure clients on the servers, activities."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from perdure import activity
from perdure.client import Client
from tests.servers import ServerProcess


@pytest.fixture(scope="session")
async def client(temporal_server: ServerProcess) -> AsyncIterator[Client]:
    """Perdure's client on the real Temporal dev server."""
    yield await Client.connect(temporal_server.target)


@pytest.fixture(scope="session")
async def any_client(any_server: ServerProcess) -> AsyncIterator[Client]:
    """Perdure's client on each server in turn (Perdure's and the real one)."""
    yield await Client.connect(any_server.target)


@activity.defn(name="greet")
async def greet(name: str) -> str:
    """Say hello."""
    return f"hello {name}"


@activity.defn(name="slow")
async def slow() -> None:
    """Heartbeat until cancelled."""
    while True:
        await asyncio.sleep(0.1)
        activity.heartbeat()


@activity.defn(name="fail")
async def fail() -> None:
    """Always fail."""
    raise RuntimeError("activity boom")


@activity.defn(name="nap")
async def nap(seconds: float) -> str:
    """Sleep, then answer (a long local activity)."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


ACTIVITIES = [greet, slow, fail, nap]
