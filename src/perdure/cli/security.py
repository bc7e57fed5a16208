"""The TLS and authorization flags of `perdure server start` / `start-dev`, and the rule
that keeps an unprotected server off the network."""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path
from typing import Any

from perdure.server.dynamic_config import DynamicConfig, parse_flag
from perdure.server.frontend.dispatch import CallInterceptor
from perdure.server.security.config import (
    SettingsError,
    authorization_interceptor,
    merge_flags,
    tls_config,
)
from perdure.server.security.tls import ServerTLSConfig

SECTIONS = ("tls", "authorization", "dynamic_config")
"""The settings file's sections read here (beside the server's own keys)."""


def add_tls_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("TLS")
    group.add_argument("--tls-cert", metavar="PEM", help="server certificate chain (turns TLS on)")
    group.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    group.add_argument(
        "--tls-client-ca",
        action="append",
        default=[],
        metavar="PEM",
        help="CA of client certificates: clients must present one (mutual TLS); repeatable",
    )


def _dynamic_value(text: str) -> tuple[str, object]:
    try:
        return parse_flag(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def add_dynamic_config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dynamic-config-value",
        action="append",
        default=[],
        type=_dynamic_value,
        metavar="KEY=VALUE",
        help="a Temporal dynamic config value (limits: limit.historyCount.error=51200,"
        " frontend.namespaceRPS=2400, ...); repeatable",
    )


def dynamic_config(
    args: argparse.Namespace, file: dict[str, Any], defaults: dict[str, object] | None = None
) -> DynamicConfig:
    """`[dynamic_config]` (with `[dynamic_config.namespaces.NAME]`) and the flags over it."""
    section = dict(file.get("dynamic_config", {}))
    namespaces = section.pop("namespaces", {})
    if not isinstance(namespaces, dict) or not all(
        isinstance(v, dict) for v in namespaces.values()
    ):
        raise SettingsError("[dynamic_config.namespaces.NAME] must be tables")
    values = {**(defaults or {}), **section, **dict(args.dynamic_config_value)}
    try:
        return DynamicConfig(values, namespaces)
    except ValueError as err:
        raise SettingsError(str(err)) from err


def add_authorization_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("authorization (API keys: see [authorization] in --config)")
    group.add_argument(
        "--jwks-file", action="append", default=[], metavar="JSON", help="JWKS of JWT signers"
    )
    group.add_argument(
        "--jwt-key-file", action="append", default=[], metavar="PEM", help="JWT signer public key"
    )
    group.add_argument("--jwt-audience", help="the `aud` every JWT must carry")
    group.add_argument(
        "--insecure",
        action="store_true",
        help="serve a non-loopback address without TLS or authorization (not recommended)",
    )


def security_settings(
    args: argparse.Namespace, file: dict[str, Any], base: Path
) -> tuple[ServerTLSConfig | None, list[CallInterceptor]]:
    """TLS and interceptors from the settings file's sections and the flags (flags win)."""
    tls_section = merge_flags(
        file.get("tls", {}), cert_file=_abs(args.tls_cert), key_file=_abs(args.tls_key),
        client_ca_files=_abs_all(args.tls_client_ca),
    )  # fmt: skip
    tls = tls_config(tls_section, base) if tls_section else None
    auth_section = merge_flags(
        file.get("authorization", {}),
        jwks_files=_abs_all(getattr(args, "jwks_file", [])),
        jwt_key_files=_abs_all(getattr(args, "jwt_key_file", [])),
        jwt_audience=getattr(args, "jwt_audience", None),
    )
    interceptors: list[CallInterceptor] = []
    if auth_section:
        interceptors.append(authorization_interceptor(auth_section, base))
    return tls, interceptors


def _abs(path: str | None) -> str | None:
    """A path given on the command line is the shell's: relative to the working directory."""
    return str(Path(path).resolve()) if path else None


def _abs_all(paths: list[str]) -> list[str]:
    return [str(Path(p).resolve()) for p in paths]


def exposure_problem(host: str, tls: bool, authorization: bool, insecure: bool) -> str | None:
    """Why serving `host` this way is refused (None: fine).

    A loopback address is always fine. Any other address needs TLS or authorization,
    unless the operator says --insecure.
    """
    if _loopback(host) or tls or authorization or insecure:
        return None
    return (
        f"refusing to serve {host} without TLS or authorization: configure [tls] and/or "
        "[authorization] (or --tls-cert/--tls-key), bind 127.0.0.1, or pass --insecure"
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


__all__ = [
    "SECTIONS",
    "SettingsError",
    "add_authorization_flags",
    "add_dynamic_config_flag",
    "add_tls_flags",
    "dynamic_config",
    "exposure_problem",
    "security_settings",
]
