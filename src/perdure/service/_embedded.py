"""The embedded transport: the server's engine in this process, called without gRPC.

``Client.connect("embedded://<db>[?options]")`` starts Perdure's engine (store,
history, matching, timers, frontend) in the running event loop and hands requests to
the frontend's handlers as proto objects, with the call's deadline: nothing is
serialized, no socket is crossed, and no gRPC servicer context is imitated.
Errors, deadlines, retries and cancellation behave as over gRPC.

Targets (``<db>`` is what ``perdure server --db`` takes):

- ``embedded://:memory:``: a throwaway database, gone when the engine stops;
- ``embedded:///abs/path/app.db`` or ``embedded://relative/app.db``: a SQLite file;
- ``embedded://postgresql://user@host:5432/db``: PostgreSQL.

Query parameters: ``serve_grpc=[host:]port`` also serves the engine over gRPC (port 0:
any free port; see :py:attr:`EmbeddedServiceClient.grpc_target`), so that another
process (the ``temporal`` CLI, an official-SDK worker) can use it; ``serve_ui=[host:]port``
serves the Web UI (and the HTTP API under /api/) of the engine; ``namespace=<name>``
(repeatable) creates namespaces besides "default", the first of them being the client's
namespace unless ``Client.connect`` is given one; ``instance=<name>`` keeps engines on
the same database apart. Any other parameter stays part of a PostgreSQL URL.

Clients of the same target in one event loop share one engine; it stops when the last
of them closes (``await client.service_client.close()``) or on :py:meth:`shutdown`.
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import cast
from urllib.parse import parse_qsl, urlencode

import grpc
from google.protobuf.message import Message

from perdure.server.embedded import EmbeddedOptions, EmbeddedServer
from perdure.server.frontend.rpc import as_service_error, status_code, status_details
from perdure.service._client import ServiceClient, ServiceResponse
from perdure.service._config import ConnectConfig, RetryConfig
from perdure.service._errors import RPCError, RPCStatusCode
from perdure.service._grpc import (
    _RETRYABLE,
    _Backoff,
    _default_timeout,
)

SCHEME = "embedded://"
_OPTIONS = ("serve_grpc", "serve_ui", "namespace", "instance")
_GRPC_CODES = {code.value[0]: code for code in grpc.StatusCode}


@dataclass(frozen=True)
class EmbeddedTarget:
    """A parsed ``embedded://`` target."""

    options: EmbeddedOptions
    instance: str = ""
    namespace: str | None = None
    """The first ``namespace=`` of the target: the namespace of its clients by default."""

    @property
    def key(self) -> tuple[str, str]:
        """What makes two targets the same engine."""
        db = self.options.db
        if db != ":memory:" and "://" not in db:
            db = os.path.abspath(db)
        return db, self.instance

    @classmethod
    def parse(cls, target: str) -> EmbeddedTarget:
        if not target.startswith(SCHEME):
            raise ValueError(f"not an embedded target: {target!r}")
        rest = target.removeprefix(SCHEME)
        db, _, query = rest.partition("?")
        serve_grpc: str | None = None
        serve_ui: str | None = None
        namespaces = ["default"]
        instance = ""
        others: list[tuple[str, str]] = []
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name == "serve_grpc":
                serve_grpc = value or "0"
            elif name == "serve_ui":
                serve_ui = value or "0"
            elif name == "namespace":
                namespaces.append(value)
            elif name == "instance":
                instance = value
            else:
                others.append((name, value))
        if others:
            if "://" not in db:
                unknown = ", ".join(name for name, _ in others)
                raise ValueError(
                    f"Unknown option(s) {unknown} in {target!r}; embedded targets take "
                    f"{', '.join(_OPTIONS)}"
                )
            db = f"{db}?{urlencode(others)}"
        if not db:
            raise ValueError(f"No database in {target!r}; use embedded://:memory: or a path")
        options = EmbeddedOptions(
            db=db,
            serve_grpc=serve_grpc,
            namespaces=tuple(dict.fromkeys(namespaces)),
            serve_ui=serve_ui,
        )
        return cls(options, instance, namespaces[1] if len(namespaces) > 1 else None)


