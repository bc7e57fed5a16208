"""`perdure server ...`: run a server."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import common_pb2 as common_enums

LOG_LEVELS = ("debug", "info", "warn", "warning", "error")


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
    dev.add_argument(
        "-f",
        "--db-filename",
        default=None,
        help=f"SQLite file (default {default_db_path()}); ':memory:' keeps nothing",
    )
    dev.add_argument(
        "-n", "--namespace", action="append", default=[], help="namespace to create at start"
    )
    dev.add_argument(
        "--search-attribute",
        action="append",
        default=[],
        type=_search_attribute,
        metavar="KEY=TYPE",
        help="custom search attribute to register at start",
    )
    dev.add_argument("--log-level", default="info", choices=LOG_LEVELS)
    # For tests only, hence hidden: accept namespace retention periods shorter than
    # Temporal's 1 hour minimum (seconds), so that retention can be seen deleting runs.
    dev.add_argument("--min-retention", type=float, default=3600.0, help=argparse.SUPPRESS)
    dev.add_argument("--headless", action="store_true", help="accepted for temporal compatibility")
    dev.set_defaults(run=run_start_dev)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level={"warn": "WARNING"}.get(level, level.upper()),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def run_start_dev(args: argparse.Namespace) -> int:
    from perdure.server.app import PerdureServer, ServerConfig

    _configure_logging(args.log_level)
    db = args.db_filename
    if db is None:
        path = default_db_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        db = str(path)
    config = ServerConfig(
        host=args.ip,
        port=args.port,
        db=db,
        namespaces=tuple(args.namespace),
        search_attributes=dict(args.search_attribute),
        min_retention_seconds=args.min_retention,
    )

    async def serve() -> None:
        server = await PerdureServer.start(config)
        print(
            f"Perdure server: {config.host}:{server.port}  (database: {db})",
            file=sys.stderr,
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop()

    try:
        asyncio.run(serve())
    except OSError as err:
        logging.getLogger("perdure").error("cannot start: %s", err)
        return 1
    return 0
