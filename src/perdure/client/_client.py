"""The Client: connection, namespace, data converter and interceptors, plus every call."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Protocol, Required, Self, TypedDict, overload

from temporalio.api.workflowservice.v1.request_response_pb2 import PollWorkflowTaskQueueResponse

from perdure.common import HeaderCodecBehavior, QueryRejectCondition, _arg_or_args, _arg_unset
from perdure.converter import DataConverter
from perdure.runtime import Runtime
from perdure.service import (
    ConnectConfig,
    DnsLoadBalancingConfig,
    GrpcCompression,
    HttpConnectProxyConfig,
    KeepAliveConfig,
    OperatorService,
    RetryConfig,
    ServiceClient,
    TestService,
    TLSConfig,
    WorkflowService,
)

from . import _types as types
from ._activity import AsyncActivityHandle, AsyncActivityIDReference
from ._client_schedules import _ScheduleMethods
from ._client_start import _StartMethods
from ._executions import WorkflowExecutionAsyncIterator, WorkflowExecutionCount
from ._interceptor import (
    CountWorkflowsInput,
    Interceptor,
    ListWorkflowsInput,
    OutboundInterceptor,
    StartWorkflowUpdateWithStartInput,
    UpdateWithStartUpdateWorkflowInput,
)
from ._types import ReturnType, SelfType
from ._workflow import (
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateHandle,
    WorkflowUpdateStage,
)

_NO_METADATA: Mapping[str, str | bytes] = MappingProxyType({})


class ClientConfig(TypedDict, total=False):
    """The settings a :py:class:`Client` was made with."""

    service_client: Required[ServiceClient]
    namespace: Required[str]
    data_converter: Required[DataConverter]
    plugins: Required[Sequence[Plugin]]
    interceptors: Required[Sequence[Interceptor]]
    default_workflow_query_reject_condition: Required[QueryRejectCondition | None]
    header_codec_behavior: Required[HeaderCodecBehavior]


class ClientConnectConfig(TypedDict, total=False):
    """Keyword arguments of :py:meth:`Client.connect` (e.g. from ``perdure.envconfig``)."""

    target_host: str
    namespace: str
    api_key: str | None
    data_converter: DataConverter
    plugins: Sequence[Plugin]
    interceptors: Sequence[Interceptor]
    default_workflow_query_reject_condition: QueryRejectCondition | None
    tls: bool | TLSConfig | None
    retry_config: RetryConfig | None
    keep_alive_config: KeepAliveConfig | None
    connect_timeout: timedelta | None
    rpc_metadata: Mapping[str, str | bytes]
    identity: str | None
    lazy: bool
    http_connect_proxy_config: HttpConnectProxyConfig | None
    dns_load_balancing_config: DnsLoadBalancingConfig | None
    grpc_compression: GrpcCompression
    header_codec_behavior: HeaderCodecBehavior


class EagerWorkflowStarter(Protocol):
    """What a workflow worker offers the client for eager workflow start.

    A worker registers itself with ``Client._register_eager_workflow_starter(task_queue,
    worker)``. ``start_workflow(..., request_eager_start=True)`` asks the server for the
    first workflow task only when a registered worker reserved a slot for it; the task
    comes back in the start response and goes straight to that worker.
    """

    def try_reserve_eager_workflow_slot(self, task_queue: str) -> bool:
        """Reserve a slot for one eager workflow task, or refuse."""
        ...

    def handle_eager_workflow_task(self, task: PollWorkflowTaskQueueResponse) -> None:
        """Run the workflow task the start response carried (uses the reserved slot)."""
        ...

    def release_eager_workflow_slot(self) -> None:
        """Give the reserved slot back (the server did not hand over a task)."""
        ...


class Plugin(ABC):
    """Customizes client creation: its configuration and how it connects."""

    def name(self) -> str:
        """The plugin's name (its qualified class name by default)."""
        return f"{type(self).__module__}.{type(self).__qualname__}"

    @abstractmethod
    def configure_client(self, config: ClientConfig) -> ClientConfig:
        """Return the (possibly changed) client configuration."""

    @abstractmethod
    async def connect_service_client(
        self, config: ConnectConfig, next: Callable[[ConnectConfig], Awaitable[ServiceClient]]
    ) -> ServiceClient:
        """Connect, usually by calling ``next`` (possibly with a changed config)."""


