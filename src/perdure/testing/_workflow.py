"""WorkflowEnvironment: a Perdure engine for tests, in this process (mirrors temporalio's).

:py:meth:`WorkflowEnvironment.start_local` is a fresh in-memory engine (what
``temporal server start-dev`` is to temporalio's); :py:meth:`start_time_skipping` adds
a virtual clock with the behaviour of Temporal's time-skipping test server: time is
locked except while a client waits for a workflow's result (or the test sleeps with
:py:meth:`WorkflowEnvironment.sleep`), and then jumps to the next timer whenever no
workflow or activity task is in flight. Either can also serve gRPC (``serve_grpc``)
so that official-SDK workers or the ``temporal`` CLI share the engine and its clock.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlencode

from google.protobuf import empty_pb2
from temporalio.api.testservice.v1 import request_response_pb2 as ts

from perdure.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    Plugin,
    StartWorkflowInput,
    WorkflowHandle,
)
from perdure.common import QueryRejectCondition, SearchAttributeKey
from perdure.converter import DataConverter
from perdure.exceptions import ApplicationError
from perdure.service import RetryConfig
from perdure.worker import (
    ExecuteWorkflowInput,
    HandleSignalInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)
from perdure.worker import Interceptor as WorkerInterceptor

logger = logging.getLogger(__name__)

_LONG_CALL = timedelta(days=365)
"""Virtual sleeps end when virtual time arrives, which may take a while in real time."""


class WorkflowEnvironment:
    """A server for tests: use :py:attr:`client`; ``async with`` shuts it down.

    Start one with :py:meth:`start_local`, :py:meth:`start_time_skipping` or
    :py:meth:`from_client`. Workflows run in it fail (rather than retry their task)
    on ``assert`` failures, as in temporalio's environments.
    """

    def __init__(self, client: Client) -> None:
        """Wrap a client (prefer the factory methods)."""
        self._client = client

    @classmethod
    def from_client(cls, client: Client) -> WorkflowEnvironment:
        """An environment over an existing client (any server); no time skipping."""
        return cls(_with_interceptors(client, _AssertionErrorInterceptor()))

    @classmethod
    async def start_local(
        cls,
        *,
        namespace: str = "default",
        data_converter: DataConverter = DataConverter.default,
        interceptors: Sequence[Interceptor] = (),
        plugins: Sequence[Plugin] = (),
        default_workflow_query_reject_condition: QueryRejectCondition | None = None,
        retry_config: RetryConfig | None = None,
        rpc_metadata: Mapping[str, str | bytes] = {},
        identity: str | None = None,
        ip: str = "127.0.0.1",
        port: int | None = None,
        search_attributes: Sequence[SearchAttributeKey[Any]] = (),
        dev_server_database_filename: str | None = None,
        serve_grpc: bool | int | str = False,
    ) -> WorkflowEnvironment:
        """A fresh Perdure engine in this process, in memory unless given a database.

        Args:
            namespace: Namespace of the client (created in the engine).
            data_converter: See :py:meth:`perdure.client.Client.connect`.
            interceptors: See :py:meth:`perdure.client.Client.connect`.
            plugins: See :py:meth:`perdure.client.Client.connect`.
            default_workflow_query_reject_condition: See
                :py:meth:`perdure.client.Client.connect`.
            retry_config: See :py:meth:`perdure.client.Client.connect`.
            rpc_metadata: See :py:meth:`perdure.client.Client.connect`.
            identity: See :py:meth:`perdure.client.Client.connect`.
            ip: Address to serve gRPC on, when it is served.
            port: Serve gRPC on this port (temporalio's dev server always listens).
            search_attributes: Custom search attributes to register.
            dev_server_database_filename: A SQLite file (or PostgreSQL URL) to keep the
                engine's data in; default in memory.
            serve_grpc: Also serve gRPC, so other processes can use the engine: True
                (a free port on ``ip``), a port, or ``"host:port"``. See
                :py:attr:`grpc_target`.
        """
        return await _EmbeddedEnvironment.create(
            time_skipping=False,
            namespace=namespace,
            db=dev_server_database_filename or ":memory:",
            serve_grpc=_listen(ip, port, serve_grpc),
            search_attributes=search_attributes,
            client_options=dict(
                data_converter=data_converter,
                interceptors=interceptors,
                plugins=plugins,
                default_workflow_query_reject_condition=default_workflow_query_reject_condition,
                retry_config=retry_config,
                rpc_metadata=rpc_metadata,
                identity=identity,
            ),
        )

    @classmethod
    async def start_time_skipping(
        cls,
        *,
        data_converter: DataConverter = DataConverter.default,
        interceptors: Sequence[Interceptor] = (),
        plugins: Sequence[Plugin] = (),
        default_workflow_query_reject_condition: QueryRejectCondition | None = None,
        retry_config: RetryConfig | None = None,
        rpc_metadata: Mapping[str, str | bytes] = {},
        identity: str | None = None,
        port: int | None = None,
        namespace: str = "default",
        search_attributes: Sequence[SearchAttributeKey[Any]] = (),
        serve_grpc: bool | int | str = False,
    ) -> WorkflowEnvironment:
        """A fresh in-memory engine whose clock skips ahead (Temporal's test server).

        Time is global to the environment and locked at first: it moves at real speed
        until a client of this environment waits for the result of a workflow it
        started (``handle.result()``, ``execute_workflow``), or the test calls
        :py:meth:`sleep`. While unlocked, time jumps to the next timer or timeout
        whenever no workflow or activity task is in flight. Use
        :py:meth:`auto_time_skipping_disabled` to wait for a result in real time.
        The arguments not listed below are those of :py:meth:`start_local`.

        Args:
            port: Serve gRPC on this port (temporalio's test server always listens).
            serve_grpc: Also serve gRPC (True: a free port; a port; ``"host:port"``),
                so that workers of any SDK connected there see the skipped time.
        """
        return await _EmbeddedEnvironment.create(
            time_skipping=True,
            namespace=namespace,
            db=":memory:",
            serve_grpc=_listen("127.0.0.1", port, serve_grpc),
            search_attributes=search_attributes,
            client_options=dict(
                data_converter=data_converter,
                interceptors=interceptors,
                plugins=plugins,
                default_workflow_query_reject_condition=default_workflow_query_reject_condition,
                retry_config=retry_config,
                rpc_metadata=rpc_metadata,
                identity=identity,
            ),
        )

    async def __aenter__(self) -> WorkflowEnvironment:
        """Nothing to do: the environment is running."""
        return self

    async def __aexit__(self, *args: object) -> None:
        """:py:meth:`shutdown`."""
        await self.shutdown()

    @property
    def client(self) -> Client:
        """A client of this environment."""
        return self._client

    @property
    def grpc_target(self) -> str | None:
        """``host:port`` where the environment serves gRPC, if it does."""
        return None

    async def connect_client(self, **kwargs: Any) -> Client:
        """Another client of this environment (same target and namespace unless given)."""
        config = self._client.service_client.config
        options: dict[str, Any] = {
            "namespace": self._client.namespace,
            "api_key": config.api_key,
            "tls": config.tls,
            "rpc_metadata": config.rpc_metadata,
        }
        options.update(kwargs)
        return await Client.connect(config.target_host, **options)

    async def shutdown(self) -> None:
        """Stop the environment's server, if it owns one."""

    async def sleep(self, duration: timedelta | float) -> None:
        """Sleep: in real time here, in virtual time where time skips."""
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else duration
        await asyncio.sleep(seconds)

    async def get_current_time(self, handle: WorkflowHandle[Any, Any] | None = None) -> datetime:
        """The environment's time (virtual where time skips), in UTC.

        ``handle`` is accepted for temporalio's signature; time is one for all workflows.
        """
        return datetime.now(UTC)

    @property
    def supports_time_skipping(self) -> bool:
        """Whether time skips here."""
        return False

    @property
    def supports_time_skipping_v1(self) -> bool:
        """Whether time skips here as on temporalio's (v1) test server: one global clock."""
        return self.supports_time_skipping

    @property
    def supports_time_skipping_v2(self) -> bool:
        """temporalio's per-workflow clocks (v2): not supported."""
        return False

    @contextmanager
    def auto_time_skipping_disabled(self) -> Iterator[None]:
        """Within the block, waiting for a result does not skip time.

        Only environments that skip time (:py:attr:`supports_time_skipping`) ever do.
        """
        yield None


class _EmbeddedEnvironment(WorkflowEnvironment):
    """An environment that owns an embedded engine."""

    def __init__(self, client: Client, lease: Any, grpc_target: str | None, skips: bool) -> None:
        self._auto_time_skipping = True
        self._skips = skips
        extra: list[Interceptor] = [_AssertionErrorInterceptor()]
        if skips:
            extra.append(_TimeSkippingInterceptor(self))
        super().__init__(_with_interceptors(client, *extra))
        self._lease = lease
        self._grpc_target = grpc_target

    @classmethod
    async def create(
        cls,
        *,
        time_skipping: bool,
        namespace: str,
        db: str,
        serve_grpc: str | None,
        search_attributes: Sequence[SearchAttributeKey[Any]],
        client_options: dict[str, Any],
    ) -> _EmbeddedEnvironment:
        from perdure.server.embedded import EmbeddedOptions, EmbeddedServer
        from perdure.service._embedded import share_engine

        server = await EmbeddedServer.start(
            EmbeddedOptions(
                db=db,
                serve_grpc=serve_grpc,
                namespaces=(namespace,),
                search_attributes={k.name: int(k.indexed_value_type) for k in search_attributes},
                time_skipping=time_skipping,
            )
        )
        query = {"instance": f"env-{uuid.uuid4().hex}"}
        if serve_grpc is not None:
            query["serve_grpc"] = serve_grpc
        target = f"embedded://{db}?{urlencode(query)}"
        lease = await share_engine(target, server)
        try:
            client = await Client.connect(target, namespace=namespace, **client_options)
        except BaseException:
            await lease.release(stop=True)
            raise
        return cls(client, lease, server.grpc_target, time_skipping)

    @property
    def grpc_target(self) -> str | None:
        return self._grpc_target

    async def shutdown(self) -> None:
        """Stop the engine (clients of it get UNAVAILABLE from now on)."""
        await self._client.service_client.close()
        await self._lease.release(stop=True)

    @property
    def supports_time_skipping(self) -> bool:
        return self._skips

    async def sleep(self, duration: timedelta | float) -> None:
        """Let virtual time move by ``duration``, skipping as when waiting for a result."""
        if not self._skips:
            await super().sleep(duration)
            return
        request = ts.SleepRequest()
        request.duration.FromTimedelta(
            duration if isinstance(duration, timedelta) else timedelta(seconds=duration)
        )
        await self._client.test_service.unlock_time_skipping_with_sleep(request, timeout=_LONG_CALL)

    async def get_current_time(self, handle: WorkflowHandle[Any, Any] | None = None) -> datetime:
        if not self._skips:
            return await super().get_current_time(handle)
        resp = await self._client.test_service.get_current_time(empty_pb2.Empty())
        return resp.time.ToDatetime(tzinfo=UTC)

    @contextmanager
    def auto_time_skipping_disabled(self) -> Iterator[None]:
        """Within the block, waiting for a result runs in real time (no skipping)."""
        previous = self._auto_time_skipping
        self._auto_time_skipping = False
        try:
            yield None
        finally:
            self._auto_time_skipping = previous

    @asynccontextmanager
    async def time_skipping_unlocked(self) -> AsyncIterator[None]:
        """Time may skip within the block (unless auto skipping is disabled)."""
        if not self._auto_time_skipping or not self._skips:
            yield None
            return
        service = self._client.test_service
        await service.unlock_time_skipping(ts.UnlockTimeSkippingRequest())
        try:
            yield None
        finally:
            try:
                await service.lock_time_skipping(ts.LockTimeSkippingRequest())
            except Exception:
                logger.exception("Failed locking time skipping again")


def _listen(ip: str, port: int | None, serve_grpc: bool | int | str) -> str | None:
    """The engine's gRPC address ("host:port"), or None for none."""
    if isinstance(serve_grpc, str):
        return serve_grpc if ":" in serve_grpc else f"{ip}:{serve_grpc}"
    if serve_grpc is True:
        return f"{ip}:{port or 0}"
    if serve_grpc is not False:
        return f"{ip}:{serve_grpc}"
    return f"{ip}:{port}" if port is not None else None


def _with_interceptors(client: Client, *interceptors: Interceptor) -> Client:
    config = client.config()
    config["interceptors"] = [*config["interceptors"], *interceptors]
    return Client(**config)


class _AssertionErrorInterceptor(Interceptor, WorkerInterceptor):
    """``assert`` in a workflow fails it (temporalio's environments do the same)."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _AssertionErrorInbound


class _AssertionErrorInbound(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        with _assertion_as_application_error():
            return await super().execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        with _assertion_as_application_error():
            await super().handle_signal(input)


@contextmanager
def _assertion_as_application_error() -> Iterator[None]:
    try:
        yield None
    except AssertionError as err:
        error = ApplicationError(str(err), type="AssertionError", non_retryable=True)
        error.__traceback__ = err.__traceback__
        raise error from None


class _TimeSkippingInterceptor(Interceptor):
    """Handles of started workflows unlock time while their result is awaited."""

    def __init__(self, env: _EmbeddedEnvironment) -> None:
        self.env = env

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _TimeSkippingOutbound(next, self.env)


class _TimeSkippingOutbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, env: _EmbeddedEnvironment) -> None:
        super().__init__(next)
        self.env = env

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        handle = await super().start_workflow(input)
        handle.__class__ = _TimeSkippingWorkflowHandle
        cast(_TimeSkippingWorkflowHandle, handle).env = self.env
        return handle


class _TimeSkippingWorkflowHandle(WorkflowHandle[Any, Any]):
    env: _EmbeddedEnvironment

    async def result(
        self,
        *,
        follow_runs: bool = True,
        rpc_metadata: Mapping[str, str | bytes] = {},
        rpc_timeout: timedelta | None = None,
    ) -> Any:
        async with self.env.time_skipping_unlocked():
            return await super().result(
                follow_runs=follow_runs, rpc_metadata=rpc_metadata, rpc_timeout=rpc_timeout
            )
