"""How the SDK reaches a server (mirrors ``temporalio.service``).

:py:class:`ServiceClient` is the one door to a server: :py:attr:`~ServiceClient.workflow_service`,
:py:attr:`~ServiceClient.operator_service` and :py:attr:`~ServiceClient.test_service` have
one async method per RPC, taking and returning Temporal API proto objects. The gRPC
transport is used for ``host:port`` targets; other transports (the in-process embedded
server) register a ``scheme://`` with :py:func:`register_transport`.
"""

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

__all__ = [
    "ConnectConfig",
    "Connector",
    "DnsLoadBalancingConfig",
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
