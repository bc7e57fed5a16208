"""The gRPC transport (grpc.aio): headers, deadlines and retries as the official SDK does them."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from datetime import timedelta
from functools import cache
from typing import Any
from urllib.parse import quote

import grpc
import grpc.aio
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

from perdure.service._client import ServiceClient, ServiceResponse
from perdure.service._config import ConnectConfig, GrpcCompression, RetryConfig
from perdure.service._errors import RPCError, RPCStatusCode
from perdure.service._services import OperatorService, TestService, WorkflowService

logger = logging.getLogger(__name__)

# The server checks these headers against the SDK versions it supports and may gate
# behaviour on them. Perdure's SDK implements temporalio's API, so it presents itself as
# that SDK at the version whose behaviour it mirrors.
CLIENT_NAME = "temporal-python"
CLIENT_VERSION = "1.35.0"

_GRPC_SERVICES = {
    cls._service: cls.grpc_name for cls in (WorkflowService, OperatorService, TestService)
}

# The official SDK's deadlines: 70 s for long polls, 30 s for everything else.
_LONG_POLL_TIMEOUT = timedelta(seconds=70)
_DEFAULT_TIMEOUT = timedelta(seconds=30)
_LONG_POLLS = frozenset(
    {
        "poll_workflow_task_queue",
        "poll_activity_task_queue",
        "poll_nexus_task_queue",
        "update_workflow_execution",
        "execute_multi_operation",
    }
)

# Codes worth retrying, as the official SDK's core retries them.
_RETRYABLE = frozenset(
    {
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
    }
)

_MAX_MESSAGE_BYTES = 128 * 1024 * 1024


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


_NAMESPACED: dict[type[Message], bool] = {}


def _has_namespace(message_type: type[Message]) -> bool:
    known = _NAMESPACED.get(message_type)
    if known is None:
        known = _NAMESPACED[message_type] = "namespace" in message_type.DESCRIPTOR.fields_by_name
    return known


def _default_timeout(rpc: str, req: Message) -> timedelta:
    if rpc in _LONG_POLLS:
        return _LONG_POLL_TIMEOUT
    if rpc == "get_workflow_execution_history" and getattr(req, "wait_new_event", False):
        return _LONG_POLL_TIMEOUT
    return _DEFAULT_TIMEOUT


def _to_rpc_error(err: grpc.aio.AioRpcError) -> RPCError:
    details = b""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            details = value if isinstance(value, bytes) else value.encode()
    code = err.code()
    status = RPCStatusCode(code.value[0]) if code is not None else RPCStatusCode.UNKNOWN
    return RPCError(err.details() or "", status, details)


class _Backoff:
    """Delays between retries: exponential with jitter, bounded in count and total time."""

    def __init__(self, config: RetryConfig) -> None:
        self._config = config
        self._started = time.monotonic()
        self._retries = 0
        self._interval = config.initial_interval_millis / 1000

    def next_delay(self, code: grpc.StatusCode) -> float | None:
        """Seconds to wait before the next attempt, or None to give up."""
        config = self._config
        if self._retries >= config.max_retries:
            return None
        elapsed = time.monotonic() - self._started
        if config.max_elapsed_time_millis is not None and (
            elapsed * 1000 >= config.max_elapsed_time_millis
        ):
            return None
        interval = self._interval
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            interval = max(interval, 1.0)  # an overloaded server needs longer breaks
        jitter = config.randomization_factor * interval
        delay = min(interval + random.uniform(-jitter, jitter), config.max_interval_millis / 1000)
        self._interval = min(interval * config.multiplier, config.max_interval_millis / 1000)
        self._retries += 1
        return max(delay, 0.0)


def _channel_options(config: ConnectConfig, tls_name: str | None) -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
        ("grpc.primary_user_agent", f"{CLIENT_NAME}/{CLIENT_VERSION} (perdure)"),
    ]
    keep_alive = config.keep_alive_config
    if keep_alive is not None:
        options += [
            ("grpc.keepalive_time_ms", keep_alive.interval_millis),
            ("grpc.keepalive_timeout_ms", keep_alive.timeout_millis),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
        ]
    if tls_name:
        options.append(("grpc.ssl_target_name_override", tls_name))
    tls = config._use_tls()
    if tls is not None and tls.domain:
        options.append(("grpc.default_authority", tls.domain))
    proxy = config.http_connect_proxy_config
    if proxy is not None:
        auth = ""
        if proxy.basic_auth:
            user, password = proxy.basic_auth
            auth = f"{quote(user, safe='')}:{quote(password, safe='')}@"
        options += [
            ("grpc.enable_http_proxy", 1),
            ("grpc.http_proxy", f"http://{auth}{proxy.target_host}"),
        ]
    else:
        options.append(("grpc.enable_http_proxy", 0))  # ignore *_proxy env vars, as core does
        dns = config.dns_load_balancing_config
        if dns is not None:
            options += [
                ("grpc.lb_policy_name", "round_robin"),
                ("grpc.dns_min_time_between_resolutions_ms", dns.resolution_interval_millis),
            ]
    return options


def _open_channel(config: ConnectConfig) -> grpc.aio.Channel:
    tls = config._use_tls()
    target = config.target_host
    if config.dns_load_balancing_config is not None and config.http_connect_proxy_config is None:
        target = f"dns:///{target}"
    compression = (
        grpc.Compression.Gzip
        if config.grpc_compression is GrpcCompression.GZIP
        else grpc.Compression.NoCompression
    )
    if tls is None:
        return grpc.aio.insecure_channel(
            target, options=_channel_options(config, None), compression=compression
        )
    credentials = grpc.ssl_channel_credentials(
        root_certificates=tls.server_root_ca_cert,
        private_key=tls.client_private_key,
        certificate_chain=tls.client_cert,
    )
    name = tls.verification_server_name or tls.domain
    return grpc.aio.secure_channel(
        target, credentials, options=_channel_options(config, name), compression=compression
    )


class GrpcServiceClient(ServiceClient):
    """A :py:class:`ServiceClient` over one grpc.aio channel."""

    @staticmethod
    async def connect(config: ConnectConfig) -> GrpcServiceClient:
        """Open the channel and, unless ``lazy``, call ``GetSystemInfo`` as the SDK does."""
        client = GrpcServiceClient(config)
        if not config.lazy:
            try:
                await client._fetch_system_info(timeout=config.connect_timeout)
            except RPCError as err:
                await client.close()
                raise RuntimeError(
                    f"Failed client connect: get_system_info call error: {err.message}"
                ) from err
        return client

    def __init__(self, config: ConnectConfig) -> None:
        """Prepare the channel (connected on first use)."""
        super().__init__(config)
        self._channel: grpc.aio.Channel | None = None
        self._calls: dict[tuple[str, str], grpc.aio.UnaryUnaryMultiCallable[Any, Any]] = {}
        self._retry = config.retry_config or RetryConfig()
        self._metadata: dict[str, str | bytes] = {}
        self._api_key = config.api_key
        self.update_rpc_metadata(config.rpc_metadata)

    @property
    def channel(self) -> grpc.aio.Channel:
        """The underlying channel (opened on first use, in the running event loop)."""
        if self._channel is None:
            self._channel = _open_channel(self.config)
        return self._channel

    def update_rpc_metadata(self, metadata: Mapping[str, str | bytes]) -> None:
        """Replace the headers sent with every call."""
        self._metadata = {key.lower(): value for key, value in metadata.items()}

    def update_api_key(self, api_key: str | None) -> None:
        """Replace the API key."""
        self._api_key = api_key

    async def close(self) -> None:
        """Close the channel; in-flight calls are cancelled."""
        if self._channel is not None:
            channel, self._channel = self._channel, None
            self._calls.clear()
            await channel.close()

    def _headers(self, req: Message, metadata: Mapping[str, str | bytes]) -> list[tuple[str, Any]]:
        headers: dict[str, str | bytes] = {
            "client-name": CLIENT_NAME,
            "client-version": CLIENT_VERSION,
        }
        if _has_namespace(type(req)):
            namespace = getattr(req, "namespace", "")
            if namespace:
                headers["temporal-namespace"] = namespace
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        headers.update(self._metadata)
        for key, value in metadata.items():
            headers[key.lower()] = value
        return list(headers.items())

    def _callable(
        self, service: str, rpc: str, resp_type: type[Message]
    ) -> grpc.aio.UnaryUnaryMultiCallable[Any, Any]:
        key = (service, rpc)
        call = self._calls.get(key)
        if call is None:
            path = f"/{_GRPC_SERVICES[service]}/{_camel(rpc)}"
            call = self.channel.unary_unary(
                path,
                request_serializer=lambda message: message.SerializeToString(),
                response_deserializer=resp_type.FromString,
            )
            self._calls[key] = call
        return call

    async def _rpc_call(
        self,
        rpc: str,
        req: Message,
        resp_type: type[ServiceResponse],
        *,
        service: str,
        retry: bool,
        metadata: Mapping[str, str | bytes],
        timeout: timedelta | None,
    ) -> ServiceResponse:
        """Call over gRPC, retrying retryable failures with backoff when ``retry``."""
        call = self._callable(service, rpc, resp_type)
        headers = self._headers(req, metadata)
        seconds = (timeout or _default_timeout(rpc, req)).total_seconds()
        backoff: _Backoff | None = None
        while True:
            try:
                response: ServiceResponse = await call(req, metadata=headers, timeout=seconds)
                return response
            except grpc.aio.AioRpcError as err:
                code = err.code()
                delay: float | None = None
                if retry and code in _RETRYABLE:
                    backoff = backoff or _Backoff(self._retry)
                    delay = backoff.next_delay(code)
                if delay is None:
                    raise _to_rpc_error(err) from None
                logger.debug("Retrying %s in %.2fs after %s", rpc, delay, code)
                await asyncio.sleep(delay)

    async def check_health(
        self,
        *,
        service: str = "temporal.api.workflowservice.v1.WorkflowService",
        retry: bool = False,
        metadata: Mapping[str, str | bytes] = {},
        timeout: timedelta | None = None,
    ) -> bool:
        """Ask the standard gRPC health service whether ``service`` is serving."""
        request_type, response_type = _health_messages()
        call = self.channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        headers = [(key.lower(), value) for key, value in {**self._metadata, **metadata}.items()]
        seconds = (timeout or _DEFAULT_TIMEOUT).total_seconds()
        backoff = _Backoff(self._retry)
        while True:
            try:
                response = await call(
                    request_type(service=service), metadata=headers, timeout=seconds
                )
                return bool(response.status == 1)  # SERVING
            except grpc.aio.AioRpcError as err:
                delay = (
                    backoff.next_delay(err.code()) if retry and err.code() in _RETRYABLE else None
                )
                if delay is None:
                    raise _to_rpc_error(err) from None
                await asyncio.sleep(delay)


@cache
def _health_messages() -> tuple[Any, Any]:
    """``grpc.health.v1`` request/response classes, built in a private descriptor pool."""
    file = descriptor_pb2.FileDescriptorProto(name="perdure_health.proto", package="grpc.health.v1")
    request = file.message_type.add(name="HealthCheckRequest")
    request.field.add(name="service", number=1, type=9, label=1)  # string
    response = file.message_type.add(name="HealthCheckResponse")
    response.field.add(name="status", number=1, type=5, label=1)  # int32 (enum on the wire)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return (
        message_factory.GetMessageClass(
            pool.FindMessageTypeByName("grpc.health.v1.HealthCheckRequest")
        ),
        message_factory.GetMessageClass(
            pool.FindMessageTypeByName("grpc.health.v1.HealthCheckResponse")
        ),
    )
