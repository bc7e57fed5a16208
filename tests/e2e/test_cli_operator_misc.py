"""Everyday operator commands that call RPCs of their own: `temporal operator cluster list`
(OperatorService.ListClusters)."""

from __future__ import annotations

import pytest

from tests.e2e.test_cli import cli
from tests.servers import ServerProcess

pytestmark = pytest.mark.timeout(60)


async def test_cluster_list(any_server: ServerProcess) -> None:
    out = (await cli(any_server, "operator", "cluster", "list", "-o", "json")).json()
    assert [c["clusterName"] for c in out] == ["active"]
    assert out[0]["isConnectionEnabled"] is True
    assert out[0]["historyShardCount"] == 1
    assert out[0]["initialFailoverVersion"] == "1"
    card = (await cli(any_server, "operator", "cluster", "list")).out
    assert "active" in card
