"""The Worker: runs workflows and/or activities of one task queue (mirrors temporalio).

It validates the options, checks the namespace with DescribeNamespace when it starts,
runs the workflow worker and the activity worker side by side, and shuts down as
temporalio does: stop polling, send ShutdownWorker (naming the sticky queue), give
running activities ``graceful_shutdown_timeout`` to finish, then cancel them and wait.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import uuid
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeAlias

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, ShutdownWorkerRequest
from typing_extensions import TypedDict

import perdure.common
from perdure.common import HeaderCodecBehavior
from perdure.runtime import Runtime
from perdure.service import RPCError
from perdure.worker._activity import _ActivityWorker
from perdure.worker._activity_sync import SharedStateManager
from perdure.worker._build_id import load_default_build_id
from perdure.worker._interceptor import Interceptor
from perdure.worker._metrics import WorkerMetrics
from perdure.worker._poll_failures import PollFailures

if TYPE_CHECKING:
    from perdure.client import Client
    from perdure.worker._workflow_worker import WorkflowWorker

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class PollerBehaviorSimpleMaximum:
    """Poll while a slot is free, with at most `maximum` polls open at once."""

    maximum: int = 5


@dataclass(frozen=True)
class PollerBehaviorAutoscaling:
    """Accepted for compatibility; Perdure keeps `initial` polls open (no autoscaling)."""

    minimum: int = 1
    """At least this many polls (when slots are free)."""
    maximum: int = 100
    """At most this many polls."""
    initial: int = 5
    """The number of polls Perdure keeps open."""


PollerBehavior: TypeAlias = PollerBehaviorSimpleMaximum | PollerBehaviorAutoscaling
"""How many polls a worker keeps open."""


def _poll_count(behavior: PollerBehavior) -> int:
    if isinstance(behavior, PollerBehaviorAutoscaling):
        return max(behavior.minimum, min(behavior.initial, behavior.maximum))
    return behavior.maximum


class WorkflowRunner:
    """How workflows run. Perdure has one runtime (no import sandbox): runners are
    accepted so that temporalio code ports unchanged, and do not change behaviour."""


class UnsandboxedWorkflowRunner(WorkflowRunner):
    """Runs workflows without a sandbox: what Perdure always does."""


@dataclass(frozen=True)
class SandboxedWorkflowRunner(WorkflowRunner):
    """temporalio's sandboxed runner; accepted for compatibility, runs unsandboxed.

    Perdure's runtime guards determinism without re-importing modules, so the
    restrictions are not applied.
    """

    restrictions: Any = None
    """temporalio's SandboxRestrictions (ignored)."""
    runner_class: type[WorkflowRunner] = UnsandboxedWorkflowRunner
    """The runner used inside the sandbox (ignored)."""


_DEFAULT_RUNNER = SandboxedWorkflowRunner()
_DEFAULT_UNSANDBOXED_RUNNER = UnsandboxedWorkflowRunner()


class WorkerConfig(TypedDict, total=False):
    """The options a :py:class:`Worker` was created with, as a dict."""

    client: Client
    task_queue: str
    activities: Sequence[Callable[..., Any]]
    nexus_service_handlers: Sequence[Any]
    workflows: Sequence[type]
    activity_executor: concurrent.futures.Executor | None
    workflow_task_executor: concurrent.futures.ThreadPoolExecutor | None
    nexus_task_executor: concurrent.futures.ThreadPoolExecutor | None
    workflow_runner: WorkflowRunner
    unsandboxed_workflow_runner: WorkflowRunner
    plugins: Sequence[Any]
    interceptors: Sequence[Interceptor]
    build_id: str | None
    identity: str | None
    max_cached_workflows: int
    max_concurrent_workflow_tasks: int | None
    max_concurrent_activities: int | None
    max_concurrent_local_activities: int | None
    max_concurrent_nexus_tasks: int | None
    tuner: Any
    max_concurrent_workflow_task_polls: int | None
    nonsticky_to_sticky_poll_ratio: float
    max_concurrent_activity_task_polls: int | None
    no_remote_activities: bool
    sticky_queue_schedule_to_start_timeout: timedelta
    max_heartbeat_throttle_interval: timedelta
    default_heartbeat_throttle_interval: timedelta
    max_activities_per_second: float | None
    max_task_queue_activities_per_second: float | None
    max_eager_activity_reservations_per_workflow_task: int
    graceful_shutdown_timeout: timedelta
    plugin_shutdown_timeout: timedelta | None
    workflow_failure_exception_types: Sequence[type[BaseException]]
    shared_state_manager: SharedStateManager | None
    debug_mode: bool
    disable_eager_activity_execution: bool
    on_fatal_error: Callable[[BaseException], Awaitable[None]] | None
    use_worker_versioning: bool
    disable_safe_workflow_eviction: bool
    deployment_config: Any
    patch_activation_callback: Callable[[Any], bool] | None
    workflow_task_poller_behavior: PollerBehavior
    activity_task_poller_behavior: PollerBehavior
    nexus_task_poller_behavior: PollerBehavior
    disable_payload_error_limit: bool
    max_workflow_task_external_storage_concurrency: int


