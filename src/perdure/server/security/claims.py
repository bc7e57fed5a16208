"""Who the caller is: credentials in, claims (roles per namespace) out.

Temporal's claim mapper shape: `AuthInfo` (the `authorization` header, the client
certificate's subject) goes through a `ClaimMapper` to `Claims`. The default mapper knows
API keys, JWTs signed by configured keys, and client certificate common names, each
granting permissions in Temporal's format ("namespace:role", "temporal-system:admin").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from perdure.server.security.roles import ROLE_NAMES, SYSTEM_NAMESPACE, Role

log = logging.getLogger(__name__)


class AuthenticationError(Exception):
    """Credentials were given but cannot be trusted (unknown key, bad or expired token)."""


@dataclass(frozen=True)
class AuthInfo:
    """What a call says about its caller."""

    auth_token: str = ""
    """The `authorization` header ("Bearer <api key or JWT>")."""
    tls_common_name: str = ""
    """The verified client certificate's common name (mutual TLS), else ""."""

    @property
    def empty(self) -> bool:
        return not self.auth_token and not self.tls_common_name


@dataclass(frozen=True)
class Claims:
    """What the caller may do: Temporal's authorization.Claims."""

    subject: str = ""
    system: Role = Role.NONE
    namespaces: Mapping[str, Role] = field(default_factory=dict)

    def role_in(self, namespace: str) -> Role:
        """The caller's roles in `namespace`: its own and the system's (cluster-wide)."""
        return self.system | self.namespaces.get(namespace, Role.NONE)

    def merged(self, other: Claims) -> Claims:
        names = dict(self.namespaces)
        for ns, role in other.namespaces.items():
            names[ns] = names.get(ns, Role.NONE) | role
        return Claims(self.subject or other.subject, self.system | other.system, names)


def parse_permissions(permissions: Iterable[object], subject: str = "") -> Claims:
    """Temporal's `permissions` claim: "namespace:role" entries; unknown roles are ignored,
    as its default claim mapper does."""
    system = Role.NONE
    namespaces: dict[str, Role] = {}
    for entry in permissions:
        if not isinstance(entry, str):
            continue
        namespace, sep, name = entry.rpartition(":")
        role = ROLE_NAMES.get(name.strip().lower())
        if not sep or not namespace or role is None:
            continue
        if namespace == SYSTEM_NAMESPACE:
            system |= role
        else:
            namespaces[namespace] = namespaces.get(namespace, Role.NONE) | role
    return Claims(subject, system, namespaces)


class ClaimMapper(Protocol):
    """Credentials -> claims; raise `AuthenticationError` for credentials not trusted."""

    def get_claims(self, info: AuthInfo) -> Claims: ...


def _bearer(header: str) -> str:
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("unexpected authorization token format")
    return token.strip()


