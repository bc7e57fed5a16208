"""Who may talk to the server and what they may do: TLS (tls.py), claims (claims.py),
roles (roles.py) and the authorization interceptor (authorization.py).

Custom rules: give `AuthorizationInterceptor` your own `ClaimMapper` and/or `Authorizer`
and pass it in `ServerConfig.interceptors`.
"""

from perdure.server.security.authorization import (
    AuthorizationInterceptor,
    Authorizer,
    CallTarget,
    Decision,
    DefaultAuthorizer,
)
from perdure.server.security.claims import (
    AuthenticationError,
    AuthInfo,
    ClaimMapper,
    Claims,
    DefaultClaimMapper,
    JwtVerifier,
    key_digest,
    parse_permissions,
)
from perdure.server.security.roles import Role
from perdure.server.security.tls import CertificateSource, ServerTLSConfig, TLSConfigError

__all__ = [
    "AuthInfo",
    "AuthenticationError",
    "AuthorizationInterceptor",
    "Authorizer",
    "CallTarget",
    "CertificateSource",
    "ClaimMapper",
    "Claims",
    "Decision",
    "DefaultAuthorizer",
    "DefaultClaimMapper",
    "JwtVerifier",
    "Role",
    "ServerTLSConfig",
    "TLSConfigError",
    "key_digest",
    "parse_permissions",
]