# --------------------------------------------------------------------------- worker


class Worker:
    """Processes the workflows and/or activities of one task queue.

    Run it with :py:meth:`run` and stop it with :py:meth:`shutdown`, or use
    ``async with``: a fatal worker error then cancels the block and is raised from it.
    """

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        activities: Sequence[Callable[..., Any]] = [],
        nexus_service_handlers: Sequence[Any] = [],
        workflows: Sequence[type] = [],
        activity_executor: concurrent.futures.Executor | None = None,
        workflow_task_executor: concurrent.futures.ThreadPoolExecutor | None = None,
        nexus_task_executor: concurrent.futures.ThreadPoolExecutor | None = None,
        workflow_runner: WorkflowRunner = _DEFAULT_RUNNER,
        unsandboxed_workflow_runner: WorkflowRunner = _DEFAULT_UNSANDBOXED_RUNNER,
        plugins: Sequence[Any] = [],
        interceptors: Sequence[Interceptor] = [],
        build_id: str | None = None,
        identity: str | None = None,
        max_cached_workflows: int = 1000,
        max_concurrent_workflow_tasks: int | None = None,
        max_concurrent_activities: int | None = None,
        max_concurrent_local_activities: int | None = None,
        max_concurrent_nexus_tasks: int | None = None,
        tuner: Any = None,
        max_concurrent_workflow_task_polls: int | None = None,
        nonsticky_to_sticky_poll_ratio: float = 0.2,
        max_concurrent_activity_task_polls: int | None = None,
        no_remote_activities: bool = False,
        sticky_queue_schedule_to_start_timeout: timedelta = timedelta(seconds=10),
        max_heartbeat_throttle_interval: timedelta = timedelta(seconds=60),
        default_heartbeat_throttle_interval: timedelta = timedelta(seconds=30),
        max_activities_per_second: float | None = None,
        max_task_queue_activities_per_second: float | None = None,
        max_eager_activity_reservations_per_workflow_task: int = 3,
        graceful_shutdown_timeout: timedelta = timedelta(),
        plugin_shutdown_timeout: timedelta | None = timedelta(seconds=60),
        workflow_failure_exception_types: Sequence[type[BaseException]] = [],
        shared_state_manager: SharedStateManager | None = None,
        debug_mode: bool = False,
        disable_eager_activity_execution: bool = False,
        on_fatal_error: Callable[[BaseException], Awaitable[None]] | None = None,
        use_worker_versioning: bool = False,
        disable_safe_workflow_eviction: bool = False,
        deployment_config: Any = None,
        patch_activation_callback: Callable[[Any], bool] | None = None,
        workflow_task_poller_behavior: PollerBehavior = PollerBehaviorSimpleMaximum(maximum=5),
        activity_task_poller_behavior: PollerBehavior = PollerBehaviorSimpleMaximum(maximum=5),
        nexus_task_poller_behavior: PollerBehavior = PollerBehaviorSimpleMaximum(maximum=5),
        disable_payload_error_limit: bool = False,
        max_workflow_task_external_storage_concurrency: int = 3,
    ) -> None:
        """Create a worker; see temporalio's Worker for every option.

        Options Perdure does not implement yet raise NotImplementedError when set:
        ``nexus_service_handlers``, ``plugins``, ``tuner`` and ``deployment_config``.
        ``workflow_runner`` and ``unsandboxed_workflow_runner`` are accepted and ignored.

        Raises:
            ValueError: No workflows or activities; a sync activity without an
                executor; conflicting options.
        """
        config = WorkerConfig(
            client=client,
            task_queue=task_queue,
            activities=activities,
            nexus_service_handlers=nexus_service_handlers,
            workflows=workflows,
            activity_executor=activity_executor,
            workflow_task_executor=workflow_task_executor,
            nexus_task_executor=nexus_task_executor,
            workflow_runner=workflow_runner,
            unsandboxed_workflow_runner=unsandboxed_workflow_runner,
            plugins=plugins,
            interceptors=interceptors,
            build_id=build_id,
            identity=identity,
            max_cached_workflows=max_cached_workflows,
            max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
            max_concurrent_activities=max_concurrent_activities,
            max_concurrent_local_activities=max_concurrent_local_activities,
            max_concurrent_nexus_tasks=max_concurrent_nexus_tasks,
            tuner=tuner,
            max_concurrent_workflow_task_polls=max_concurrent_workflow_task_polls,
            nonsticky_to_sticky_poll_ratio=nonsticky_to_sticky_poll_ratio,
            max_concurrent_activity_task_polls=max_concurrent_activity_task_polls,
            no_remote_activities=no_remote_activities,
            sticky_queue_schedule_to_start_timeout=sticky_queue_schedule_to_start_timeout,
            max_heartbeat_throttle_interval=max_heartbeat_throttle_interval,
            default_heartbeat_throttle_interval=default_heartbeat_throttle_interval,
            max_activities_per_second=max_activities_per_second,
            max_task_queue_activities_per_second=max_task_queue_activities_per_second,
            max_eager_activity_reservations_per_workflow_task=(
                max_eager_activity_reservations_per_workflow_task
            ),
            graceful_shutdown_timeout=graceful_shutdown_timeout,
            plugin_shutdown_timeout=plugin_shutdown_timeout,
            workflow_failure_exception_types=workflow_failure_exception_types,
            shared_state_manager=shared_state_manager,
            debug_mode=debug_mode,
            disable_eager_activity_execution=disable_eager_activity_execution,
            on_fatal_error=on_fatal_error,
            use_worker_versioning=use_worker_versioning,
            disable_safe_workflow_eviction=disable_safe_workflow_eviction,
            deployment_config=deployment_config,
            patch_activation_callback=patch_activation_callback,
            workflow_task_poller_behavior=workflow_task_poller_behavior,
            activity_task_poller_behavior=activity_task_poller_behavior,
            nexus_task_poller_behavior=nexus_task_poller_behavior,
            disable_payload_error_limit=disable_payload_error_limit,
            max_workflow_task_external_storage_concurrency=(
                max_workflow_task_external_storage_concurrency
            ),
        )
        self._initial_config = config.copy()
        self._config = config
        _validate_config(config)

        client_config = client.config()
        interceptors_from_client = [
            i for i in client_config.get("interceptors", []) if isinstance(i, Interceptor)
        ]
        all_interceptors = [*interceptors_from_client, *interceptors]
        self._identity = identity or client.identity
        self._build_id = build_id or load_default_build_id()
        self._worker_instance_key = str(uuid.uuid4())
        if not debug_mode and os.environ.get("TEMPORAL_DEBUG", "").lower() in ("1", "true"):
            debug_mode = True

        self._started = False
        self._shutdown_event = asyncio.Event()
        self._shutdown_complete_event = asyncio.Event()
        self._async_context_inner_task: asyncio.Task[Any] | None = None
        self._async_context_run_task: asyncio.Task[None] | None = None
        self._async_context_run_exception: BaseException | None = None
        self._async_context_exiting = False
        self._unregister_eager_start: Callable[[], None] | None = None

        poll_failures = PollFailures(task_queue)
        runtime = _runtime_of(client)
        metrics = (
            None
            if runtime.metric_meter is perdure.common.MetricMeter.noop
            else WorkerMetrics(
                runtime.metric_meter, runtime.metric_prefix, client.namespace, task_queue
            )
        )
        self._activity_worker: _ActivityWorker | None = None
        if activities:
            _warn_if_executor_too_small(activity_executor, max_concurrent_activities)
            activity_polls = max_concurrent_activity_task_polls or _poll_count(
                activity_task_poller_behavior
            )
            self._activity_worker = _ActivityWorker(
                service=client.workflow_service,
                namespace=client.namespace,
                task_queue=task_queue,
                identity=self._identity,
                build_id=self._build_id,
                worker_instance_key=self._worker_instance_key,
                activities=activities,
                activity_executor=activity_executor,
                shared_state_manager=shared_state_manager,
                data_converter=client.data_converter,
                interceptors=all_interceptors,
                client=client,
                metric_meter=runtime.metric_meter,
                metrics=metrics,
                max_concurrent_activities=max_concurrent_activities or 100,
                max_concurrent_local_activities=max_concurrent_local_activities or 100,
                max_activities_per_second=max_activities_per_second,
                max_task_queue_activities_per_second=max_task_queue_activities_per_second,
                max_heartbeat_throttle_interval=max_heartbeat_throttle_interval,
                default_heartbeat_throttle_interval=default_heartbeat_throttle_interval,
                graceful_shutdown_timeout=graceful_shutdown_timeout,
                max_concurrent_polls=activity_polls,
                no_remote_activities=no_remote_activities,
                decode_headers=(
                    client_config.get("header_codec_behavior") == HeaderCodecBehavior.CODEC
                ),
                poll_failures=poll_failures,
            )

        self._workflow_worker: WorkflowWorker | None = None
        if workflows:
            from perdure.worker._workflow_worker import WorkflowWorker

            self._workflow_worker = WorkflowWorker(
                service=client.workflow_service,
                namespace=client.namespace,
                task_queue=task_queue,
                workflows=workflows,
                data_converter=client.data_converter,
                interceptors=all_interceptors,
                identity=self._identity,
                build_id=self._build_id,
                max_concurrent_workflow_tasks=max_concurrent_workflow_tasks or 100,
                max_cached_workflows=max_cached_workflows,
                max_concurrent_workflow_task_polls=(
                    max_concurrent_workflow_task_polls or _poll_count(workflow_task_poller_behavior)
                ),
                sticky_queue_schedule_to_start_timeout=sticky_queue_schedule_to_start_timeout,
                disable_eager_activity_execution=(
                    disable_eager_activity_execution
                    or no_remote_activities
                    or self._activity_worker is None
                ),
                debug_mode=debug_mode,
                workflow_failure_exception_types=workflow_failure_exception_types,
                activities=activities,
                activity_hooks=self._activity_worker,
                poll_failures=poll_failures,
                worker_instance_key=self._worker_instance_key,
                metrics=metrics,
            )

    def config(self, *, active_config: bool = False) -> WorkerConfig:
        """A shallow copy of the options (the current ones with `active_config`)."""
        config = self._config.copy() if active_config else self._initial_config.copy()
        config["activities"] = list(config.get("activities", []))
        config["workflows"] = list(config.get("workflows", []))
        return config

    @property
    def task_queue(self) -> str:
        """The task queue this worker polls."""
        return self._config["task_queue"]

    @property
    def client(self) -> Client:
        """The client the worker uses."""
        return self._config["client"]

    @client.setter
    def client(self, value: Client) -> None:
        """Use another client for calls made from now on (e.g. after credentials change)."""
        self._config["client"] = value
        if self._activity_worker is not None:
            self._activity_worker.client = value
            self._activity_worker._service = value.workflow_service

    @property
    def is_running(self) -> bool:
        """Whether the worker was started and has not shut down."""
        return self._started and not self.is_shutdown

    @property
    def is_shutdown(self) -> bool:
        """Whether the worker ran and completed its shutdown."""
        return self._shutdown_complete_event.is_set()

    async def run(self) -> None:
        """Run until :py:meth:`shutdown` (or a fatal error, which is raised).

        Returns once shutdown is complete: activities were told to cancel after the
        graceful timeout and have finished.
        """
        try:
            await self._validate()
        except BaseException:
            if self._unregister_eager_start is not None:
                self._unregister_eager_start()
                self._unregister_eager_start = None
            if not self._started:
                self._shutdown_complete_event.set()
            raise
        if self._started:
            raise RuntimeError("Already started")
        self._started = True
        # `async with` may have registered already, so that eager starts issued right
        # after entering the block reach this worker.
        unregister_eager_start = self._unregister_eager_start or self._register_eager_start()
        self._unregister_eager_start = None

        tasks: dict[str, asyncio.Task[Any]] = {}
        if self._activity_worker is not None:
            tasks["activity"] = asyncio.create_task(self._activity_worker.run())
        if self._workflow_worker is not None:
            tasks["workflow"] = asyncio.create_task(self._workflow_worker.run())
        shutdown_requested = asyncio.create_task(self._shutdown_event.wait())
        exception: BaseException | None = None
        try:
            await asyncio.shield(
                asyncio.wait([shutdown_requested, *tasks.values()], return_when="FIRST_COMPLETED")
            )
            exception = next(
                (t.exception() for t in tasks.values() if t.done() and t.exception()), None
            )
            if exception is not None:
                logger.error("Worker failed, shutting down", exc_info=exception)
                on_fatal_error = self._config.get("on_fatal_error")
                if on_fatal_error is not None:
                    try:
                        await on_fatal_error(exception)
                    except Exception:
                        logger.warning("Fatal error handler failed")
        except asyncio.CancelledError as user_cancel:
            logger.info("Worker cancelled, shutting down")
            exception = user_cancel
        shutdown_requested.cancel()

        logger.info(
            "Beginning worker shutdown, will wait %s before cancelling activities",
            self._config["graceful_shutdown_timeout"],
        )
        if unregister_eager_start is not None:
            unregister_eager_start()
        if self._activity_worker is not None:
            self._activity_worker.initiate_shutdown()
        if self._workflow_worker is not None:
            self._workflow_worker.notify_shutdown()
        await self._shutdown_worker_rpc()
        await asyncio.wait(tasks.values())
        for task in tasks.values():
            if not task.cancelled():
                task.exception()  # retrieved: no "exception was never retrieved" noise
        if self._activity_worker is not None:
            await self._activity_worker.wait_all_completed()
        self._shutdown_complete_event.set()
        if exception is not None:
            raise exception

    async def _validate(self) -> None:
        """DescribeNamespace, as temporalio's core does before polling."""
        client = self.client
        try:
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=client.namespace),
                retry=True,
                timeout=timedelta(seconds=30),
            )
        except RPCError as err:
            raise RuntimeError(
                f"Worker validation failed: Namespace {client.namespace} was not found "
                f"or otherwise could not be described: {err}"
            ) from err

    async def _shutdown_worker_rpc(self) -> None:
        sticky = ""
        if self._workflow_worker is not None:
            sticky = self._workflow_worker.sticky_task_queue
        types = []
        if self._workflow_worker is not None:
            types.append(TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
        if self._activity_worker is not None:
            types.append(TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
        request = ShutdownWorkerRequest(
            namespace=self.client.namespace,
            sticky_task_queue=sticky,
            identity=self._identity,
            reason="graceful shutdown",
            worker_instance_key=self._worker_instance_key,
            task_queue=self.task_queue,
            task_queue_types=types,
        )
        try:
            await self.client.workflow_service.shutdown_worker(
                request, timeout=timedelta(seconds=5)
            )
        except Exception as err:
            # Older servers may not have it: the worker's own polls end anyway.
            logger.debug("ShutdownWorker failed: %s", err)

    async def shutdown(self) -> None:
        """Ask the worker to shut down and wait until it has.

        Safe to call before the worker starts and more than once.
        """
        self._shutdown_event.set()
        await self._shutdown_complete_event.wait()

    async def __aenter__(self) -> Worker:
        """Start running in the background; a fatal error cancels the enclosing task."""
        if self._async_context_inner_task is not None:
            raise RuntimeError("Already started")
        self._async_context_inner_task = asyncio.current_task()
        if self._async_context_inner_task is None:
            raise RuntimeError("Can only use async with inside a task")

        async def run() -> None:
            try:
                await self.run()
            except BaseException as err:
                self._async_context_run_exception = err
                if not self._async_context_exiting and self._async_context_inner_task:
                    self._async_context_inner_task.cancel()

        self._unregister_eager_start = self._register_eager_start()
        self._async_context_run_task = asyncio.create_task(run())
        return self

    def _register_eager_start(self) -> Callable[[], None] | None:
        """Eager workflow start hands this worker the first task of a started workflow."""
        if self._workflow_worker is None:
            return None
        return self.client._register_eager_workflow_starter(self.task_queue, self._workflow_worker)

    async def __aexit__(self, exc_type: type[BaseException] | None, *args: Any) -> None:
        """Shut down; re-raise a fatal worker error if it cancelled the block."""
        if self._async_context_run_task is None:
            raise RuntimeError("Never started")
        await self.shutdown()
        self._async_context_exiting = True
        await asyncio.wait([self._async_context_run_task])
        if exc_type is asyncio.CancelledError and self._async_context_run_exception:
            raise self._async_context_run_exception


def _validate_config(config: WorkerConfig) -> None:
    if not (
        config.get("activities") or config.get("nexus_service_handlers") or config.get("workflows")
    ):
        raise ValueError("At least one activity, Nexus service, or workflow must be specified")
    if config.get("use_worker_versioning") and not config.get("build_id"):
        raise ValueError("build_id must be specified when use_worker_versioning is True")
    if config.get("deployment_config") and (
        config.get("build_id") or config.get("use_worker_versioning")
    ):
        raise ValueError("deployment_config cannot be used with build_id or use_worker_versioning")
    if config.get("max_eager_activity_reservations_per_workflow_task", 3) < 1:
        raise ValueError(
            "max_eager_activity_reservations_per_workflow_task must be positive; "
            "use disable_eager_activity_execution=True to disable eager activity execution"
        )
    if config.get("max_workflow_task_external_storage_concurrency", 3) < 1:
        raise ValueError("max_workflow_task_external_storage_concurrency must be positive")
    if config.get("tuner") is not None:
        if (
            config.get("max_concurrent_workflow_tasks")
            or config.get("max_concurrent_activities")
            or config.get("max_concurrent_local_activities")
            or config.get("max_concurrent_nexus_tasks")
        ):
            raise ValueError(
                "Cannot specify max_concurrent_workflow_tasks, max_concurrent_activities, "
                "max_concurrent_local_activities, or max_concurrent_nexus_tasks when also "
                "specifying tuner"
            )
        raise NotImplementedError("Perdure workers do not support tuner yet")
    for option in ("nexus_service_handlers", "plugins"):
        if config.get(option):
            raise NotImplementedError(f"Perdure workers do not support {option} yet")
    if config.get("deployment_config") is not None:
        raise NotImplementedError("Perdure workers do not support deployment_config yet")


def _warn_if_executor_too_small(
    executor: concurrent.futures.Executor | None, max_concurrent: int | None
) -> None:
    max_workers = getattr(executor, "_max_workers", None)
    if isinstance(max_workers, int) and max_workers < (max_concurrent or 0):
        warnings.warn(
            f"Worker max_concurrent_activities is {max_concurrent} "
            f"but activity_executor's max_workers is only {max_workers}",
            stacklevel=3,
        )


def _runtime_of(client: Any) -> Runtime:
    """The runtime the client was connected with (a client stand-in has none)."""
    config = getattr(getattr(client, "service_client", None), "config", None)
    runtime: Runtime | None = getattr(config, "runtime", None)
    return runtime or Runtime.default()
