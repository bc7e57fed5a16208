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
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from perdure._prometheus import MetricsHttpServer
from perdure.server.batch.runner import BatchRunner
from perdure.server.clock import Clock, RealClock, VirtualClock
from perdure.server.cluster import Cluster
from perdure.server.commit_effects import ServerCommitEffects
from perdure.server.dynamic_config import DynamicConfig
from perdure.server.frontend.dispatch import CallInterceptor, Dispatcher
from perdure.server.frontend.http_api import HttpApi, Site, api_app
from perdure.server.frontend.rate_limits import RateLimitInterceptor, rate_limited
from perdure.server.frontend.rpc import generic_handlers, health_handler
from perdure.server.frontend.service import Frontend
from perdure.server.frontend.testing import TestServiceRpcs, test_service_handler
from perdure.server.history.api.reset_sticky_task_queue import move_off_sticky
from perdure.server.history.service import HistoryService
from perdure.server.logs import RequestLogContext
from perdure.server.matching.queries import QueryRegistry
from perdure.server.matching.query_routing import QueryRouter
from perdure.server.matching.queues import Matching
from perdure.server.matching.shared import QueryBridge, shared_queue_factory
from perdure.server.matching.sticky import StickyRouting
from perdure.server.metrics import ServerMetrics
from perdure.server.namespaces import Namespace, NamespaceRegistry
from perdure.server.schedules.scheduler import Scheduler
from perdure.server.security.tls import CertificateSource, ServerTLSConfig
from perdure.server.store import open_store
from perdure.server.store.base import Store, TaskRow, TimerRow
from perdure.server.store.shared import SharedStore
from perdure.server.store.sqlite import SQLiteStore
from perdure.server.timers.dispatch import TimerDispatcher
from perdure.server.timers.queue import TimerQueue
from perdure.server.timers.skipping import TimeSkipper
from perdure.server.ui import ui_app
from perdure.server.visibility import add_search_attributes
from perdure.server.visibility.rows import build_visibility_row
from perdure.server.visibility.sql import compile_query

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
    http_port: int | None = None
    """Serve Temporal's HTTP/JSON API on host:http_port (0: any free port); None: not."""
    ui_port: int | None = None
    """Serve the Web UI (and the HTTP API under /api/) on ui_host:ui_port; None: not."""
    ui_host: str | None = None
    """Where the Web UI listens (default: `host`)."""
    metrics_port: int | None = None
    """Serve Prometheus metrics at http://host:metrics_port/metrics (server/metrics.py);
    None: no metrics are recorded at all. 0 picks a free port."""
    request_log_context: bool = False
    """Put each request's namespace, workflow id and run id on the log records made while
    serving it, and log every request at debug level (server/logs.py)."""


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
        self.metrics = ServerMetrics() if config.metrics_port is not None else None
        """Set when metrics are on (`config.metrics_port`)."""
        self.metrics_server: MetricsHttpServer | None = None
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
        self.settings = config.dynamic_config.settings()
        for warning in self.settings.warnings:
            log.warning("%s", warning)
        self.sticky_routing = StickyRouting(self.matching, self._move_off_sticky)
        self.history = HistoryService(
            store,
            clock,
            settings=self.settings.engine,
            effects=ServerCommitEffects(
                matching=self.matching,
                timers=self.timers,
                queries=self.queries,
                query_router=self.query_router,
                new_id=HistoryService.new_id,
                skipper=self.skipper,
                sticky=self.sticky_routing,
                metrics=self.metrics,
            ),
            build_visibility_row=build_visibility_row,
            observer=self.metrics,
            history_limits=config.dynamic_config.history_limits,
        )
        self.timer_dispatcher = TimerDispatcher(self.history, self.namespaces)
        self.scheduler = Scheduler(store, self.history, self.namespaces, clock)
        dialect = getattr(getattr(store, "dialect", None), "name", "sqlite")
        self.batch_runner = BatchRunner(
            store,
            self.history,
            self.namespaces,
            clock,
            lambda ns, query: compile_query(
                query, aliases=ns.search_attribute_aliases, dialect=dialect
            ),
            shared=shared is not None,
        )
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
        self.frontend = Frontend(
            namespaces=self.namespaces,
            history=self.history,
            matching=self.matching,
            store=store,
            visibility_dialect=dialect,
            queries=self.queries,
            query_router=self.query_router,
            scheduler=self.scheduler,
            batch_runner=self.batch_runner,
            query_bridge=self.query_bridge,
            min_retention_seconds=config.min_retention_seconds,
            limits=self.settings.limits,
        )
        # Rate limits first (they turn calls away cheapest), then authorization, then the
        # log context and metrics of the calls that get through.
        interceptors: list[CallInterceptor] = (
            [RateLimitInterceptor(config.dynamic_config)]
            if rate_limited(config.dynamic_config)
            else []
        )
        interceptors.extend(config.interceptors)
        if config.request_log_context:
            interceptors.append(RequestLogContext())
        if self.metrics is not None:
            interceptors.append(self.metrics)
        self.dispatcher = Dispatcher(self.frontend, interceptors=interceptors)
        """Every transport's calls go through it (frontend/dispatch.py)."""
        self._grpc: grpc.aio.Server | None = None
        self.http_api = HttpApi(self.dispatcher)
        """Temporal's HTTP/JSON API over the same dispatcher (frontend/http_api.py)."""
        self._sites: list[Site] = []
        self.http_port: int | None = None
        self.ui_port: int | None = None
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
            # HTTP first: once gRPC listens (what clients and tests wait for), all ports do.
            await server._serve_http()
            if config.serve_grpc:
                await server._serve()
        except BaseException:
            await server._stop_sites()
            if server._grpc is not None:
                await server._grpc.stop(0)
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
        fire: Callable[[TimerRow], Awaitable[None]] = self.timer_dispatcher.fire
        if self.metrics is not None:
            fire = self._watch_metrics(self.metrics)
        self._spawn(self.timers.run(fire))
        self._spawn(self.scheduler.run())
        self._spawn(self.batch_runner.run())

    def _watch_metrics(self, metrics: ServerMetrics) -> Callable[[TimerRow], Awaitable[None]]:
        """Start serving /metrics; returns the timer firing that records lateness."""
        metrics.watch_backlog(self._backlog)
        if isinstance(self.store, SQLiteStore):
            sqlite = self.store
            metrics.watch_group_commit(lambda: (sqlite.transactions, sqlite.writes))
        port = self.config.metrics_port or 0
        self.metrics_server = metrics.serve(self.config.host, port)
        log.info("Metrics on http://%s:%d/metrics", self.config.host, self.metrics_server.port)
        dispatcher, clock = self.timer_dispatcher, self.clock

        async def fire(row: TimerRow) -> None:
            metrics.timer_fired((clock.now_ns() - row.fire_time) / 1e9)
            await dispatcher.fire(row)

        return fire

    def _backlog(self) -> list[tuple[str, str, str, int]]:
        names = self.namespaces.cached_names()
        return [
            (
                names.get(q.namespace_id, q.namespace_id),
                q.name,
                q.kind.name.title(),
                q.backlog_hint,
            )
            for q in self.matching.all_queues()
            if not q.sticky
        ]

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

    async def _serve_http(self) -> None:
        """The HTTP API and Web UI ports, when configured."""
        host = self.config.host
        if self.config.http_port is not None:
            site = await Site.start(
                api_app(self.http_api), host, self.config.http_port, self.ssl_context()
            )
            self._sites.append(site)
            self.http_port = site.port
            log.info("Perdure HTTP API listening on %s:%d", host, site.port)
        if self.config.ui_port is not None:
            ui_host = self.config.ui_host or host
            site = await Site.start(
                ui_app(self.http_api), ui_host, self.config.ui_port, self.ssl_context()
            )
            self._sites.append(site)
            self.ui_port = site.port
            log.info("Perdure Web UI at http://%s:%d", ui_host, site.port)

    async def _stop_sites(self) -> None:
        for site in self._sites:
            await site.stop()
        self._sites.clear()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _move_off_sticky(self, ns: Namespace, workflow_id: str, run_id: str) -> None:
        await move_off_sticky(self.history, ns, workflow_id, run_id)

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
        await self.sticky_routing.close()
        await self.frontend.namespace_deletion.close()
        await self.scheduler.stop()
        await self.batch_runner.stop()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def stop(self, grace: float = 2.0) -> None:
        """Stop serving: long polls end, in-flight requests get `grace` seconds."""
        if self.skipper is not None:
            await self.skipper.stop()
        self.matching.shutdown()
        await self._stop_sites()
        if self._grpc is not None:
            await self._grpc.stop(grace)
        await self._stop_background()
        if self.cluster is not None:
            await self.cluster.stop()
        await self.store.close()
        if self.metrics_server is not None:
            self.metrics_server.close()
        log.info("Perdure server stopped")
