"""delete_namespace: the namespace is renamed and marked deleted at once, its runs are
deleted in the background (running ones terminated first)."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.api.enums.v1 import namespace_pb2 as ns_enums

from perdure.server.errors import NamespaceNotFound
from perdure.server.history.api.delete_namespace import NamespaceDeletion, deleted_name
from perdure.server.namespaces import NamespaceRegistry
from perdure.server.store.base import ExecutionKey
from tests.server.engine.helpers import complete_workflow
from tests.server.history.api.conftest import Env


async def test_the_namespace_goes_at_once_and_its_runs_after(env: Env) -> None:
    running = await env.start("running")
    closed = await env.start("closed")
    await env.run_task("closed", complete_workflow())
    registry = NamespaceRegistry(env.store)
    deletion = NamespaceDeletion(env.history, registry, "sqlite")

    new_name = await deletion.delete(env.ns)

    assert new_name == deleted_name(env.ns) and new_name.startswith("default-deleted-")
    with pytest.raises(NamespaceNotFound):
        await registry.get("default")
    gone = await registry.get(new_name)
    assert gone.info.state == ns_enums.NAMESPACE_STATE_DELETED and gone.id == env.ns.id
    for _ in range(100):
        keys = [
            ExecutionKey(env.ns.id, w, r) for w, r in (("running", running), ("closed", closed))
        ]
        if all([await env.store.load_execution(k) is None for k in keys]):
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the namespace's runs were not deleted")
    await deletion.close()
