"""perdure.service: RPC surface, headers, retries and typed error details."""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import grpc
import grpc.aio
import pytest
import temporalio.bridge.services_generated as reference
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.errordetails.v1 import NotFoundFailure, WorkflowExecutionAlreadyStartedFailure
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    DescribeNamespaceResponse,
    DescribeWorkflowExecutionRequest,
    GetSystemInfoResponse,
    StartWorkflowExecutionRequest,
)

from perdure.service import (
    ConnectConfig,
    OperatorService,
    RetryConfig,
    RPCError,
    RPCStatusCode,
    ServiceClient,
    TestService,
    TLSConfig,
    WorkflowService,
    register_transport,
)
from tests.servers import ServerProcess, free_port


@pytest.mark.parametrize(
    "ours,theirs",
    [
        (WorkflowService, reference.WorkflowService),
        (OperatorService, reference.OperatorService),
        (TestService, reference.TestService),
    ],
)
def test_rpc_methods_match_temporalio(ours: type, theirs: type) -> None:
    expected = {name for name, _ in inspect.getmembers(theirs, inspect.iscoroutinefunction)}
    assert set(ours.rpcs()) == expected  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- fake server


class FakeServer:
    """A grpc.aio server answering every method through one handler, recording calls."""

    def __init__(self, handler: Callable[[str, bytes, dict[str, Any]], Any]) -> None:
        self.handler = handler
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.port = free_port()
        self.server = grpc.aio.server()
        fake = self

        class Generic(grpc.GenericRpcHandler):
            def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
                method = details.method
                metadata = dict(details.invocation_metadata)

                async def unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
                    fake.calls.append((method, metadata))
                    return await fake.handler(method, request, {"context": context})  # type: ignore[no-any-return]

                return grpc.unary_unary_rpc_method_handler(unary)

        self.server.add_generic_rpc_handlers([Generic()])
        self.server.add_insecure_port(f"127.0.0.1:{self.port}")

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
async def fake_server() -> AsyncIterator[Callable[..., Any]]:
    servers: list[FakeServer] = []

    async def start(handler: Callable[..., Any]) -> FakeServer:
        server = FakeServer(handler)
        await server.server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.server.stop(None)


async def _ok(method: str, request: bytes, extra: dict[str, Any]) -> bytes:
    if method.endswith("GetSystemInfo"):
        return GetSystemInfoResponse(server_version="fake").SerializeToString()
    return DescribeNamespaceResponse().SerializeToString()


async def test_headers_sent_like_the_official_sdk(fake_server: Any) -> None:
    server = await fake_server(_ok)
    client = await ServiceClient.connect(
        ConnectConfig(server.target, api_key="k3y", tls=False, rpc_metadata={"X-Custom": "one"})
    )
    assert client.system_info is not None and client.system_info.server_version == "fake"
    await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="ns1"), metadata={"x-call": "two"}
    )
    client.update_rpc_metadata({"x-custom": "changed"})
    client.update_api_key(None)
    await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="ns1"))
    await client.close()
    (m1, info), (m2, first), (_, second) = server.calls
    assert m1 == "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo"
    assert m2 == "/temporal.api.workflowservice.v1.WorkflowService/DescribeNamespace"
    assert info["client-name"] == "temporal-python" and info["client-version"] == "1.35.0"
    assert "temporal-namespace" not in info  # GetSystemInfo has no namespace
    assert first["temporal-namespace"] == "ns1"
    assert first["authorization"] == "Bearer k3y"
    assert (first["x-custom"], first["x-call"]) == ("one", "two")
    assert second["x-custom"] == "changed" and "authorization" not in second


async def test_retries_retryable_codes_with_backoff(fake_server: Any) -> None:
    failures = {"left": 3}

    async def flaky(method: str, request: bytes, extra: dict[str, Any]) -> bytes:
        if method.endswith("DescribeNamespace") and failures["left"] > 0:
            failures["left"] -= 1
            await extra["context"].abort(grpc.StatusCode.UNAVAILABLE, "try later")
        return await _ok(method, request, extra)

    server = await fake_server(flaky)
    config = ConnectConfig(server.target, retry_config=RetryConfig(initial_interval_millis=20))
    client = await ServiceClient.connect(config)
    with pytest.raises(RPCError) as info:
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="a"))
    assert info.value.status == RPCStatusCode.UNAVAILABLE and info.value.message == "try later"
    started = time.monotonic()
    await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="a"), retry=True
    )
    assert failures["left"] == 0 and time.monotonic() - started >= 0.04
    await client.close()


async def test_gives_up_after_max_retries(fake_server: Any) -> None:
    async def down(method: str, request: bytes, extra: dict[str, Any]) -> bytes:
        if method.endswith("GetSystemInfo"):
            return await _ok(method, request, extra)
        await extra["context"].abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "busy")
        raise AssertionError

    server = await fake_server(down)
    retry = RetryConfig(initial_interval_millis=1, max_retries=2, max_interval_millis=1)
    client = await ServiceClient.connect(ConnectConfig(server.target, retry_config=retry))
    with pytest.raises(RPCError) as info:
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(), retry=True)
    assert info.value.status == RPCStatusCode.RESOURCE_EXHAUSTED
    assert len(server.calls) == 1 + 3  # connect + first try + 2 retries
    await client.close()


