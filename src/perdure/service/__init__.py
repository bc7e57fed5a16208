"""How the SDK reaches a server (mirrors ``temporalio.service``).

:py:class:`ServiceClient` is the one door to a server: :py:attr:`~ServiceClient.workflow_service`,
:py:attr:`~ServiceClient.operator_service` and :py:attr:`~ServiceClient.test_service` have
one async method per RPC, taking and returning Temporal API proto objects. The gRPC
transport is used for ``host:port`` targets; other transports register a ``scheme://``
with :py:func:`register_transport`. ``embedded://`` (registered here) runs the server's
engine in this process: see :py:class:`EmbeddedServiceClient` for its targets.
"""

from typing import TYPE_CHECKING, Any

from perdure.service._client import (
    Connector,
    ServiceClient,
    ServiceRequest,
    ServiceResponse,
    register_transport,
)
from perdure.service._config import (
    ConnectConfig,
    DnsLoadBalancingConfig,
    GrpcCompression,
    HttpConnectProxyConfig,
    KeepAliveConfig,
    RetryConfig,
    TLSConfig,
)
from perdure.service._errors import RPCError, RPCStatusCode
from perdure.service._services import OperatorService, RpcMethod, TestService, WorkflowService

if TYPE_CHECKING:
    from perdure.service._embedded import EmbeddedServiceClient


async def _connect_embedded(config: ConnectConfig) -> ServiceClient:
    """The in-process engine; the server's modules load only when a target names it."""
    from perdure.service._embedded import connect_embedded

    return await connect_embedded(config)


register_transport("embedded", _connect_embedded)


def __getattr__(name: str) -> Any:
    if name == "EmbeddedServiceClient":
        from perdure.service._embedded import EmbeddedServiceClient

        return EmbeddedServiceClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ConnectConfig",
    "Connector",
    "DnsLoadBalancingConfig",
    "EmbeddedServiceClient",
    "GrpcCompression",
    "HttpConnectProxyConfig",
    "KeepAliveConfig",
    "OperatorService",
    "RPCError",
    "RPCStatusCode",
    "RetryConfig",
    "RpcMethod",
    "ServiceClient",
    "ServiceRequest",
    "ServiceResponse",
    "TLSConfig",
    "TestService",
    "WorkflowService",
    "register_transport",
]
