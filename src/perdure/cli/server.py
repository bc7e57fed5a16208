"""`perdure server ...`: run a server."""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import logging
import os
import signal
import socket
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.api.enums.v1 import common_pb2 as common_enums

from perdure.cli.security import (
    SECTIONS,
    SettingsError,
    add_authorization_flags,
    add_dynamic_config_flag,
    add_tls_flags,
    dynamic_config,
    exposure_problem,
    security_settings,
)

if TYPE_CHECKING:
    from perdure.server.app import ServerConfig as ServerConfigType

LOG_LEVELS = ("debug", "info", "warn", "warning", "error")
LOG_FORMATS = ("text", "json")


def default_db_path() -> Path:
    """A file in the user's data directory, so a restart keeps everything."""
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "perdure" / "perdure.db"


def _search_attribute(text: str) -> tuple[str, int]:
    name, sep, kind = text.partition("=")
    names = {
        n.removeprefix("INDEXED_VALUE_TYPE_").replace("_", "").lower(): v
        for n, v in common_enums.IndexedValueType.items()
    }
    value = names.get(kind.replace("_", "").lower())
    if not sep or not name or value is None or value == 0:
        raise argparse.ArgumentTypeError(
            f"expected KEY=TYPE with TYPE one of Text, Keyword, Int, Double, Bool, Datetime, "
            f"KeywordList; got {text!r}"
        )
    return name, value


def add_commands(commands: Any) -> None:
    server = commands.add_parser("server", help="run a Perdure server")
    sub = server.add_subparsers(dest="server_command", required=True)
    dev = sub.add_parser(
        "start-dev",
        help="run a development server on SQLite (one file, nothing to set up)",
        description="Run a Perdure server that speaks Temporal's gRPC API, on SQLite.",
    )
    dev.add_argument("--ip", default="127.0.0.1", help="address to listen on")
    dev.add_argument("-p", "--port", type=int, default=7233, help="gRPC port (default 7233)")
    where = dev.add_mutually_exclusive_group()
    where.add_argument(
        "-f",
        "--db-filename",
        default=None,
        help=f"SQLite file (default {default_db_path()}); ':memory:' keeps nothing",
    )
    where.add_argument(
        "--db", default=None, metavar="URL", help="a database URL instead (postgresql://...)"
    )
    _add_common(dev)
    # For tests only, hence hidden: accept namespace retention periods shorter than
    # Temporal's 1 hour minimum (seconds), so that retention can be seen deleting runs.
    dev.add_argument("--min-retention", type=float, default=3600.0, help=argparse.SUPPRESS)
    dev.add_argument(
        "--http-port", type=int, default=0, help="HTTP/JSON API port (default: a free port)"
    )
    dev.add_argument(
        "--ui-port", type=int, default=None, help="Web UI port (default: --port + 1000)"
    )
    dev.add_argument("--ui-ip", default=None, help="address the Web UI listens on (default --ip)")
    dev.add_argument("--headless", action="store_true", help="do not serve the Web UI")
    add_tls_flags(dev)
    add_dynamic_config_flag(dev)
    dev.set_defaults(run=run_start_dev)

    prod = sub.add_parser(
        "start",
        help="run a server for production (PostgreSQL; any number of them on one database)",
        description=(
            "Run a Perdure server. Settings come from a TOML file (--config) and flags, flags"
            " winning. Several servers on one PostgreSQL database share the work: any of"
            " them serves any request. The database schema must be current: run"
            " `perdure server migrate` first, or pass --migrate."
        ),
    )
    prod.add_argument("-c", "--config", type=Path, help="TOML file with the settings below")
    prod.add_argument("--db", metavar="URL", help="database URL (postgresql://...; env PERDURE_DB)")
    prod.add_argument(
        "--ip",
        "--host",
        dest="ip",
        help="address to listen on (default 127.0.0.1; another needs TLS, authorization"
        " or --insecure)",
    )
    prod.add_argument("-p", "--port", type=int, help="gRPC port (default 7233)")
    prod.add_argument("--http-port", type=int, help="serve the HTTP/JSON API on this port")
    prod.add_argument(
        "--migrate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="apply pending schema migrations at start (default: refuse an old schema)",
    )
    _add_common(prod, defaults=False)
    add_tls_flags(prod)
    add_authorization_flags(prod)
    add_dynamic_config_flag(prod)
    prod.set_defaults(run=run_start)

    mig = sub.add_parser(
        "migrate",
        help="create or upgrade a database's schema",
        description="Apply the schema migrations a database lacks, each in its transaction.",
    )
    mig.add_argument("--db", metavar="URL", help="database URL or SQLite path (env PERDURE_DB)")
    mig.add_argument(
        "--check", action="store_true", help="only report; exit 1 if migrations are pending"
    )
    mig.set_defaults(run=run_migrate)