async def test_non_retryable_code_is_not_retried(fake_server: Any) -> None:
    async def invalid(method: str, request: bytes, extra: dict[str, Any]) -> bytes:
        if method.endswith("GetSystemInfo"):
            return await _ok(method, request, extra)
        await extra["context"].abort(grpc.StatusCode.INVALID_ARGUMENT, "bad")
        raise AssertionError

    server = await fake_server(invalid)
    client = await ServiceClient.connect(ConnectConfig(server.target))
    with pytest.raises(RPCError):
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(), retry=True)
    assert len(server.calls) == 2
    await client.close()


async def test_deadline_and_cancellation(fake_server: Any) -> None:
    async def slow(method: str, request: bytes, extra: dict[str, Any]) -> bytes:
        if not method.endswith("GetSystemInfo"):
            await asyncio.sleep(5)
        return await _ok(method, request, extra)

    server = await fake_server(slow)
    client = await ServiceClient.connect(ConnectConfig(server.target))
    with pytest.raises(RPCError) as info:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(), timeout=timedelta(milliseconds=100)
        )
    assert info.value.status == RPCStatusCode.DEADLINE_EXCEEDED
    task = asyncio.create_task(
        client.workflow_service.poll_workflow_task_queue(  # type: ignore[arg-type]
            __import__(
                "temporalio.api.workflowservice.v1", fromlist=["x"]
            ).PollWorkflowTaskQueueRequest()
        )
    )
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await client.close()


def test_tls_follows_api_key_unless_disabled() -> None:
    assert ConnectConfig("h:1")._use_tls() is None
    assert ConnectConfig("h:1", api_key="k")._use_tls() == TLSConfig()
    assert ConnectConfig("h:1", api_key="k", tls=False)._use_tls() is None
    custom = TLSConfig(domain="example.org")
    assert ConnectConfig("h:1", tls=custom)._use_tls() is custom
    assert "@" in ConnectConfig("h:1").identity


async def test_connect_failure_is_reported() -> None:
    retry = RetryConfig(initial_interval_millis=1, max_retries=1)
    with pytest.raises(RuntimeError, match="Failed client connect"):
        await ServiceClient.connect(ConnectConfig(f"127.0.0.1:{free_port()}", retry_config=retry))
    lazy = await ServiceClient.connect(ConnectConfig(f"127.0.0.1:{free_port()}", lazy=True))
    assert lazy.system_info is None
    await lazy.close()


async def test_custom_transport_scheme() -> None:
    seen: list[str] = []

    class Recording(ServiceClient):
        async def check_health(self, **kwargs: Any) -> bool:
            return True

        def update_rpc_metadata(self, metadata: Any) -> None:
            pass

        def update_api_key(self, api_key: str | None) -> None:
            pass

        async def _rpc_call(self, rpc: str, req: Any, resp_type: Any, **kwargs: Any) -> Any:
            seen.append(rpc)
            return resp_type()

    async def connect(config: ConnectConfig) -> ServiceClient:
        client = Recording(config)
        await client._fetch_system_info()
        return client

    register_transport("recording", connect)
    client = await ServiceClient.connect(ConnectConfig("recording://x"))
    await client.operator_service.list_search_attributes(
        __import__(
            "temporalio.api.operatorservice.v1", fromlist=["x"]
        ).ListSearchAttributesRequest()
    )
    assert seen == ["get_system_info", "list_search_attributes"]
    with pytest.raises(ValueError, match="Unknown target scheme"):
        await ServiceClient.connect(ConnectConfig("nope://x"))


# --------------------------------------------------------------------------- real server


async def test_health_check(any_server: ServerProcess) -> None:
    client = await ServiceClient.connect(ConnectConfig(any_server.target))
    assert await client.check_health()
    await client.close()


async def test_real_server_errors_carry_typed_details(any_server: ServerProcess) -> None:
    client = await ServiceClient.connect(ConnectConfig(any_server.target))
    assert client.system_info is not None and client.system_info.server_version
    workflow_id = f"svc-{uuid.uuid4()}"
    start = StartWorkflowExecutionRequest(
        namespace="default",
        workflow_id=workflow_id,
        workflow_type=WorkflowType(name="Nothing"),
        task_queue=TaskQueue(name=f"tq-{uuid.uuid4()}"),
        request_id=str(uuid.uuid4()),
    )
    started = await client.workflow_service.start_workflow_execution(start, retry=True)
    start.request_id = str(uuid.uuid4())
    with pytest.raises(RPCError) as dup:
        await client.workflow_service.start_workflow_execution(start, retry=True)
    assert dup.value.status == RPCStatusCode.ALREADY_EXISTS
    detail = WorkflowExecutionAlreadyStartedFailure()
    assert dup.value.grpc_status.details[0].Unpack(detail)
    assert detail.run_id == started.run_id

    with pytest.raises(RPCError) as missing:
        await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace="default",
                execution=__import__("temporalio.api.common.v1", fromlist=["x"]).WorkflowExecution(
                    workflow_id="does-not-exist"
                ),
            )
        )
    assert missing.value.status == RPCStatusCode.NOT_FOUND
    assert missing.value.grpc_status.details[0].Is(NotFoundFailure.DESCRIPTOR)
    await client.close()