@dataclass
class _Shared:
    """One engine and the clients using it."""

    target: EmbeddedTarget
    starting: asyncio.Task[EmbeddedServer]
    users: int = 0
    clients: weakref.WeakSet[EmbeddedServiceClient] = field(default_factory=weakref.WeakSet)


_ENGINES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], _Shared]] = (
    weakref.WeakKeyDictionary()
)


async def _acquire(target: EmbeddedTarget, server: EmbeddedServer | None = None) -> _Shared:
    """The engine for `target` in this loop, started if needed (or `server`, adopted)."""
    engines = _ENGINES.setdefault(asyncio.get_running_loop(), {})
    shared = engines.get(target.key)
    if (
        shared is not None
        and shared.starting.done()
        and (
            shared.starting.cancelled()
            or shared.starting.exception() is not None
            or shared.starting.result().stopped
        )
    ):
        shared = None
    if shared is not None and server is not None:
        raise ValueError(f"An embedded engine already runs for {target.key}")
    if shared is None:
        if server is not None:
            done: asyncio.Future[EmbeddedServer] = asyncio.get_running_loop().create_future()
            done.set_result(server)
            starting = cast(asyncio.Task[EmbeddedServer], done)
        else:
            starting = asyncio.ensure_future(EmbeddedServer.start(target.options))
        shared = engines[target.key] = _Shared(target, starting)
    elif target.options.serve_grpc is not None and (
        shared.target.options.serve_grpc != target.options.serve_grpc
    ):
        raise ValueError(
            f"The embedded engine for {target.key[0]!r} already runs with "
            f"serve_grpc={shared.target.options.serve_grpc}; connect without serve_grpc "
            "or with the same value"
        )
    shared.users += 1
    try:
        engine = await asyncio.shield(shared.starting)
        for name in target.options.namespaces:
            await engine.ensure_namespace(name)
    except BaseException:
        await _release(shared)
        raise
    return shared


async def _release(shared: _Shared) -> None:
    shared.users -= 1
    if shared.users > 0:
        return
    engines = _ENGINES.get(asyncio.get_running_loop(), {})
    if engines.get(shared.target.key) is shared:
        del engines[shared.target.key]
    starting = shared.starting
    if starting.done() and not starting.cancelled() and starting.exception() is None:
        await starting.result().stop()


def _rpc_error(err: BaseException) -> RPCError:
    error = as_service_error(err)
    return RPCError(
        error.message, RPCStatusCode(status_code(error).value[0]), status_details(error) or b""
    )


