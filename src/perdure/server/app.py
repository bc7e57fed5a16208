"""A whole Perdure server: store, history, matching, timers and the gRPC frontend, wired."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from perdure.server.clock import Clock, RealClock
from perdure.server.cluster import Cluster
from perdure.server.engine.describe import visibility_row
from perdure.server.engine.state import ExecutionState
from perdure.server.errors import InvalidArgument
from perdure.server.frontend.rpc import generic_handlers, health_handler
from perdure.server.frontend.service import Frontend
from perdure.server.history.service import HistoryService
from perdure.server.matching.queues import Matching
from perdure.server.namespaces import Namespace, NamespaceRegistry
from perdure.server.store import open_store
from perdure.server.store.base import Store, TaskRow, VisibilityRow
from perdure.server.store.shared import SharedStore
from perdure.server.timers.dispatch import TimerDispatcher
from perdure.server.timers.queue import TimerQueue
from perdure.server.visibility import (
    add_search_attributes,
    search_attribute_columns,
    visibility_search_attributes,
)

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 128 * 1024 * 1024


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 7233
    db: str = ":memory:"
    """A SQLite path, ":memory:", or a database URL."""
    namespaces: Sequence[str] = ("default",)
    search_attributes: Mapping[str, int] = field(default_factory=dict)
    """Custom search attributes registered at start in every namespace (name -> type)."""
    migrate: bool = True
    """Apply pending schema migrations at start; False refuses an old schema."""
    min_retention_seconds: float = 3600
    """Shortest namespace retention that Register/UpdateNamespace accept. Temporal's
    minimum is 1 hour; tests lower it (`start-dev --min-retention`) to see retention act."""
    serve_grpc: bool = True
    """Listen for gRPC on host:port; False leaves the engine to in-process callers
    (embedded mode, perdure.service's "embedded://" transport)."""


def build_visibility_row(st: ExecutionState, ns: Namespace) -> VisibilityRow:
    """A run's visibility row with its search attributes mapped to typed columns."""
    aliases = ns.search_attribute_aliases
    # Attributes stored before their registration changed are skipped, not fatal.
    columns = search_attribute_columns(
        st.search_attributes, aliases, namespace=ns.name, allow_server_set=True, skip_invalid=True
    )
    try:
        typed = visibility_search_attributes(st.search_attributes, aliases, namespace=ns.name)
        return visibility_row(st, columns, typed.SerializeToString())
    except InvalidArgument:
        log.warning("search attributes of %s no longer match their types", st.workflow_id)
        return visibility_row(st, columns)


class PerdureServer:
    """Start with `await PerdureServer.start(config)`; stop with `await server.stop()`."""

    def __init__(self, config: ServerConfig, store: Store, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.namespaces = NamespaceRegistry(store)
        self.history = HistoryService(store, clock, build_visibility_row=build_visibility_row)
        self.cluster = (
            Cluster(store, self.history, self.namespaces)
            if isinstance(store, SharedStore)
            else None
        )
        """Set when other server processes share the database (PostgreSQL)."""
        self.matching = Matching(
            store,
            reroute_sticky=self._reroute_sticky,
            queue_factory=self.cluster.new_queue if self.cluster else None,
        )
        self.timers = TimerQueue(store, clock, TimerDispatcher(self.history, self.namespaces).fire)
        dialect = getattr(getattr(store, "dialect", None), "name", "sqlite")
        self.frontend = Frontend(
            namespaces=self.namespaces,
            history=self.history,
            matching=self.matching,
            store=store,
            visibility_dialect=dialect,
        )
        self.frontend.min_retention_seconds = config.min_retention_seconds
        self.history.task_listeners.append(self.matching.offer)
        self.history.timer_listeners.append(self.timers.add)
        self.history.timer_removal_listeners.append(self.timers.remove)
        self._grpc: grpc.aio.Server | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._extra_handlers: list[grpc.GenericRpcHandler] = []
        self.port = config.port

    @classmethod
    async def start(
        cls,
        config: ServerConfig,
        clock: Clock | None = None,
        *,
        grpc_handlers: Sequence[grpc.GenericRpcHandler] = (),
    ) -> PerdureServer:
        """`grpc_handlers`: more services to serve beside the frontend (the test service)."""
        store = await open_store(config.db, migrate=config.migrate)
        server = cls(config, store, clock or RealClock())
        server._extra_handlers = list(grpc_handlers)
        try:
            await server._prepare()
            if config.serve_grpc:
                await server._serve()
        except BaseException:
            await server._stop_background()
            await store.close()
            raise
        return server

    async def _prepare(self) -> None:
        for name in dict.fromkeys(["default", *self.config.namespaces]):
            ns = await self.namespaces.ensure(name)
            missing = {
                k: v
                for k, v in self.config.search_attributes.items()
                if k not in ns.search_attribute_aliases.values()
            }
            if missing:
                await self.frontend._change_aliases(
                    name, lambda aliases, m=missing: add_search_attributes(aliases, m)
                )
        if self.cluster is not None:
            self.cluster.start(self.matching, self.frontend)
        self._spawn(self.timers.run())

    async def _serve(self) -> None:
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
                # Temporal's clients ping every 30 s, also when idle: let them.
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
                ("grpc.http2.max_ping_strikes", 0),
            ]
        )
        server.add_generic_rpc_handlers(
            [*generic_handlers(self.frontend), health_handler(), *self._extra_handlers]
        )
        address = f"{self.config.host}:{self.config.port}"
        try:
            self.port = server.add_insecure_port(address)
        except RuntimeError as err:  # grpcio >= 1.60 raises instead of returning 0
            raise OSError(f"cannot listen on {address} (is the port in use?)") from err
        if self.port == 0:
            raise OSError(f"cannot listen on {address} (is the port in use?)")
        await server.start()
        self._grpc = server
        log.info("Perdure server listening on %s:%d", self.config.host, self.port)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _reroute_sticky(self, row: TaskRow) -> None:
        async def move() -> None:
            ns = await self.namespaces.get_by_id(row.namespace_id)
            await self.frontend.move_off_sticky(ns, row.workflow_id, row.run_id)

        self._spawn(move())

    async def wait_closed(self) -> None:
        if self._grpc is not None:
            await self._grpc.wait_for_termination()

    async def _stop_background(self) -> None:
        await self.timers.stop()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def stop(self, grace: float = 2.0) -> None:
        """Stop serving: long polls end, in-flight requests get `grace` seconds."""
        self.matching.shutdown()
        if self._grpc is not None:
            await self._grpc.stop(grace)
        await self._stop_background()
        if self.cluster is not None:
            await self.cluster.stop()
        await self.store.close()
        log.info("Perdure server stopped")
