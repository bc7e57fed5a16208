"""The server's engine run inside an application's process (embedded mode).

An `EmbeddedServer` is a `PerdureServer` (store, history, matching, timers, frontend)
that clients reach by calling its handlers directly with the request and a deadline
(perdure.service's "embedded" transport: the same validation and history operations as
over gRPC, without a servicer context) and, when asked, also over gRPC so that other
processes (the `temporal` CLI, an official-SDK worker) can share it. With
`time_skipping` its clock is virtual and Temporal's TestService drives it (see
timers/skipping.py).

An engine that serves gRPC runs on an event loop of its own, in its own thread: other
processes then depend on it, and must not stall while the application blocks its loop
(a `time.sleep`, a slow synchronous call). In-process calls hop to that loop and back.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from google.protobuf.message import Message
from temporalio.api.namespace.v1 import message_pb2 as namespace_pb2

from perdure.server.app import PerdureServer, ServerConfig
from perdure.server.frontend.deadline import Deadline
from perdure.server.frontend.dispatch import Handler
from perdure.server.namespaces import Namespace

log = logging.getLogger(__name__)

_T = TypeVar("_T")


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
    serve_ui: str | None = None
    """Also serve the Web UI (and the HTTP API under /api/) at this "host:port" or "port"."""


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def _listen_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"expected 'port' or 'host:port', not {address!r}")
    return (host if sep and host else "127.0.0.1"), int(port)


class EngineLoop:
    """An event loop running in a thread of its own, for an engine that serves gRPC."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, name="perdure-embedded-engine", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            leftover = asyncio.all_tasks(self._loop)
            for task in leftover:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    async def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run `coro` on this loop and await its result from the caller's loop.

        Cancelling the caller cancels `coro`; `coro` cancelled on this loop (the engine
        stopping) cancels the caller.
        """
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def close(self) -> None:
        """Stop the loop and wait for its thread to end."""
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join)


class EmbeddedServer:
    """An engine for in-process callers: `handler(service, rpc)` finds what serves an RPC,
    :py:meth:`call` runs it on the engine's loop."""

    def __init__(self, server: PerdureServer, loop: EngineLoop | None = None) -> None:
        self.server = server
        self.skipper = server.skipper
        self._tests = server.test_service
        self._loop = loop
        self._handlers: dict[tuple[str, str], Handler | None] = {}
        self.stopped = False

    @classmethod
    async def start(cls, options: EmbeddedOptions) -> EmbeddedServer:
        """Start an engine: on the caller's loop, or on its own when it serves gRPC."""
        if options.serve_grpc is None and options.serve_ui is None:
            return await cls._start(options, None)
        loop = EngineLoop()
        try:
            return await loop.run(cls._start(options, loop))
        except BaseException:
            await loop.close()
            raise

    @property
    def own_loop(self) -> bool:
        """Whether the engine runs on a loop (and thread) of its own."""
        return self._loop is not None

    @classmethod
    async def _start(cls, options: EmbeddedOptions, loop: EngineLoop | None) -> EmbeddedServer:
        host, port = _listen_address(options.serve_grpc or "0")
        ui_host, ui_port = _listen_address(options.serve_ui or "0")
        config = ServerConfig(
            host=host,
            port=port,
            db=options.db,
            namespaces=tuple(options.namespaces),
            search_attributes=dict(options.search_attributes),
            serve_grpc=options.serve_grpc is not None,
            time_skipping=options.time_skipping,
            ui_port=ui_port if options.serve_ui is not None else None,
            ui_host=ui_host,
        )
        server = await PerdureServer.start(config)
        if options.time_skipping:
            for name in dict.fromkeys(["default", *options.namespaces]):
                await _keep_closed_runs(server, await server.namespaces.get(name))
        return cls(server, loop)

    @property
    def grpc_target(self) -> str | None:
        """Where other processes reach this engine over gRPC ("host:port"), if they can."""
        if not self.server.config.serve_grpc:
            return None
        return f"{self.server.config.host}:{self.server.port}"

    @property
    def ui_url(self) -> str | None:
        """Where the Web UI of this engine is (``serve_ui``), if it is served."""
        if self.server.ui_port is None:
            return None
        return (
            f"http://{self.server.config.ui_host or self.server.config.host}:{self.server.ui_port}"
        )

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

    async def call(self, handler: Handler, request: Message, deadline: Deadline) -> Message:
        """Run `handler` (from :py:meth:`handler`) on the engine's loop."""
        if self._loop is None:
            return await handler(request, deadline)
        return await self._loop.run(_on_engine_loop(handler, request, deadline))

    async def ensure_namespace(self, name: str) -> None:
        """Create namespace `name` unless it exists."""
        if self._loop is None:
            await self.server.namespaces.ensure(name)
        else:
            await self._loop.run(self.server.namespaces.ensure(name))

    async def stop(self) -> None:
        """Stop the engine: waiting long polls return, then the store closes."""
        if self.stopped:
            return
        self.stopped = True
        if self._loop is None:
            await self.server.stop()
            return
        try:
            await self._loop.run(self.server.stop())
        finally:
            await self._loop.close()


async def _on_engine_loop(handler: Handler, request: Message, deadline: Deadline) -> Message:
    return await handler(request, deadline)


async def _keep_closed_runs(server: PerdureServer, ns: Namespace) -> None:
    """No retention deletions where time skips: a test that jumps a month still sees
    the runs it finished, as on Temporal's test server."""
    config = namespace_pb2.NamespaceConfig()
    config.CopyFrom(ns.config)
    config.workflow_execution_retention_ttl.FromSeconds(0)
    await server.namespaces.update(
        Namespace(ns.id, ns.name, ns.info, config, ns.version + 1), ns.version
    )
