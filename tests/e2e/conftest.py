"""Fixtures for end-to-end tests: official temporalio clients connected to a server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client

from tests.servers import ServerProcess


@pytest.fixture(scope="session")
async def perdure_client(perdure_server: ServerProcess) -> AsyncIterator[Client]:
    """The official SDK's client, connected to Perdure's server."""
    yield await Client.connect(perdure_server.target)


@pytest.fixture(scope="session")
async def temporal_client(temporal_server: ServerProcess) -> AsyncIterator[Client]:
    """The official SDK's client, connected to the real Temporal dev server."""
    yield await Client.connect(temporal_server.target)


@pytest.fixture(scope="session")
async def official_client(any_server: ServerProcess) -> AsyncIterator[Client]:
    """The official SDK's client on each server in turn (Perdure's and the real one)."""
    yield await Client.connect(any_server.target)