class Client(_StartMethods, _ScheduleMethods):
    """A connection to a Temporal-compatible server in one namespace.

    Create one with :py:meth:`connect`; another namespace on the same connection is
    ``Client(client.service_client, namespace=...)``. Use a client from the event loop
    it was connected in.
    """

    @classmethod
    async def connect(
        cls,
        target_host: str,
        *,
        namespace: str | None = None,
        api_key: str | None = None,
        data_converter: DataConverter = DataConverter.default,
        plugins: Sequence[Plugin] = (),
        interceptors: Sequence[Interceptor] = (),
        default_workflow_query_reject_condition: QueryRejectCondition | None = None,
        tls: bool | TLSConfig | None = None,
        retry_config: RetryConfig | None = None,
        keep_alive_config: KeepAliveConfig | None = KeepAliveConfig.default,
        connect_timeout: timedelta | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        identity: str | None = None,
        lazy: bool = False,
        http_connect_proxy_config: HttpConnectProxyConfig | None = None,
        dns_load_balancing_config: DnsLoadBalancingConfig | None = None,
        grpc_compression: GrpcCompression = GrpcCompression.GZIP,
        header_codec_behavior: HeaderCodecBehavior = HeaderCodecBehavior.NO_CODEC,
        runtime: Runtime | None = None,
    ) -> Self:
        """Connect to a server, or start Perdure's engine in this process.

        The first contact is one ``GetSystemInfo`` call (unless ``lazy``): a refused
        connection fails at once with RuntimeError, a server that does not answer
        within ``connect_timeout`` (default 30 s) too.

        Targets:

        - ``host:port``: a server over gRPC (Perdure's or Temporal's), e.g.
          ``localhost:7233``.
        - ``embedded://<db>``: the engine in this process, called without gRPC. ``<db>``
          is ``:memory:``, a SQLite file (``embedded:///var/lib/app.db``, three slashes
          for an absolute path; ``embedded://app.db`` relative) or a PostgreSQL URL
          (``embedded://postgresql://user@host/db``). Query parameters:
          ``serve_grpc=[host:]port`` also serves the engine over gRPC to other
          processes (port 0: any free port); ``namespace=NAME`` (repeatable) creates
          namespaces, the first becoming this client's unless ``namespace`` is given;
          ``instance=NAME`` keeps engines on one database apart. Clients of one target
          share one engine, which stops when the last of them closes
          (``await client.service_client.close()``).

        Args:
            target_host: Where the server is (see Targets).
            namespace: Namespace of every call; by default the target's first
                ``namespace=`` parameter, else ``"default"``.
            api_key: Sent as ``authorization: Bearer <key>``; turns TLS on unless
                ``tls=False``.
            data_converter: How values become payloads and back.
            plugins: Client plugins, outermost first.
            interceptors: Call interceptors, outermost first.
            default_workflow_query_reject_condition: Default for ``query``.
            tls: TLS settings; None means "only with an API key".
            retry_config: Backoff of retried calls.
            keep_alive_config: HTTP/2 keep-alive (None: off).
            connect_timeout: Time allowed for the first contact (default 30 s).
            rpc_metadata: Headers sent with every call.
            identity: Who is calling; default ``<pid>@<hostname>``.
            lazy: Do not contact the server until the first call.
            http_connect_proxy_config: Go through an HTTP CONNECT proxy.
            dns_load_balancing_config: Round-robin over the target's addresses.
            grpc_compression: Transport compression.
            header_codec_behavior: Whether the payload codec also encodes headers.
            runtime: Where metrics of the client and its workers go (perdure.runtime).
        """
        config = ConnectConfig(
            target_host=target_host,
            api_key=api_key,
            tls=tls,
            retry_config=retry_config,
            keep_alive_config=keep_alive_config,
            connect_timeout=connect_timeout,
            rpc_metadata=dict(rpc_metadata),
            identity=identity or "",
            lazy=lazy,
            http_connect_proxy_config=http_connect_proxy_config,
            dns_load_balancing_config=dns_load_balancing_config,
            grpc_compression=grpc_compression,
            runtime=runtime,
        )
        connect: Callable[[ConnectConfig], Awaitable[ServiceClient]] = ServiceClient.connect
        for plugin in reversed(plugins):
            connect = _plugin_connect(plugin, connect)
        service_client = await connect(config)
        return cls(
            service_client,
            namespace=(
                namespace if namespace is not None else service_client.target_namespace or "default"
            ),
            data_converter=data_converter,
            plugins=plugins,
            interceptors=interceptors,
            default_workflow_query_reject_condition=default_workflow_query_reject_condition,
            header_codec_behavior=header_codec_behavior,
        )

    def __init__(
        self,
        service_client: ServiceClient,
        *,
        namespace: str = "default",
        data_converter: DataConverter = DataConverter.default,
        plugins: Sequence[Plugin] = (),
        interceptors: Sequence[Interceptor] = (),
        default_workflow_query_reject_condition: QueryRejectCondition | None = None,
        header_codec_behavior: HeaderCodecBehavior = HeaderCodecBehavior.NO_CODEC,
    ) -> None:
        """Make a client over an existing connection (see :py:meth:`connect`)."""
        config = ClientConfig(
            service_client=service_client,
            namespace=namespace,
            data_converter=data_converter,
            plugins=plugins,
            interceptors=interceptors,
            default_workflow_query_reject_condition=default_workflow_query_reject_condition,
            header_codec_behavior=header_codec_behavior,
        )
        self._initial_config = ClientConfig(**config)  # type: ignore[typeddict-item]
        for plugin in plugins:
            config = plugin.configure_client(config)
        self._config = config
        from perdure.client._impl import _ClientImpl

        self._eager_workflow_starters: dict[str, EagerWorkflowStarter] = {}
        self._impl: OutboundInterceptor = _ClientImpl(self)
        for interceptor in reversed(list(config["interceptors"])):
            self._impl = interceptor.intercept_client(self._impl)

    def config(self, *, active_config: bool = False) -> ClientConfig:
        """A shallow copy of the settings (as given, or as changed by plugins)."""
        source = self._config if active_config else self._initial_config
        copy = ClientConfig(**source)  # type: ignore[typeddict-item]
        copy["interceptors"] = list(copy["interceptors"])
        return copy

    @property
    def service_client(self) -> ServiceClient:
        """The connection."""
        return self._config["service_client"]

    @property
    def workflow_service(self) -> WorkflowService:
        """Raw workflow service RPCs."""
        return self.service_client.workflow_service

    @property
    def operator_service(self) -> OperatorService:
        """Raw operator service RPCs."""
        return self.service_client.operator_service

    @property
    def test_service(self) -> TestService:
        """Raw test service RPCs."""
        return self.service_client.test_service

    @property
    def namespace(self) -> str:
        """The namespace of every call."""
        return self._config["namespace"]

    @property
    def identity(self) -> str:
        """The identity sent with calls."""
        return self.service_client.config.identity

    @property
    def data_converter(self) -> DataConverter:
        """The data converter."""
        return self._config["data_converter"]

    @property
    def rpc_metadata(self) -> Mapping[str, str | bytes]:
        """Headers of every call; assign a new mapping to change them."""
        return self.service_client.config.rpc_metadata

    @rpc_metadata.setter
    def rpc_metadata(self, value: Mapping[str, str | bytes]) -> None:
        self.service_client.update_rpc_metadata(value)
        self.service_client.config.rpc_metadata = value

    @property
    def api_key(self) -> str | None:
        """The API key of every call; assign to change it."""
        return self.service_client.config.api_key

    @api_key.setter
    def api_key(self, value: str | None) -> None:
        self.service_client.config.api_key = value
        self.service_client.update_api_key(value)

    def _register_eager_workflow_starter(
        self, task_queue: str, starter: EagerWorkflowStarter
    ) -> Callable[[], None]:
        """Let ``starter`` (a worker polling ``task_queue``) take eager starts; returns
        the function that unregisters it.
        """
        self._eager_workflow_starters[task_queue] = starter

        def unregister() -> None:
            if self._eager_workflow_starters.get(task_queue) is starter:
                del self._eager_workflow_starters[task_queue]

        return unregister

    # ------------------------------------------------------------------ handles

    def get_workflow_handle(
        self,
        workflow_id: str,
        *,
        run_id: str | None = None,
        first_execution_run_id: str | None = None,
        result_type: type | None = None,
    ) -> WorkflowHandle[Any, Any]:
        """A handle to an existing workflow (optionally pinned to a run)."""
        return WorkflowHandle(
            self,
            workflow_id,
            run_id=run_id,
            result_run_id=run_id,
            first_execution_run_id=first_execution_run_id,
            result_type=result_type,
        )

    def get_workflow_handle_for(
        self,
        workflow: types.MethodAsyncNoParam[SelfType, ReturnType]
        | types.MethodAsyncSingleParam[SelfType, Any, ReturnType]
        | Callable[..., Awaitable[ReturnType]],
        workflow_id: str,
        *,
        run_id: str | None = None,
        first_execution_run_id: str | None = None,
    ) -> WorkflowHandle[SelfType, ReturnType]:
        """:py:meth:`get_workflow_handle`, typed by the workflow's run method."""
        _, result_type = types.workflow_name_and_result_type(workflow)
        return self.get_workflow_handle(
            workflow_id,
            run_id=run_id,
            first_execution_run_id=first_execution_run_id,
            result_type=result_type,
        )

    @overload
    def get_async_activity_handle(
        self, *, workflow_id: str, run_id: str | None, activity_id: str
    ) -> AsyncActivityHandle: ...

    @overload
    def get_async_activity_handle(self, *, task_token: bytes) -> AsyncActivityHandle: ...

    def get_async_activity_handle(
        self,
        *,
        workflow_id: str | None = None,
        run_id: str | None = None,
        activity_id: str | None = None,
        task_token: bytes | None = None,
    ) -> AsyncActivityHandle:
        """A handle to complete an activity from outside its worker.

        Name it by ``task_token`` alone, or by ``workflow_id``, ``run_id`` and ``activity_id``.
        """
        if task_token is not None:
            if workflow_id is not None or run_id is not None or activity_id is not None:
                raise ValueError("Task token cannot be present with other IDs")
            return AsyncActivityHandle(self, task_token)
        if workflow_id is None or activity_id is None:
            raise ValueError("Workflow ID and activity ID must be present if no task token")
        return AsyncActivityHandle(self, AsyncActivityIDReference(workflow_id, run_id, activity_id))

    # ------------------------------------------------------------------ visibility

    def list_workflows(
        self,
        query: str | None = None,
        *,
        limit: int | None = None,
        page_size: int = 1000,
        next_page_token: bytes | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> WorkflowExecutionAsyncIterator:
        """Workflow runs matching a visibility ``query``, as an async iterator.

        Nothing is sent until iteration starts; ``limit`` caps the number returned.
        """
        return self._impl.list_workflows(
            ListWorkflowsInput(
                query=query,
                page_size=page_size,
                next_page_token=next_page_token,
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
                limit=limit,
            )
        )

    async def count_workflows(
        self,
        query: str | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> WorkflowExecutionCount:
        """Count the runs matching a visibility ``query`` (with groups for ``GROUP BY``)."""
        return await self._impl.count_workflows(
            CountWorkflowsInput(query=query, rpc_metadata=rpc_metadata, rpc_timeout=rpc_timeout)
        )

    # ------------------------------------------------------------------ update with start

    async def execute_update_with_start_workflow(
        self,
        update: str | Callable[..., Any],
        arg: Any = _arg_unset,
        *,
        start_workflow_operation: WithStartWorkflowOperation[Any, Any],
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: type | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> Any:
        """Start the workflow unless running (per its conflict policy), run the update,
        and return the update's result.

        Raises:
            WorkflowUpdateFailedError: the update failed.
            WorkflowAlreadyStartedError: the workflow runs and the conflict policy is FAIL.
        """
        handle = await self._start_update_with_start(
            update,
            arg,
            args=args,
            wait_for_stage=WorkflowUpdateStage.COMPLETED,
            id=id,
            result_type=result_type,
            start_workflow_operation=start_workflow_operation,
            rpc_metadata=rpc_metadata,
            rpc_timeout=rpc_timeout,
        )
        return await handle.result()

    async def start_update_with_start_workflow(
        self,
        update: str | Callable[..., Any],
        arg: Any = _arg_unset,
        *,
        start_workflow_operation: WithStartWorkflowOperation[Any, Any],
        wait_for_stage: WorkflowUpdateStage,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: type | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> WorkflowUpdateHandle[Any]:
        """Like :py:meth:`execute_update_with_start_workflow`, returning the update's
        handle once it reached ``wait_for_stage`` (ACCEPTED or COMPLETED).
        """
        return await self._start_update_with_start(
            update,
            arg,
            args=args,
            wait_for_stage=wait_for_stage,
            id=id,
            result_type=result_type,
            start_workflow_operation=start_workflow_operation,
            rpc_metadata=rpc_metadata,
            rpc_timeout=rpc_timeout,
        )

    async def _start_update_with_start(
        self,
        update: str | Callable[..., Any],
        arg: Any,
        *,
        wait_for_stage: WorkflowUpdateStage,
        args: Sequence[Any],
        id: str | None,
        result_type: type | None,
        start_workflow_operation: WithStartWorkflowOperation[Any, Any],
        rpc_metadata: Mapping[str, str | bytes],
        rpc_timeout: timedelta | None,
    ) -> WorkflowUpdateHandle[Any]:
        if wait_for_stage == WorkflowUpdateStage.ADMITTED:
            raise ValueError("ADMITTED wait stage not supported")
        operation = start_workflow_operation
        if operation._used:
            raise RuntimeError("WithStartWorkflowOperation cannot be reused")
        operation._used = True
        name, hinted = types.update_name_and_result_type(update)
        start_input = operation._start_workflow_input

        def on_start(response: Any) -> None:
            operation._workflow_handle.set_result(
                WorkflowHandle(
                    self,
                    start_input.id,
                    first_execution_run_id=response.first_execution_run_id or response.run_id,
                    result_run_id=response.run_id,
                    result_type=start_input.ret_type,
                )
            )

        def on_start_error(error: BaseException) -> None:
            operation._workflow_handle.set_exception(error)

        return await self._impl.start_update_with_start_workflow(
            StartWorkflowUpdateWithStartInput(
                start_workflow_input=start_input,
                update_workflow_input=UpdateWithStartUpdateWorkflowInput(
                    update_id=id,
                    update=name,
                    args=_arg_or_args(arg, args),
                    wait_for_stage=wait_for_stage,
                    headers={},
                    ret_type=result_type or hinted,
                ),
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
                _on_start=on_start,
                _on_start_error=on_start_error,
            )
        )


def _plugin_connect(
    plugin: Plugin, next: Callable[[ConnectConfig], Awaitable[ServiceClient]]
) -> Callable[[ConnectConfig], Awaitable[ServiceClient]]:
    async def connect(config: ConnectConfig) -> ServiceClient:
        return await plugin.connect_service_client(config, next)

    return connect
