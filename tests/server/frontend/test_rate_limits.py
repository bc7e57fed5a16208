"""Token buckets per namespace, per client and for the server, with Temporal's answers."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import failed_cause_pb2 as causes
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.dynamic_config import DynamicConfig
from perdure.server.errors import ResourceExhausted
from perdure.server.frontend.dispatch import WORKFLOW_SERVICE, Call, Dispatcher
from perdure.server.frontend.rate_limits import (
    RateLimiter,
    RateLimitInterceptor,
    client_key,
    rate_limited,
)


def test_namespaces_have_their_own_buckets_and_their_own_rates() -> None:
    limiter = RateLimiter(
        DynamicConfig({"frontend.namespaceRPS": 1}, {"big": {"frontend.namespaceRPS": 10}})
    )
    assert [limiter.admit("a", "c", 0.0) is None for _ in range(3)] == [True, True, False]
    assert limiter.admit("b", "c", 0.0) is None
    assert all(limiter.admit("big", "c", 0.0) is None for _ in range(20))
    refused = limiter.admit("a", "c", 0.0)
    assert isinstance(refused, ResourceExhausted)
    assert refused.message == "namespace rate limit exceeded"
    assert refused.cause == causes.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT
    assert refused.scope == causes.RESOURCE_EXHAUSTED_SCOPE_NAMESPACE


def test_clients_and_the_whole_server() -> None:
    limiter = RateLimiter(DynamicConfig({"perdure.clientRPS": 1}))
    assert limiter.admit("a", "one", 0.0) is None
    assert limiter.admit("b", "one", 0.0) is None
    refused = limiter.admit("c", "one", 0.0)
    assert refused is not None and refused.message == "client rate limit exceeded"
    assert limiter.admit("a", "two", 0.0) is None
    server = RateLimiter(DynamicConfig({"frontend.rps": 1}))
    assert server.admit("a", "x", 0.0) is None and server.admit("b", "y", 0.0) is None
    refused = server.admit("c", "z", 0.0)
    assert refused is not None and refused.message == "service rate limit exceeded"
    assert refused.scope == causes.RESOURCE_EXHAUSTED_SCOPE_SYSTEM


def test_a_client_is_its_credentials_or_its_address() -> None:
    keyed = Call(WORKFLOW_SERVICE, "X", {"authorization": "Bearer k"}, "ipv4:10.0.0.1:5000")
    other_port = Call(WORKFLOW_SERVICE, "X", {}, "ipv4:10.0.0.1:6000")
    assert client_key(keyed).startswith("key:") and "Bearer" not in client_key(keyed)
    assert client_key(other_port) == "peer:ipv4:10.0.0.1"


def test_no_limit_configured_needs_no_interceptor() -> None:
    assert not rate_limited(DynamicConfig())
    assert not rate_limited(DynamicConfig({"frontend.namespaceRPS": 0}))
    assert rate_limited(DynamicConfig({}, {"a": {"frontend.namespaceRPS": 5}}))


class Frontend:
    async def DescribeNamespace(
        self, request: rr.DescribeNamespaceRequest, deadline: float | None
    ) -> rr.DescribeNamespaceResponse:
        return rr.DescribeNamespaceResponse()


async def test_the_interceptor_refuses_before_the_handler_runs() -> None:
    now = [0.0]
    interceptor = RateLimitInterceptor(DynamicConfig({"frontend.namespaceRPS": 1}), lambda: now[0])
    dispatcher = Dispatcher(Frontend(), [interceptor])
    call = Call(WORKFLOW_SERVICE, "DescribeNamespace", {}, "ipv4:127.0.0.1:1")
    request = rr.DescribeNamespaceRequest(namespace="a")
    await dispatcher.call(call, request, None)
    await dispatcher.call(call, request, None)
    with pytest.raises(ResourceExhausted):
        await dispatcher.call(call, request, None)
    now[0] = 1.0
    await dispatcher.call(call, request, None)
