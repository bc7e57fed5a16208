"""The `[tls]` and `[authorization]` settings of `perdure.toml`, checked and built.

    [tls]
    cert_file = "server.pem"              # PEM chain
    key_file = "server-key.pem"
    client_ca_files = ["clients-ca.pem"]  # optional: require client certificates

    [authorization]
    jwks_files = ["jwks.json"]            # RS256 / ES256 / HS256 ("oct") keys
    jwt_key_files = ["issuer.pub.pem"]    # PEM public keys (RS256 / ES256)
    jwt_audience = "perdure"              # optional: `aud` must match
    permissions_claim = "permissions"     # Temporal's claim name

    [[authorization.api_keys]]
    sha256 = "<hex of sha256(key)>"       # or: key = "..." (plain, discouraged)
    permissions = ["default:read", "orders:write"]

    [authorization.tls_common_names]      # client certificate CN -> permissions
    "worker-1" = ["default:worker"]

Relative paths are relative to the settings file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from perdure.server.security.authorization import AuthorizationInterceptor
from perdure.server.security.claims import DefaultClaimMapper, JwtVerifier, key_digest
from perdure.server.security.tls import ServerTLSConfig

TLS_KEYS = {"cert_file", "key_file", "client_ca_files"}
AUTH_KEYS = {
    "jwks_files", "jwt_key_files", "jwt_audience", "permissions_claim", "api_keys",
    "tls_common_names",
}  # fmt: skip


class SettingsError(ValueError):
    """A `[tls]` or `[authorization]` setting that cannot be used."""


def _path(base: Path, value: object, what: str) -> Path:
    if not isinstance(value, str) or not value:
        raise SettingsError(f"{what} must be a file path")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _paths(base: Path, value: object, what: str) -> list[Path]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise SettingsError(f"{what} must be a list of file paths")
    return [_path(base, v, what) for v in value]


def _unknown(section: Mapping[str, Any], known: set[str], name: str) -> None:
    unknown = set(section) - known
    if unknown:
        raise SettingsError(f"[{name}]: unknown settings {sorted(unknown)}; known: {sorted(known)}")


def tls_config(section: Mapping[str, Any], base: Path = Path()) -> ServerTLSConfig:
    """`[tls]` -> the server's TLS settings."""
    _unknown(section, TLS_KEYS, "tls")
    if "cert_file" not in section or "key_file" not in section:
        raise SettingsError("[tls] needs both cert_file and key_file")
    return ServerTLSConfig(
        cert_file=_path(base, section["cert_file"], "tls.cert_file"),
        key_file=_path(base, section["key_file"], "tls.key_file"),
        client_ca_files=tuple(
            _paths(base, section.get("client_ca_files", []), "tls.client_ca_files")
        ),
    )


def _permissions(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise SettingsError(f'{what} must be a list of "namespace:role" strings')
    return list(value)


def authorization_interceptor(
    section: Mapping[str, Any], base: Path = Path()
) -> AuthorizationInterceptor:
    """`[authorization]` -> the interceptor that checks every call."""
    _unknown(section, AUTH_KEYS, "authorization")
    api_keys: dict[str, list[str]] = {}
    entries = section.get("api_keys", [])
    if not isinstance(entries, list):
        raise SettingsError("[[authorization.api_keys]] must be a list of tables")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or ("key" in entry) == ("sha256" in entry):
            raise SettingsError(f"authorization.api_keys[{i}]: give exactly one of key, sha256")
        digest = key_digest(str(entry["key"])) if "key" in entry else str(entry["sha256"]).lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise SettingsError(f"authorization.api_keys[{i}].sha256 is not a SHA-256 hex digest")
        api_keys[digest] = _permissions(
            entry.get("permissions"), f"authorization.api_keys[{i}].permissions"
        )
    names = section.get("tls_common_names", {})
    if not isinstance(names, dict):
        raise SettingsError("[authorization.tls_common_names] must be a table")
    common_names = {
        str(k): _permissions(v, f"authorization.tls_common_names.{k}") for k, v in names.items()
    }
    audience = section.get("jwt_audience")
    if audience is not None and not isinstance(audience, str):
        raise SettingsError("authorization.jwt_audience must be a string")
    jwks = _paths(base, section.get("jwks_files", []), "authorization.jwks_files")
    pems = _paths(base, section.get("jwt_key_files", []), "authorization.jwt_key_files")
    verifier = None
    if jwks or pems:
        try:
            verifier = JwtVerifier.from_files(jwks, pems, audience)
        except ValueError as err:
            raise SettingsError(str(err)) from err
    claim = section.get("permissions_claim", "permissions")
    if not isinstance(claim, str):
        raise SettingsError("authorization.permissions_claim must be a string")
    if not api_keys and verifier is None and not common_names:
        raise SettingsError(
            "[authorization] grants nothing: give api_keys, jwks_files/jwt_key_files or "
            "tls_common_names"
        )
    return AuthorizationInterceptor(DefaultClaimMapper(api_keys, verifier, common_names, claim))


def merge_flags(section: Mapping[str, Any], **flags: Sequence[str] | str | None) -> dict[str, Any]:
    """A section with the flags given on the command line laid over it (None: not given)."""
    out = dict(section)
    for key, value in flags.items():
        if value is not None and value != []:
            out[key] = value
    return out
