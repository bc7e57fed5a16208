"""A whole Perdure server: the composition root.

`PerdureServer` builds every collaborator with its dependencies as constructor arguments,
in dependency order: store and clock; namespaces; the query registry (and, on a shared
database, the bridge that carries queries between processes); matching; the timer
queue (and the time skipper when time is virtual); the commit effects that connect
history to them; the history service; the timer dispatcher (which fires through
history); the cluster's notice routing (shared database); the frontend. Nothing is
wired in afterwards.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from perdure.server.clock import Clock, RealClock, VirtualClock
from perdure.server.cluster import Cluster
from perdure.server.commit_effects import ServerCommitEffects
from perdure.server.dynamic_config import DynamicConfig
from perdure.server.frontend.dispatch import CallInterceptor, Dispatcher
from perdure.server.frontend.rate_limits import RateLimitInterceptor, rate_limited
from perdure.server.frontend.rpc import generic_handlers, health_handler
from perdure.server.frontend.service import Frontend
from perdure.server.frontend.testing import TestServiceRpcs, test_service_handler
from perdure.server.history.api.reset_sticky_task_queue import move_off_sticky
from perdure.server.history.service import HistoryService
from perdure.server.matching.queries import QueryRegistry
from perdure.server.matching.query_routing import QueryRouter
from perdure.server.matching.queues import Matching
from perdure.server.matching.shared import QueryBridge, shared_queue_factory
from perdure.server.namespaces import NamespaceRegistry
from perdure.server.security.tls import CertificateSource, ServerTLSConfig
from perdure.server.store import open_store
from perdure.server.store.base import Store, TaskRow
from perdure.server.store.shared import SharedStore
from perdure.server.timers.dispatch import TimerDispatcher
from perdure.server.timers.queue import TimerQueue
from perdure.server.timers.skipping import TimeSkipper
from perdure.server.visibility import add_search_attributes
from perdure.server.visibility.rows import build_visibility_row

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
    time_skipping: bool = False
    """A virtual clock that jumps to the next deadline when nothing runs, driven through
    Temporal's TestService (served beside the frontend)."""
    tls: ServerTLSConfig | None = None
    """Serve TLS (mutual TLS with client CAs) instead of plaintext (security/tls.py)."""
    interceptors: Sequence[CallInterceptor] = ()
    """Run around every call, in order, after the rate limits (frontend/dispatch.py)."""
    dynamic_config: DynamicConfig = field(default_factory=DynamicConfig)
    """Temporal's dynamic config keys Perdure honours: limits (server/dynamic_config.py)."""