class EmbeddedServiceClient(ServiceClient):
    """A :py:class:`ServiceClient` whose server is an engine in this process."""

    def __init__(
        self,
        config: ConnectConfig,
        shared: _Shared,
        engine: EmbeddedServer,
        target_namespace: str | None = None,
    ) -> None:
        """Use :py:func:`connect_embedded` (``Client.connect("embedded://...")``)."""
        super().__init__(config)
        self._target_namespace = target_namespace
        self._shared = shared
        self._engine = engine
        self._retry = config.retry_config or RetryConfig()
        self._closed = False
        shared.clients.add(self)

    @property
    def engine(self) -> EmbeddedServer:
        """The engine this client calls (shared with every client of the same target)."""
        return self._engine

    @property
    def target_namespace(self) -> str | None:
        """The target's first ``namespace=`` parameter, if it has one."""
        return self._target_namespace

    @property
    def grpc_target(self) -> str | None:
        """``host:port`` where the engine also serves gRPC (``serve_grpc``), else None."""
        return self._engine.grpc_target

    @property
    def ui_url(self) -> str | None:
        """The Web UI's address when the target asks for it (``serve_ui``), else None."""
        return self._engine.ui_url

    def update_rpc_metadata(self, metadata: Mapping[str, str | bytes]) -> None:
        """Nothing to replace: calls in this process carry no headers (the engine's
        handlers take the request and the deadline only)."""

    def update_api_key(self, api_key: str | None) -> None:
        """Nothing to replace: calls in this process carry no headers."""

    def _check_open(self) -> None:
        if self._closed:
            raise RPCError("client is closed", RPCStatusCode.CANCELLED, b"")
        if self._engine.stopped:
            raise RPCError("embedded server stopped", RPCStatusCode.UNAVAILABLE, b"")

    async def _rpc_call(
        self,
        rpc: str,
        req: Message,
        resp_type: type[ServiceResponse],
        *,
        service: str,
        retry: bool,
        metadata: Mapping[str, str | bytes],
        timeout: timedelta | None,
    ) -> ServiceResponse:
        """Call the engine's handler with the request object itself."""
        handler = self._engine.handler(service, rpc)
        if handler is None:
            raise RPCError(
                f"unknown method {rpc} for service {service}", RPCStatusCode.UNIMPLEMENTED, b""
            )
        seconds = (timeout or _default_timeout(rpc, req)).total_seconds()
        backoff: _Backoff | None = None
        while True:
            self._check_open()
            try:
                async with asyncio.timeout(seconds) as deadline:
                    response = await self._engine.call(handler, req, time.monotonic() + seconds)
                return cast(ServiceResponse, response)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                # Cancelled inside the engine, not by our caller: the engine is stopping.
                error = RPCError("embedded server stopped", RPCStatusCode.UNAVAILABLE, b"")
            except TimeoutError as err:
                if not deadline.expired():
                    error = _rpc_error(err)
                else:
                    error = RPCError("Deadline Exceeded", RPCStatusCode.DEADLINE_EXCEEDED, b"")
            except Exception as err:
                error = _rpc_error(err)
            delay: float | None = None
            code = _GRPC_CODES.get(int(error.status), grpc.StatusCode.UNKNOWN)
            if retry and code in _RETRYABLE and not self._engine.stopped:
                backoff = backoff or _Backoff(self._retry)
                delay = backoff.next_delay(code)
            if delay is None:
                raise error
            await asyncio.sleep(delay)

    async def check_health(
        self,
        *,
        service: str = "temporal.api.workflowservice.v1.WorkflowService",
        retry: bool = False,
        metadata: Mapping[str, str | bytes] = {},
        timeout: timedelta | None = None,
    ) -> bool:
        """Serving while the engine runs."""
        self._check_open()
        return True

    async def close(self) -> None:
        """Stop using the engine; the last client to close stops it."""
        if not self._closed:
            self._closed = True
            await _release(self._shared)

    async def shutdown(self) -> None:
        """Stop the engine now, for every client that shares it."""
        self._closed = True
        await self._engine.stop()
        await _release(self._shared)


async def connect_embedded(config: ConnectConfig) -> EmbeddedServiceClient:
    """Connect to the engine an ``embedded://`` target names, starting it if needed."""
    target = EmbeddedTarget.parse(config.target_host)
    return await _connect(config, target)


class EngineLease:
    """A hold on an engine registered under a target; the engine lives while held."""

    def __init__(self, shared: _Shared) -> None:
        self._shared: _Shared | None = shared

    async def release(self, *, stop: bool = False) -> None:
        """Let go; with `stop`, stop the engine now even if clients still use it."""
        shared, self._shared = self._shared, None
        if shared is None:
            return
        if stop:
            await shared.starting.result().stop()
        await _release(shared)


async def share_engine(target_host: str, server: EmbeddedServer) -> EngineLease:
    """Make `server` (started by the caller, e.g. the testing environment) the engine of
    ``Client.connect(target_host)`` in this event loop."""
    return EngineLease(await _acquire(EmbeddedTarget.parse(target_host), server))


async def _connect(config: ConnectConfig, target: EmbeddedTarget) -> EmbeddedServiceClient:
    shared = await _acquire(target)
    client = EmbeddedServiceClient(config, shared, shared.starting.result(), target.namespace)
    if not config.lazy:
        try:
            await client._fetch_system_info(timeout=config.connect_timeout)
        except RPCError as err:
            await client.close()
            raise RuntimeError(
                f"Failed client connect: get_system_info call error: {err.message}"
            ) from err
    return client


__all__ = [
    "EmbeddedServiceClient",
    "EmbeddedTarget",
    "EngineLease",
    "connect_embedded",
    "share_engine",
]
