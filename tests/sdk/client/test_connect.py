"""Client.connect: the first contact with a server, and the targets it documents."""

from __future__ import annotations

import pydoc
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from temporalio.client import Client as TemporalClient

from perdure import workflow
from perdure.client import Client
from tests.servers import free_port


@workflow.defn
class Idle:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


@pytest.mark.parametrize("sdk", [Client, TemporalClient], ids=["perdure", "temporalio"])
async def test_refused_connection_fails_at_once(sdk: type[Client] | type[TemporalClient]) -> None:
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="Failed client connect"):
        await sdk.connect(f"127.0.0.1:{free_port()}")
    assert time.monotonic() - started < 1.5


async def test_connect_timeout_bounds_the_first_contact(silent_port: int) -> None:
    # temporalio applies connect_timeout to the TCP connect only; a server that accepts
    # and never answers keeps it waiting for its 30 s call timeout. Perdure's bounds the
    # whole first contact.
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="Failed client connect"):
        await Client.connect(f"127.0.0.1:{silent_port}", connect_timeout=timedelta(seconds=1))
    assert 0.9 <= time.monotonic() - started < 5


async def test_embedded_target_namespace_is_the_clients() -> None:
    target = f"embedded://:memory:?instance={uuid.uuid4().hex}&namespace=orders&namespace=b"
    client = await Client.connect(target)
    try:
        assert client.namespace == "orders"
        handle = await client.start_workflow(Idle.run, id="idle", task_queue="nobody")
        in_orders = Client(client.service_client, namespace="orders")
        assert (await in_orders.get_workflow_handle(handle.id).describe()).id == "idle"
        explicit = await Client.connect(target, namespace="default")
        assert explicit.namespace == "default"
        await explicit.service_client.close()
    finally:
        await client.service_client.close()
    plain = await Client.connect(f"embedded://:memory:?instance={uuid.uuid4().hex}")
    assert plain.namespace == "default"
    await plain.service_client.close()


def test_help_documents_the_embedded_targets() -> None:
    text = pydoc.render_doc(Client.connect, renderer=pydoc.plaintext)
    for phrase in ("embedded://", ":memory:", "postgresql://", "serve_grpc=", "namespace="):
        assert phrase in text