def key_digest(key: str) -> str:
    """How API keys are stored in settings: the SHA-256 of the key, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class JwtKey:
    key: Any
    algorithm: str
    kid: str | None = None


def _jwt() -> Any:
    """PyJWT, an optional dependency (`pip install 'perdure[auth]'`) needed for JWTs only."""
    try:
        import jwt
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ValueError("JWT verification needs PyJWT: pip install 'perdure[auth]'") from err
    return jwt


class JwtVerifier:
    """Checks a JWT's signature against configured keys, and its `exp`, `nbf` and `aud`."""

    ALGORITHMS = ("RS256", "ES256", "HS256")

    def __init__(self, keys: Sequence[JwtKey], audience: str | None = None) -> None:
        self.keys = tuple(keys)
        self.audience = audience

    @classmethod
    def from_files(
        cls,
        jwks_files: Sequence[Path] = (),
        pem_files: Sequence[Path] = (),
        audience: str | None = None,
    ) -> JwtVerifier:
        """Keys from JWKS files (RSA, EC or "oct" HMAC keys) and PEM public keys."""
        jwt = _jwt()
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        keys: list[JwtKey] = []
        for path in jwks_files:
            try:
                data = json.loads(path.read_text())
                jwks = jwt.PyJWKSet.from_dict(data)
            except (OSError, ValueError, jwt.PyJWTError) as err:
                raise ValueError(f"cannot read JWKS {path}: {err}") from err
            for k in jwks.keys:
                algorithm = k.algorithm_name
                if algorithm not in cls.ALGORITHMS:
                    raise ValueError(
                        f"{path}: key {k.key_id!r} uses {algorithm}; "
                        f"supported: {', '.join(cls.ALGORITHMS)}"
                    )
                keys.append(JwtKey(k.key, algorithm, k.key_id))
        for path in pem_files:
            try:
                public = load_pem_public_key(path.read_bytes())
            except (OSError, ValueError) as err:
                raise ValueError(f"cannot read public key {path}: {err}") from err
            if isinstance(public, rsa.RSAPublicKey):
                keys.append(JwtKey(public, "RS256"))
            elif isinstance(public, ec.EllipticCurvePublicKey):
                keys.append(JwtKey(public, "ES256"))
            else:
                raise ValueError(f"{path}: only RSA and EC public keys sign JWTs here")
        return cls(keys, audience)

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or `AuthenticationError` saying what is wrong."""
        jwt = _jwt()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as err:
            raise AuthenticationError(f"malformed token: {err}") from err
        kid = header.get("kid")
        candidates = [k for k in self.keys if kid is None or k.kid in (None, kid)]
        if not candidates:
            raise AuthenticationError(f"no key with kid {kid!r}")
        last: Exception | None = None
        for k in candidates:
            if header.get("alg") != k.algorithm:
                continue
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    k.key,
                    algorithms=[k.algorithm],
                    audience=self.audience,
                    options={"verify_aud": self.audience is not None, "require": ["exp"]},
                )
                return claims
            except jwt.InvalidSignatureError as err:
                last = err
            except jwt.PyJWTError as err:
                raise AuthenticationError(str(err)) from err
        raise AuthenticationError(f"token not signed by a configured key ({last or 'alg'})")


class DefaultClaimMapper:
    """API keys, JWTs and client certificate names, each mapped to Temporal permissions."""

    def __init__(
        self,
        api_keys: Mapping[str, Sequence[str]] | None = None,
        jwt_verifier: JwtVerifier | None = None,
        tls_common_names: Mapping[str, Sequence[str]] | None = None,
        permissions_claim: str = "permissions",
    ) -> None:
        """`api_keys` maps the SHA-256 (hex, `key_digest`) of each key to its permissions."""
        self._api_keys = {
            digest.lower(): parse_permissions(perms, f"api-key:{digest[:8]}")
            for digest, perms in (api_keys or {}).items()
        }
        self._jwt = jwt_verifier
        self._tls = {
            name: parse_permissions(perms, f"tls:{name}")
            for name, perms in (tls_common_names or {}).items()
        }
        self._claim = permissions_claim

    def get_claims(self, info: AuthInfo) -> Claims:
        claims = Claims()
        if info.tls_common_name:
            claims = claims.merged(self._tls.get(info.tls_common_name, Claims()))
        if info.auth_token:
            claims = claims.merged(self._token_claims(_bearer(info.auth_token)))
        return claims

    def _token_claims(self, token: str) -> Claims:
        key_claims = self._api_key_claims(token)
        if key_claims is not None:
            return key_claims
        if self._jwt is None:
            raise AuthenticationError("unknown API key")
        payload = self._jwt.verify(token)
        permissions = payload.get(self._claim, [])
        if not isinstance(permissions, list):
            raise AuthenticationError(f"claim {self._claim!r} is not a list")
        return parse_permissions(permissions, str(payload.get("sub", "")))

    def _api_key_claims(self, token: str) -> Claims | None:
        digest = key_digest(token)
        found = None
        for known, claims in self._api_keys.items():
            if hmac.compare_digest(known, digest):
                found = claims
        return found
