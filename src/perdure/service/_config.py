"""Connection options (mirror ``temporalio.service``'s config dataclasses)."""

from __future__ import annotations

import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from perdure.runtime import Runtime


@dataclass
class TLSConfig:
    """TLS for the server connection; an empty config means "TLS with system roots"."""

    server_root_ca_cert: bytes | None = None
    """PEM root certificate(s) to verify the server with; None: the system roots."""

    domain: str | None = None
    """Overrides the TLS server name (SNI, authority and the name verified)."""

    client_cert: bytes | None = None
    """PEM client certificate for mutual TLS (with :py:attr:`client_private_key`)."""

    client_private_key: bytes | None = None
    """PEM client private key for mutual TLS (with :py:attr:`client_cert`)."""

    verification_server_name: str | None = None
    """Verify the server certificate against this name instead of :py:attr:`domain`."""


@dataclass
class RetryConfig:
    """Backoff for retried calls (calls made with ``retry=True``)."""

    initial_interval_millis: int = 100
    """First delay."""
    randomization_factor: float = 0.2
    """Each delay varies randomly by up to this fraction."""
    multiplier: float = 1.5
    """Each delay is the previous one times this."""
    max_interval_millis: int = 5000
    """Upper bound of one delay."""
    max_elapsed_time_millis: int | None = 10000
    """Give up once this much time has passed since the first attempt (None: never)."""
    max_retries: int = 10
    """Give up after this many retries."""


@dataclass(frozen=True)
class KeepAliveConfig:
    """HTTP/2 keep-alive pings that detect dead connections."""

    interval_millis: int = 30000
    """Time between pings."""
    timeout_millis: int = 15000
    """A ping not answered within this closes the connection."""
    default: ClassVar[KeepAliveConfig]
    """The default keep-alive."""


KeepAliveConfig.default = KeepAliveConfig()


@dataclass(frozen=True)
class HttpConnectProxyConfig:
    """Reach the server through an HTTP CONNECT proxy."""

    target_host: str
    """The proxy's ``host:port``."""
    basic_auth: tuple[str, str] | None = None
    """``(user, password)`` for the proxy, if it wants them."""


@dataclass(frozen=True)
class DnsLoadBalancingConfig:
    """Re-resolve the target's DNS name and round-robin calls over its addresses.

    Ignored when an HTTP CONNECT proxy is configured.
    """

    resolution_interval_millis: int = 30000
    """Minimum time between DNS resolutions."""
    default: ClassVar[DnsLoadBalancingConfig]
    """The default DNS load balancing."""


DnsLoadBalancingConfig.default = DnsLoadBalancingConfig()


class GrpcCompression(ABC):
    """Message compression on the gRPC transport: :py:attr:`NONE` or :py:attr:`GZIP`."""

    NONE: ClassVar[GrpcCompression]
    """No compression."""
    GZIP: ClassVar[GrpcCompression]
    """Gzip requests and accept gzipped responses."""

    @property
    @abstractmethod
    def name(self) -> str:
        """The compression's name (``none`` or ``gzip``)."""


@dataclass(frozen=True)
class _NamedCompression(GrpcCompression):
    _name: str

    @property
    def name(self) -> str:
        return self._name


GrpcCompression.NONE = _NamedCompression("none")
GrpcCompression.GZIP = _NamedCompression("gzip")


@dataclass
class ConnectConfig:
    """Everything needed to reach a server.

    ``target_host`` is ``host:port`` for gRPC; a ``scheme://`` target selects another
    transport registered with the service layer (the embedded server, for one).
    """

    target_host: str
    api_key: str | None = None
    """Sent as ``authorization: Bearer <api_key>``; turns TLS on unless ``tls=False``."""
    tls: bool | TLSConfig | None = None
    """True or a config for TLS; None means "only if an API key is set"."""
    retry_config: RetryConfig | None = None
    """Backoff for retried calls; None uses :py:class:`RetryConfig`'s defaults."""
    keep_alive_config: KeepAliveConfig | None = KeepAliveConfig.default
    """Keep-alive pings; None turns them off."""
    rpc_metadata: Mapping[str, str | bytes] = field(default_factory=dict)
    """Headers sent with every call (per-call metadata wins on conflicts)."""
    identity: str = ""
    """Who is calling, sent in requests that carry an identity; default ``pid@host``."""
    lazy: bool = False
    """Do not contact the server until the first call."""
    http_connect_proxy_config: HttpConnectProxyConfig | None = None
    """Go through an HTTP CONNECT proxy."""
    dns_load_balancing_config: DnsLoadBalancingConfig | None = None
    """Round-robin over the target's DNS addresses."""
    grpc_compression: GrpcCompression = GrpcCompression.GZIP
    """Transport compression."""
    connect_timeout: timedelta | None = None
    """Time allowed for the first contact with the server."""
    runtime: Runtime | None = None
    """Where the connection's and its workers' metrics go (perdure.runtime); None: the
    default runtime."""

    def __post_init__(self) -> None:
        """Default the identity to ``<pid>@<hostname>``, like the official SDKs."""
        if not self.identity:
            self.identity = f"{os.getpid()}@{socket.gethostname()}"

    def _use_tls(self) -> TLSConfig | None:
        """The TLS settings to use, or None for plaintext."""
        if isinstance(self.tls, TLSConfig):
            return self.tls
        if self.tls or (self.tls is None and self.api_key is not None):
            return TLSConfig()
        return None