class PerdureServer:
    """Start with `await PerdureServer.start(config)`; stop with `await server.stop()`."""

    def __init__(
        self,
        config: ServerConfig,
        store: Store,
        clock: Clock,
        certificates: CertificateSource | None = None,
    ) -> None:
        """`clock` is a `VirtualClock` when `config.time_skipping` is set; `certificates`
        are read from `config.tls` when not given."""
        self.config = config
        self.certificates = certificates or (
            CertificateSource(config.tls) if config.tls is not None else None
        )
        """The TLS certificates of every listener; `reload()` on SIGHUP, `ssl_context()`
        for listeners other than gRPC."""
        self.store = store
        self.clock = clock
        self.namespaces = NamespaceRegistry(store)
        self.queries = QueryRegistry()
        shared = store if isinstance(store, SharedStore) else None
        self.query_bridge = QueryBridge(shared, self.queries) if shared is not None else None
        """Set when other server processes share the database (PostgreSQL)."""
        self.matching = Matching(
            store,
            reroute_sticky=self._reroute_sticky,
            queue_factory=(
                shared_queue_factory(shared, self.query_bridge)
                if shared is not None and self.query_bridge is not None
                else None
            ),
        )
        self.query_router = QueryRouter(self.queries, self.matching)
        self.timers = TimerQueue(store, clock)
        self.skipper: TimeSkipper | None = None
        self.test_service: TestServiceRpcs | None = None
        if config.time_skipping:
            assert isinstance(clock, VirtualClock), "time skipping needs a virtual clock"
            self.skipper = TimeSkipper(clock, store, self.timers)
            self.test_service = TestServiceRpcs(self.skipper)
        self.history = HistoryService(
            store,
            clock,
            effects=ServerCommitEffects(
                matching=self.matching,
                timers=self.timers,
                queries=self.queries,
                query_router=self.query_router,
                new_id=HistoryService.new_id,
                skipper=self.skipper,
            ),
            build_visibility_row=build_visibility_row,
            history_limits=config.dynamic_config.history_limits,
        )
        self.timer_dispatcher = TimerDispatcher(self.history, self.namespaces)
        self.cluster = (
            Cluster(
                store=shared,
                history=self.history,
                namespaces=self.namespaces,
                matching=self.matching,
                bridge=self.query_bridge,
                queries=self.queries,
                query_router=self.query_router,
            )
            if shared is not None and self.query_bridge is not None
            else None
        )
        """Set when other server processes share the database (PostgreSQL)."""
        dialect = getattr(getattr(store, "dialect", None), "name", "sqlite")
        self.frontend = Frontend(
            namespaces=self.namespaces,
            history=self.history,
            matching=self.matching,
            store=store,
            visibility_dialect=dialect,
            queries=self.queries,
            query_router=self.query_router,
            query_bridge=self.query_bridge,
            min_retention_seconds=config.min_retention_seconds,
            limits=config.dynamic_config.frontend_limits(),
        )
        limits: list[CallInterceptor] = (
            [RateLimitInterceptor(config.dynamic_config)]
            if rate_limited(config.dynamic_config)
            else []
        )
        self.dispatcher = Dispatcher(self.frontend, interceptors=[*limits, *config.interceptors])
        """Every transport's calls go through it (frontend/dispatch.py)."""
        self._grpc: grpc.aio.Server | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.port = config.port

    @classmethod
    async def start(cls, config: ServerConfig) -> PerdureServer:
        certificates = CertificateSource(config.tls) if config.tls is not None else None
        store = await open_store(config.db, migrate=config.migrate)
        clock = VirtualClock() if config.time_skipping else RealClock()
        server = cls(config, store, clock, certificates)
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
        unknown = self.config.dynamic_config.unknown_keys()
        if unknown:
            log.warning("dynamic config keys Perdure does not use (ignored): %s", unknown)
        for name in dict.fromkeys(["default", *self.config.namespaces]):
            ns = await self.namespaces.ensure(name)
            missing = {
                k: v
                for k, v in self.config.search_attributes.items()
                if k not in ns.search_attribute_aliases.values()
            }
            if missing:
                await self.namespaces.change_search_attribute_aliases(
                    name, functools.partial(add_search_attributes, to_add=missing)
                )
        if self.cluster is not None:
            self.cluster.start()
        if self.skipper is not None:
            self.skipper.start()
        self._spawn(self.timers.run(self.timer_dispatcher.fire))

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
        handlers = [*generic_handlers(self.dispatcher), health_handler()]
        if self.test_service is not None:
            handlers.append(test_service_handler(self.test_service))
        server.add_generic_rpc_handlers(handlers)
        address = f"{self.config.host}:{self.config.port}"
        try:
            if self.certificates is not None:
                self.port = server.add_secure_port(address, self.certificates.grpc_credentials())
            else:
                self.port = server.add_insecure_port(address)
        except RuntimeError as err:  # grpcio >= 1.60 raises instead of returning 0
            raise OSError(f"cannot listen on {address} (is the port in use?)") from err
        if self.port == 0:
            raise OSError(f"cannot listen on {address} (is the port in use?)")
        await server.start()
        self._grpc = server
        log.info(
            "Perdure server listening on %s:%d%s",
            self.config.host,
            self.port,
            " (TLS)" if self.certificates is not None else "",
        )

    def ssl_context(self) -> ssl.SSLContext | None:
        """For a listener other than gRPC (HTTP API, UI): the server's TLS, following
        certificate rotation; None when the server runs without TLS."""
        return self.certificates.ssl_context() if self.certificates is not None else None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _reroute_sticky(self, row: TaskRow) -> None:
        """Matching's answer to a task for a sticky queue whose worker left."""

        async def move() -> None:
            ns = await self.namespaces.get_by_id(row.namespace_id)
            await move_off_sticky(self.history, ns, row.workflow_id, row.run_id)

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
        if self.skipper is not None:
            await self.skipper.stop()
        self.matching.shutdown()
        if self._grpc is not None:
            await self._grpc.stop(grace)
        await self._stop_background()
        if self.cluster is not None:
            await self.cluster.stop()
        await self.store.close()
        log.info("Perdure server stopped")
