"""The HTTP API goes through the server's Dispatcher like gRPC: call interceptors see
every HTTP call (method, headers, peer) and may refuse it; handlers' errors come back
with the HTTP status of their gRPC code."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from google.protobuf.message import Message
from temporalio.api.namespace.v1 import message_pb2 as namespace_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server import errors
from perdure.server.frontend.deadline import Deadline
from perdure.server.frontend.dispatch import Call, Dispatcher, Next
from perdure.server.frontend.http_api import HttpApi, Site, api_app


class Namespaces:
    """A frontend with one RPC: namespaces named "missing" do not exist."""

    async def DescribeNamespace(
        self, request: rr.DescribeNamespaceRequest, deadline: Deadline
    ) -> rr.DescribeNamespaceResponse:
        if request.namespace == "missing":
            raise errors.NamespaceNotFound(request.namespace)
        return rr.DescribeNamespaceResponse(
            namespace_info=namespace_pb2.NamespaceInfo(name=request.namespace)
        )


class Gate:
    """Records each call; refuses those without an authorization header."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    async def intercept(
        self, call: Call, request: Message, deadline: Deadline, proceed: Next
    ) -> Message:
        self.calls.append(call)
        if "authorization" not in call.headers:
            raise errors.InvalidArgument("no credentials")
        return await proceed(request, deadline)


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Gate]]:
    gate = Gate()
    site = await Site.start(api_app(HttpApi(Dispatcher(Namespaces(), [gate]))), "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{site.port}", gate
    finally:
        await site.stop()


async def test_interceptors_see_and_refuse_http_calls(served: tuple[str, Gate]) -> None:
    base, gate = served
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/api/v1/namespaces/ns1") as r:
            assert r.status == 400
            assert await r.json() == {"code": 3, "message": "no credentials"}
        auth = {"Authorization": "Bearer x"}
        async with session.get(f"{base}/api/v1/namespaces/ns1", headers=auth) as r:
            assert r.status == 200
            assert (await r.json())["namespaceInfo"] == {"name": "ns1"}
        async with session.get(f"{base}/api/v1/namespaces/missing", headers=auth) as r:
            assert r.status == 404
            body = await r.json()
            assert body["code"] == 5 and body["details"][0]["namespace"] == "missing"
        async with session.get(f"{base}/api/v1/namespaces", headers=auth) as r:
            # Routed, but this frontend has no ListNamespaces: UNIMPLEMENTED.
            assert r.status == 501 and (await r.json())["code"] == 12
    assert [c.method for c in gate.calls] == ["DescribeNamespace"] * 3
    assert gate.calls[1].headers["authorization"] == "Bearer x"
    assert gate.calls[0].service == "temporal.api.workflowservice.v1.WorkflowService"
    assert gate.calls[0].peer == "127.0.0.1"
