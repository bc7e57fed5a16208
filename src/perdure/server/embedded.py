"""The server's engine run inside an application's process (embedded mode).

An `EmbeddedServer` is a `PerdureServer` (store, history, matching, timers, frontend)
that clients reach by calling its handlers directly with the request and a deadline
(perdure.service's "embedded" transport: the same validation and history operations as
over gRPC, without a servicer context) and, when asked, also over gRPC so that other
processes (the `temporal` CLI, an official-SDK worker) can share it. With
`time_skipping` its clock is virtual and Temporal's TestService drives it (see
timers/skipping.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message
from temporalio.api.namespace.v1 import message_pb2 as namespace_pb2

from perdure.server.app import PerdureServer, ServerConfig
from perdure.server.frontend.deadline import Deadline
from perdure.server.namespaces import Namespace

log = logging.getLogger(__name__)

Handler = Callable[[Any, Deadline], Awaitable[Message]]
"""A handler called in process: the request object and the caller's deadline."""


@dataclass(frozen=True)
class EmbeddedOptions:
    """What an embedded engine is started with."""

    db: str = ":memory:"
    """A SQLite path, ":memory:", or a PostgreSQL URL (as `perdure server --db`)."""
    serve_grpc: str | None = None
    """Also listen for gRPC at this "host:port" or "port" (port 0: any free port)."""
    namespaces: Sequence[str] = ("default",)
    search_attributes: Mapping[str, int] = field(default_factory=dict)
    """Custom search attributes to register in every namespace (name -> IndexedValueType)."""
    time_skipping: bool = False
    """A virtual clock that jumps to the next deadline when nothing runs."""


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def _listen_address(serve_grpc: str) -> tuple[str, int]:
    host, sep, port = serve_grpc.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"serve_grpc must be 'port' or 'host:port', not {serve_grpc!r}")
    return (host if sep and host else "127.0.0.1"), int(port)


class EmbeddedServer:
    """An engine for in-process callers: `handler(service, rpc)` finds what serves an RPC."""

    def __init__(self, server: PerdureServer) -> None:
        self.server = server
        self.skipper = server.skipper
        self._tests = server.test_service
        self._handlers: dict[tuple[str, str], Handler | None] = {}
        self.stopped = False

    @classmethod
    async def start(cls, options: EmbeddedOptions) -> EmbeddedServer:
        host, port = _listen_address(options.serve_grpc or "0")
        config = ServerConfig(
            host=host,
            port=port,
            db=options.db,
            namespaces=tuple(options.namespaces),
            search_attributes=dict(options.search_attributes),
            serve_grpc=options.serve_grpc is not None,
            time_skipping=options.time_skipping,
        )
        server = await PerdureServer.start(config)
        if options.time_skipping:
            for name in dict.fromkeys(["default", *options.namespaces]):
                await _keep_closed_runs(server, await server.namespaces.get(name))
        return cls(server)

    @property
    def grpc_target(self) -> str | None:
        """Where other processes reach this engine over gRPC ("host:port"), if they can."""
        if not self.server.config.serve_grpc:
            return None
        return f"{self.server.config.host}:{self.server.port}"

    def handler(self, service: str, rpc: str) -> Handler | None:
        """The method serving `rpc` (snake_case) of `service` ("workflow", "operator",
        "test"), or None when this engine does not have it."""
        key = (service, rpc)
        try:
            return self._handlers[key]
        except KeyError:
            pass
        target: object = self._tests if service == "test" else self.server.frontend
        found: Handler | None = None
        if target is not None:
            found = getattr(target, _camel(rpc), None)
        self._handlers[key] = found
        return found

    async def stop(self) -> None:
        """Stop the engine: waiting long polls return, then the store closes."""
        if self.stopped:
            return
        self.stopped = True
        await self.server.stop()


async def _keep_closed_runs(server: PerdureServer, ns: Namespace) -> None:
    """No retention deletions where time skips: a test that jumps a month still sees
    the runs it finished, as on Temporal's test server."""
    config = namespace_pb2.NamespaceConfig()
    config.CopyFrom(ns.config)
    config.workflow_execution_retention_ttl.FromSeconds(0)
    await server.namespaces.update(
        Namespace(ns.id, ns.name, ns.info, config, ns.version + 1), ns.version
    )
