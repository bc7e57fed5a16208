"""The service client interface: everything above it talks to a server through it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import TypeVar

from google.protobuf.message import Message
from temporalio.api.workflowservice.v1 import request_response_pb2 as ws

from perdure.service._config import ConnectConfig
from perdure.service._metrics import RequestMetrics
from perdure.service._services import OperatorService, TestService, WorkflowService

ServiceRequest = TypeVar("ServiceRequest", bound=Message)
"""Any request proto."""
ServiceResponse = TypeVar("ServiceResponse", bound=Message)
"""Any response proto."""

Connector = Callable[[ConnectConfig], Awaitable["ServiceClient"]]
"""Opens a :py:class:`ServiceClient` for a config (one per target scheme)."""

# Transports by target scheme ("embedded" for "embedded://..."); plain host:port is gRPC.
_TRANSPORTS: dict[str, Connector] = {}


def register_transport(scheme: str, connector: Connector) -> None:
    """Make ``Client.connect("<scheme>://...")`` use ``connector`` (e.g. the embedded server)."""
    _TRANSPORTS[scheme] = connector


class ServiceClient(ABC):
    """A connection to a Temporal-compatible server.

    One abstract method, :py:meth:`_rpc_call`, carries every RPC: it takes the request
    proto object and returns the response proto object, so a transport need not
    serialize anything (the in-process embedded server passes the objects through).
    """

    @staticmethod
    async def connect(config: ConnectConfig) -> ServiceClient:
        """Connect with the transport the target names (gRPC for ``host:port``)."""
        scheme, sep, _ = config.target_host.partition("://")
        if sep:
            connector = _TRANSPORTS.get(scheme)
            if connector is None:
                raise ValueError(
                    f"Unknown target scheme {scheme!r} in {config.target_host!r}; "
                    "use host:port for a gRPC server"
                )
            return await connector(config)
        from perdure.service._grpc import GrpcServiceClient

        return await GrpcServiceClient.connect(config)

    def __init__(self, config: ConnectConfig) -> None:
        """Set up the typed service facades over this client."""
        self.config = config
        self.request_metrics = _request_metrics(config)
        """Set when the runtime records metrics (service/_metrics.py); read by the services."""
        self.workflow_service = WorkflowService(self)
        self.operator_service = OperatorService(self)
        self.test_service = TestService(self)
        self._system_info: ws.GetSystemInfoResponse | None = None

    @property
    def target_namespace(self) -> str | None:
        """A namespace the target itself names (``embedded://...?namespace=NAME``), if any."""
        return None

    @property
    def system_info(self) -> ws.GetSystemInfoResponse | None:
        """The server's ``GetSystemInfo`` answer from connect (None if lazy and unused)."""
        return self._system_info

    async def _fetch_system_info(self, timeout: timedelta | None = None) -> None:
        """Ask the server for its version and capabilities (what ``connect`` does first).

        One attempt, as temporalio's connect makes: a refused connection fails at once,
        and ``timeout`` bounds the whole first contact.
        """
        self._system_info = await self.workflow_service.get_system_info(
            ws.GetSystemInfoRequest(), timeout=timeout
        )

    @abstractmethod
    async def check_health(
        self,
        *,
        service: str = "temporal.api.workflowservice.v1.WorkflowService",
        retry: bool = False,
        metadata: Mapping[str, str | bytes] = {},
        timeout: timedelta | None = None,
    ) -> bool:
        """Whether ``service`` is serving (raises if the server cannot be reached)."""

    @abstractmethod
    def update_rpc_metadata(self, metadata: Mapping[str, str | bytes]) -> None:
        """Replace the headers sent with every call."""

    @abstractmethod
    def update_api_key(self, api_key: str | None) -> None:
        """Replace the API key (None: stop sending one)."""

    @abstractmethod
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
        """Run RPC ``rpc`` (snake_case name) of ``service`` ("workflow", "operator", "test").

        Raises:
            RPCError: the call failed (after retries when ``retry`` is set).
        """

    async def close(self) -> None:  # noqa: B027 - optional: not every transport holds resources
        """Release the connection (calls after this fail)."""


def _request_metrics(config: ConnectConfig) -> RequestMetrics | None:
    from perdure.common import MetricMeter
    from perdure.runtime import Runtime

    runtime = config.runtime or Runtime.default()
    if runtime.metric_meter is MetricMeter.noop:
        return None
    return RequestMetrics(runtime.metric_meter, runtime.metric_prefix)
