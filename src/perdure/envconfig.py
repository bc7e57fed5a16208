"""Client settings from TOML files and ``TEMPORAL_*`` environment variables.

Mirrors ``temporalio.envconfig`` and follows Temporal's environment configuration
specification, so one ``temporal.toml`` serves the CLI, the official SDKs and Perdure:

* The file is ``config_source`` if given, else ``$TEMPORAL_CONFIG_FILE``, else
  ``<user config dir>/temporalio/temporal.toml``; a missing file is no error.
* ``[profile.<name>]`` tables hold ``address``, ``namespace``, ``api_key``, ``[...tls]``
  (``disabled``, ``server_name``, ``{client_cert,client_key,server_ca_cert}_{path,data}``,
  ``disable_host_verification``), ``[...codec]`` and ``[...grpc_meta]``.
* The profile is the one asked for, else ``$TEMPORAL_PROFILE``, else ``default``.
* Environment variables override the file: ``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
  ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS`` (true/false/1/0), ``TEMPORAL_TLS_*``, and
  ``TEMPORAL_GRPC_META_<NAME>`` (header ``<name>``, lowercased, ``_`` -> ``-``; empty
  removes it).
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self, TypeAlias, TypedDict, cast

from perdure.service import TLSConfig

DataSource: TypeAlias = Path | str | bytes
"""A certificate or config: a ``Path`` to read, or the contents (``str`` or ``bytes``)."""


class ConfigError(RuntimeError):
    """The configuration is invalid or cannot be loaded."""


class ClientConfigTLSDict(TypedDict, total=False):
    """Dictionary form of :py:class:`ClientConfigTLS`."""

    disabled: bool | None
    server_name: str
    server_ca_cert: Mapping[str, str]
    client_cert: Mapping[str, str]
    client_key: Mapping[str, str]


class ClientConfigProfileDict(TypedDict, total=False):
    """Dictionary form of :py:class:`ClientConfigProfile`."""

    address: str
    namespace: str
    api_key: str
    tls: ClientConfigTLSDict
    grpc_meta: Mapping[str, str]


class ClientConnectConfig(TypedDict, total=False):
    """Keyword arguments for ``Client.connect`` that configuration can supply."""

    target_host: str
    namespace: str
    api_key: str
    tls: bool | TLSConfig
    rpc_metadata: Mapping[str, str]


def _read_source(source: DataSource | None) -> bytes | None:
    if source is None:
        return None
    if isinstance(source, Path):
        return source.read_bytes()
    if isinstance(source, str):
        return source.encode()
    if isinstance(source, bytes):
        return source
    raise TypeError(
        f"Source must be one of pathlib.Path, str, or bytes, but got {type(source).__name__}"
    )


def _source_to_dict(source: DataSource | None) -> dict[str, str] | None:
    if isinstance(source, Path):
        return {"path": str(source)}
    if isinstance(source, str):
        return {"data": source}
    if isinstance(source, bytes):
        return {"data": source.decode()}
    return None


def _source_from_dict(raw: Mapping[str, Any] | None) -> DataSource | None:
    if not raw:
        return None
    if "data" in raw:
        return cast(DataSource, raw["data"])
    if "path" in raw:
        return Path(raw["path"])
    return None


@dataclass(frozen=True)
class ClientConfigTLS:
    """TLS settings of a profile."""

    disabled: bool | None = None
    """True: TLS off; False: TLS on; None: not said (on if there is an API key)."""
    server_name: str | None = None
    """Server name override (SNI)."""
    server_root_ca_cert: DataSource | None = None
    """The CA to verify the server with."""
    client_cert: DataSource | None = None
    """Client certificate for mutual TLS."""
    client_private_key: DataSource | None = None
    """Client key for mutual TLS."""

    def to_dict(self) -> ClientConfigTLSDict:
        """The dictionary form (sources as ``{"path": ...}`` or ``{"data": ...}``)."""
        result: ClientConfigTLSDict = {}
        if self.disabled is not None:
            result["disabled"] = self.disabled
        if self.server_name is not None:
            result["server_name"] = self.server_name
        keys: list[tuple[Literal["server_ca_cert", "client_cert", "client_key"], Any]] = [
            ("server_ca_cert", self.server_root_ca_cert),
            ("client_cert", self.client_cert),
            ("client_key", self.client_private_key),
        ]
        for key, source in keys:
            as_dict = _source_to_dict(source)
            if as_dict:
                result[key] = as_dict
        return result

    @classmethod
    def from_dict(cls, d: ClientConfigTLSDict | None) -> Self | None:
        """Build from the dictionary form (None or empty gives None)."""
        if not d:
            return None
        return cls(
            disabled=d.get("disabled"),
            server_name=d.get("server_name"),
            server_root_ca_cert=_source_from_dict(d.get("server_ca_cert")),
            client_cert=_source_from_dict(d.get("client_cert")),
            client_private_key=_source_from_dict(d.get("client_key")),
        )

    def to_connect_tls_config(self) -> bool | TLSConfig:
        """``False`` when disabled, else a :py:class:`~perdure.service.TLSConfig` (files read)."""
        if self.disabled is True:
            return False
        return TLSConfig(
            domain=self.server_name,
            server_root_ca_cert=_read_source(self.server_root_ca_cert),
            client_cert=_read_source(self.client_cert),
            client_private_key=_read_source(self.client_private_key),
        )


@dataclass(frozen=True)
class ClientConfigProfile:
    """One profile: how to reach one server and namespace."""

    address: str | None = None
    """``host:port`` of the server."""
    namespace: str | None = None
    """The namespace."""
    api_key: str | None = None
    """The API key (turns TLS on unless TLS is disabled)."""
    tls: ClientConfigTLS | None = None
    """TLS settings."""
    grpc_meta: Mapping[str, str] = field(default_factory=dict)
    """Headers for every call (names normalized: lowercase, ``-`` for ``_``)."""

    @classmethod
    def from_dict(cls, d: ClientConfigProfileDict) -> Self:
        """Build from the dictionary form."""
        return cls(
            address=d.get("address"),
            namespace=d.get("namespace"),
            api_key=d.get("api_key"),
            tls=ClientConfigTLS.from_dict(d.get("tls")),
            grpc_meta=d.get("grpc_meta") or {},
        )

    def to_dict(self) -> ClientConfigProfileDict:
        """The dictionary form (unset fields left out)."""
        result: ClientConfigProfileDict = {}
        if self.address is not None:
            result["address"] = self.address
        if self.namespace is not None:
            result["namespace"] = self.namespace
        if self.api_key is not None:
            result["api_key"] = self.api_key
        if self.tls is not None:
            tls = self.tls.to_dict()
            if tls:
                result["tls"] = tls
        if self.grpc_meta:
            result["grpc_meta"] = self.grpc_meta
        return result

    def to_client_connect_config(self) -> ClientConnectConfig:
        """``Client.connect`` keyword arguments for the settings that are present."""
        result: ClientConnectConfig = {}
        if self.address:
            result["target_host"] = self.address
        if self.namespace is not None:
            result["namespace"] = self.namespace
        if self.api_key is not None:
            result["api_key"] = self.api_key
            result["tls"] = True
        if self.tls is not None:
            result["tls"] = self.tls.to_connect_tls_config()
        if self.grpc_meta:
            result["rpc_metadata"] = self.grpc_meta
        return result

    @staticmethod
    def load(
        profile: str | None = None,
        *,
        config_source: DataSource | None = None,
        disable_file: bool = False,
        disable_env: bool = False,
        config_file_strict: bool = False,
        override_env_vars: Mapping[str, str] | None = None,
    ) -> ClientConfigProfile:
        """Load one profile from the file, then apply environment overrides.

        Args:
            profile: The profile name; default ``$TEMPORAL_PROFILE``, then ``default``.
                Asking for a profile that does not exist is an error; the implicit
                ``default`` may be absent.
            config_source: The TOML (``Path``, or contents as ``str``/``bytes``) instead
                of the default file.
            disable_file: Ignore files (environment only).
            disable_env: Ignore the environment (file only).
            config_file_strict: Unknown keys in the file are errors.
            override_env_vars: The environment to use instead of ``os.environ``.
        """
        if disable_file and disable_env:
            raise ConfigError(
                "Invalid configuration: Cannot disable both file and environment loading"
            )
        env = os.environ if override_env_vars is None else override_env_vars
        loaded = ClientConfigProfile()
        if not disable_file:
            config = ClientConfig.load(
                config_source=config_source,
                config_file_strict=config_file_strict,
                override_env_vars=override_env_vars,
            )
            name = profile or (None if disable_env else env.get("TEMPORAL_PROFILE")) or None
            if name is not None and name not in config.profiles:
                raise ConfigError(f"Profile '{name}' not found")
            loaded = config.profiles.get(name or "default", loaded)
        if not disable_env:
            loaded = _apply_env(loaded, env)
        return loaded


@dataclass
class ClientConfig:
    """Every profile of a configuration file."""

    profiles: Mapping[str, ClientConfigProfile]
    """Profiles by name."""

    def to_dict(self) -> Mapping[str, ClientConfigProfileDict]:
        """The dictionary form, by profile name."""
        return {name: profile.to_dict() for name, profile in self.profiles.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Mapping[str, Any]]) -> Self:
        """Build from the dictionary form."""
        return cls(
            profiles={
                name: ClientConfigProfile.from_dict(cast(ClientConfigProfileDict, raw))
                for name, raw in d.items()
            }
        )

    @staticmethod
    def load(
        *,
        config_source: DataSource | None = None,
        config_file_strict: bool = False,
        override_env_vars: Mapping[str, str] | None = None,
    ) -> ClientConfig:
        """Load every profile of the file (environment overrides are not applied).

        The environment is only used to find the file (``TEMPORAL_CONFIG_FILE``).
        """
        env = os.environ if override_env_vars is None else override_env_vars
        data: bytes | None
        if isinstance(config_source, str | bytes):
            data = _read_source(config_source)
        else:
            path = config_source or env.get("TEMPORAL_CONFIG_FILE") or _default_config_path()
            data = Path(path).read_bytes() if path and Path(path).is_file() else None
        if not data or not data.strip():
            return ClientConfig(profiles={})
        return ClientConfig(profiles=_parse_toml(data, strict=config_file_strict))

    @staticmethod
    def load_client_connect_config(
        profile: str | None = None,
        *,
        config_file: str | None = None,
        disable_file: bool = False,
        disable_env: bool = False,
        config_file_strict: bool = False,
        override_env_vars: Mapping[str, str] | None = None,
    ) -> ClientConnectConfig:
        """Load one profile and return ``Client.connect`` keyword arguments.

        Typical use: ``await Client.connect(**ClientConfig.load_client_connect_config())``.
        """
        source = Path(config_file) if config_file and not disable_file else None
        return ClientConfigProfile.load(
            profile=profile,
            config_source=source,
            disable_file=disable_file,
            disable_env=disable_env,
            config_file_strict=config_file_strict,
            override_env_vars=override_env_vars,
        ).to_client_connect_config()


# --------------------------------------------------------------------------- machinery


def _default_config_path() -> str | None:
    """``<user config dir>/temporalio/temporal.toml`` for this OS."""
    if sys.platform == "win32":
        base = os.environ.get("APPDATA")
    elif sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Application Support")
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return str(Path(base) / "temporalio" / "temporal.toml") if base else None


def _normalize_header(name: str) -> str:
    return name.lower().replace("_", "-")


_PROFILE_KEYS = {"address", "namespace", "api_key", "tls", "codec", "grpc_meta"}
_TLS_KEYS = {
    "disabled",
    "server_name",
    "disable_host_verification",
    *(
        f"{kind}_{form}"
        for kind in ("client_cert", "client_key", "server_ca_cert")
        for form in ("path", "data")
    ),
}
_CODEC_KEYS = {"endpoint", "auth"}


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"Configuration loading error: unknown field {unknown[0]!r} in {where}, "
            f"expected one of {sorted(allowed)}"
        )


def _parse_toml(data: bytes, *, strict: bool) -> dict[str, ClientConfigProfile]:
    try:
        document = tomllib.loads(data.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"Configuration loading error: {err}") from err
    if strict:
        _check_keys(document, {"profile"}, "the file")
    profiles: dict[str, ClientConfigProfile] = {}
    for name, table in (document.get("profile") or {}).items():
        if strict:
            _check_keys(table, _PROFILE_KEYS, f"profile {name!r}")
            _check_keys(table.get("codec") or {}, _CODEC_KEYS, f"profile {name!r} codec")
        tls_table = table.get("tls")
        profiles[name] = ClientConfigProfile(
            address=table.get("address"),
            namespace=table.get("namespace"),
            api_key=table.get("api_key"),
            tls=_parse_tls(tls_table, strict, name) if tls_table is not None else None,
            grpc_meta={
                _normalize_header(key): str(value)
                for key, value in (table.get("grpc_meta") or {}).items()
            },
        )
    return profiles


def _parse_tls(table: Mapping[str, Any], strict: bool, profile: str) -> ClientConfigTLS:
    if strict:
        _check_keys(table, _TLS_KEYS, f"profile {profile!r} tls")

    def source(kind: str) -> DataSource | None:
        path, data = table.get(f"{kind}_path"), table.get(f"{kind}_data")
        if path is not None and data is not None:
            raise ConfigError(
                f"Invalid configuration: Cannot specify both {kind}_path and {kind}_data"
            )
        if path is not None:
            return Path(path)
        return data.encode() if data else None

    return ClientConfigTLS(
        disabled=table.get("disabled"),
        server_name=table.get("server_name"),
        server_root_ca_cert=source("server_ca_cert"),
        client_cert=source("client_cert"),
        client_private_key=source("client_key"),
    )


_TLS_ENV = (
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_CERT_DATA",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_DATA",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
    "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
)


def _env_bool(value: str) -> bool | None:
    return {"true": True, "1": True, "false": False, "0": False}.get(value.lower())


def _env_source(
    env: Mapping[str, str], name: str, var: str, current: DataSource | None
) -> DataSource | None:
    path, data = env.get(f"{var}_PATH"), env.get(f"{var}_DATA")
    if path is not None and data is not None:
        raise ConfigError(f"Invalid configuration: Cannot specify both {var}_PATH and {var}_DATA")
    if path is not None:
        if isinstance(current, bytes | str):
            raise ConfigError(
                f"Invalid configuration: Cannot specify {name} path via {var}_PATH "
                f"when {name} data is already specified"
            )
        return Path(path)
    if data is not None:
        if isinstance(current, Path):
            raise ConfigError(
                f"Invalid configuration: Cannot specify {name} data via {var}_DATA "
                f"when {name} path is already specified"
            )
        return data.encode()
    return current


def _apply_env(profile: ClientConfigProfile, env: Mapping[str, str]) -> ClientConfigProfile:
    tls = profile.tls
    if tls is None and any(var in env for var in _TLS_ENV):
        tls = ClientConfigTLS()
    if tls is not None:
        enabled = _env_bool(env.get("TEMPORAL_TLS", ""))
        tls = ClientConfigTLS(
            disabled=tls.disabled if enabled is None else not enabled,
            server_name=env.get("TEMPORAL_TLS_SERVER_NAME", tls.server_name),
            server_root_ca_cert=_env_source(
                env, "server CA cert", "TEMPORAL_TLS_SERVER_CA_CERT", tls.server_root_ca_cert
            ),
            client_cert=_env_source(env, "cert", "TEMPORAL_TLS_CLIENT_CERT", tls.client_cert),
            client_private_key=_env_source(
                env, "key", "TEMPORAL_TLS_CLIENT_KEY", tls.client_private_key
            ),
        )
    meta = dict(profile.grpc_meta)
    for var, value in env.items():
        if var.startswith("TEMPORAL_GRPC_META_"):
            header = _normalize_header(var.removeprefix("TEMPORAL_GRPC_META_"))
            if value:
                meta[header] = value
            else:
                meta.pop(header, None)
    return ClientConfigProfile(
        address=env.get("TEMPORAL_ADDRESS", profile.address),
        namespace=env.get("TEMPORAL_NAMESPACE", profile.namespace),
        api_key=env.get("TEMPORAL_API_KEY", profile.api_key),
        tls=tls,
        grpc_meta=meta,
    )