def _add_common(parser: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    parser.add_argument(
        "-n", "--namespace", action="append", default=[], help="namespace to create at start"
    )
    parser.add_argument(
        "--search-attribute",
        action="append",
        default=[],
        type=_search_attribute,
        metavar="KEY=TYPE",
        help="custom search attribute to register at start",
    )
    parser.add_argument("--log-level", default="info" if defaults else None, choices=LOG_LEVELS)
    parser.add_argument(
        "--log-format",
        default="text" if defaults else None,
        choices=LOG_FORMATS,
        help="text, or json: one JSON object per line with the request's namespace, "
        "workflow id and run id",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics at http://IP:PORT/metrics (default: no metrics)",
    )


def _configure_logging(level: str, log_format: str = "text") -> None:
    if log_format == "json":
        from perdure.server.logs import configure_json_logging

        configure_json_logging(level)
        return
    logging.basicConfig(
        level={"warn": "WARNING"}.get(level, level.upper()),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def run_start_dev(args: argparse.Namespace) -> int:
    from perdure.server.app import ServerConfig

    db = args.db or args.db_filename
    if db is None:
        path = default_db_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            return _cannot_start("start-dev", f"cannot create {path.parent}: {err.strerror}")
        db = str(path)
    try:
        tls, _ = security_settings(args, {}, Path.cwd())
        dynamic = dynamic_config(args, {})
    except SettingsError as e:
        print(f"perdure server start-dev: {e}", file=sys.stderr)
        return 2
    config = ServerConfig(
        host=args.ip,
        port=args.port,
        db=db,
        namespaces=tuple(args.namespace),
        search_attributes=dict(args.search_attribute),
        min_retention_seconds=args.min_retention,
        dynamic_config=dynamic,
        http_port=args.http_port,
        ui_host=args.ui_ip,
        metrics_port=args.metrics_port,
        request_log_context=args.log_format == "json" or args.log_level == "debug",
        tls=tls,
    )
    if args.http_port:
        taken = _port_taken(args.ip, args.http_port)
        if taken is not None:
            return _cannot_start("start-dev", taken)
    if not args.headless:
        if args.ui_port is not None:
            taken = _port_taken(args.ui_ip or args.ip, args.ui_port)
            if taken is not None:
                return _cannot_start("start-dev", taken)
            config.ui_port = args.ui_port
        else:
            # Temporal's default, port + 1000; when that is not free, any free port.
            derived = args.port + 1000 if args.port else 0
            if derived > 65535 or _port_taken(args.ui_ip or args.ip, derived) is not None:
                derived = 0
            config.ui_port = derived
    return _serve("start-dev", config, args.log_level, args.log_format)


class ConfigError(Exception):
    """A settings file or flag that cannot be used."""


_CONFIG_KEYS = {
    "db", "host", "port", "namespaces", "search_attributes", "log_level", "migrate",
    "http_port", "metrics_port", "log_format",
}  # fmt: skip


def load_config(path: Path | None) -> dict[str, Any]:
    """The settings of a TOML file (keys as in `_CONFIG_KEYS`), checked."""
    if path is None:
        return {}
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    sections = {k: data.pop(k) for k in SECTIONS if k in data}
    data = data.get("server", data)
    sections.update({k: data.pop(k) for k in SECTIONS if k in data})
    for name, section in sections.items():
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: [{name}] must be a table")
    unknown = set(data) - _CONFIG_KEYS
    if unknown:
        raise ConfigError(
            f"{path}: unknown settings {sorted(unknown)}; known: {sorted(_CONFIG_KEYS)}"
        )
    types: dict[str, type | tuple[type, ...]] = {
        "db": str, "host": str, "port": int, "namespaces": list,
        "search_attributes": dict, "log_level": str, "migrate": bool,
        "http_port": int, "metrics_port": int, "log_format": str,
    }  # fmt: skip
    for key, value in data.items():
        if not isinstance(value, types[key]):
            raise ConfigError(f"{path}: {key} must be a {types[key].__name__}")  # type: ignore[union-attr]
    if data.get("log_level", "info") not in LOG_LEVELS:
        raise ConfigError(f"{path}: log_level must be one of {', '.join(LOG_LEVELS)}")
    if data.get("log_format", "text") not in LOG_FORMATS:
        raise ConfigError(f"{path}: log_format must be one of {', '.join(LOG_FORMATS)}")
    attrs: dict[str, int] = {}
    for name, kind in data.get("search_attributes", {}).items():
        try:
            attrs.update([_search_attribute(f"{name}={kind}")])
        except argparse.ArgumentTypeError as e:
            raise ConfigError(f"{path}: search_attributes: {e}") from e
    if attrs:
        data["search_attributes"] = attrs
    return {**data, **sections}


def run_start(args: argparse.Namespace) -> int:
    from perdure.server.app import ServerConfig

    try:
        file = load_config(args.config)
    except ConfigError as e:
        print(f"perdure server start: {e}", file=sys.stderr)
        return 2
    db = args.db or file.get("db") or os.environ.get("PERDURE_DB")
    if not db:
        print(
            "perdure server start: no database; pass --db URL, set db in --config, or PERDURE_DB",
            file=sys.stderr,
        )
        return 2
    migrate = args.migrate if args.migrate is not None else file.get("migrate", False)
    base = args.config.parent if args.config is not None else Path.cwd()
    try:
        tls, interceptors = security_settings(args, file, base)
        # Temporal's default namespace rate limit holds unless the settings say otherwise.
        dynamic = dynamic_config(args, file, {"frontend.namespaceRPS": 2400})
    except SettingsError as e:
        print(f"perdure server start: {e}", file=sys.stderr)
        return 2
    host = args.ip or file.get("host", "127.0.0.1")
    problem = exposure_problem(host, tls is not None, bool(interceptors), args.insecure)
    if problem is not None:
        print(f"perdure server start: {problem}", file=sys.stderr)
        return 2
    if args.insecure and tls is None and not interceptors:
        print(
            f"perdure server start: WARNING: serving {host} without TLS or authorization:"
            " anyone who reaches it can do anything",
            file=sys.stderr,
        )
    log_level = args.log_level or file.get("log_level", "info")
    log_format = args.log_format or file.get("log_format", "text")
    config = ServerConfig(
        host=host,
        port=args.port if args.port is not None else file.get("port", 7233),
        db=db,
        namespaces=tuple(dict.fromkeys([*file.get("namespaces", []), *args.namespace])),
        search_attributes={**file.get("search_attributes", {}), **dict(args.search_attribute)},
        migrate=migrate,
        tls=tls,
        interceptors=interceptors,
        dynamic_config=dynamic,
        http_port=args.http_port if args.http_port is not None else file.get("http_port"),
        metrics_port=args.metrics_port
        if args.metrics_port is not None
        else file.get("metrics_port"),
        request_log_context=log_format == "json" or log_level == "debug",
    )
    return _serve("start", config, log_level, log_format)


def run_migrate(args: argparse.Namespace) -> int:
    from perdure.server.store import open_store, schema_version
    from perdure.server.store.base import StoreError
    from perdure.server.store.schema import SCHEMA_VERSION

    _configure_logging("warning")
    db = args.db or os.environ.get("PERDURE_DB")
    if not db:
        print("perdure server migrate: pass --db URL (or set PERDURE_DB)", file=sys.stderr)
        return 2

    async def migrate() -> int:
        before = await schema_version(db)
        if args.check or before >= SCHEMA_VERSION:
            state = "current" if before == SCHEMA_VERSION else "behind"
            if before > SCHEMA_VERSION:
                state = "newer than this Perdure"
            print(f"schema version {before} ({state}; this Perdure: {SCHEMA_VERSION})")
            return 0 if before >= SCHEMA_VERSION else 1
        store = await open_store(db, migrate=True)
        await store.close()
        print(f"schema version {before} -> {SCHEMA_VERSION}")
        return 0

    try:
        return asyncio.run(migrate())
    except (StoreError, OSError) as e:
        print(f"perdure server migrate: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # the drivers' own errors (bad URL, authentication, ...)
        print(f"perdure server migrate: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


def _cannot_start(command: str, reason: object) -> int:
    """Say in one line why the server cannot start; the exit status."""
    print(f"perdure server {command}: cannot start: {reason}", file=sys.stderr, flush=True)
    return 1


def _port_taken(host: str, port: int) -> str | None:
    """Why nothing can listen at `host:port` (taken, or not ours to take), else None.

    Checked before the database is opened, and before gRPC's own bind, whose failure
    its C core reports on stderr in a line of its own.
    """
    if port == 0:
        return None
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as err:
        return f"cannot listen on {host}:{port}: {err.strerror}"
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC binds
            try:
                probe.bind(address)
            except OSError as err:
                if err.errno in (errno.EADDRINUSE, errno.EACCES):
                    return f"cannot listen on {host}:{port}: {err.strerror}"
    return None


def _serve(command: str, config: ServerConfigType, log_level: str, log_format: str = "text") -> int:
    from perdure.server.app import PerdureServer
    from perdure.server.store.base import StoreError

    _configure_logging(log_level, log_format)
    shown = _redact(config.db)
    taken = _port_taken(config.host, config.port)
    if taken is None and config.metrics_port:
        taken = _port_taken(config.host, config.metrics_port)
    if taken is not None:
        return _cannot_start(command, taken)

    async def serve() -> int:
        # Handlers first: a SIGTERM that comes while the server starts stops it cleanly.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            server = await PerdureServer.start(config)
        except (OSError, StoreError, ValueError) as err:  # ValueError: TLS files
            return _cannot_start(command, err)
        except Exception as err:  # the database drivers' own (bad URL, authentication, ...)
            logging.getLogger("perdure").debug("start failed", exc_info=True)
            return _cannot_start(command, f"{type(err).__name__}: {err}")
        print(
            f"Perdure server: {config.host}:{server.port}{' (TLS)' if config.tls else ''}"
            f"  (database: {shown})",
            file=sys.stderr,
            flush=True,
        )
        if server.certificates is not None:
            loop.add_signal_handler(signal.SIGHUP, server.certificates.reload)
        if server.http_port is not None:
            print(f"Perdure HTTP API: {config.host}:{server.http_port}", file=sys.stderr)
        if server.ui_port is not None:
            ui_host = config.ui_host or config.host
            scheme = "https" if server.certificates is not None else "http"
            print(f"Perdure Web UI: {scheme}://{ui_host}:{server.ui_port}", file=sys.stderr)
        sys.stderr.flush()
        await stop.wait()
        await server.stop()
        return 0

    _tune_gc()
    return asyncio.run(serve())


def _tune_gc() -> None:
    """A server allocates many short-lived objects per request: collect the young
    generation less often, and keep everything loaded at start out of the collector's way."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)


def _redact(url: str) -> str:
    """A database URL without its password, for logs."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in creds:
        return url
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
