"""One activity attempt: from the polled task to the response that reports its outcome.

`execute_task` decodes the input, builds the Info and the activity context, runs the
activity function through the interceptor chain (on the event loop, in a thread, or
in another process) and turns its result or exception into the Respond* request
that temporalio would send, with temporalio's failure encoding.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import enum
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from google.protobuf import duration_pb2, timestamp_pb2
from temporalio.api.common.v1 import Payload, Payloads, WorkerVersionStamp
from temporalio.api.enums.v1 import ActivityTaskFailedCause
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
from temporalio.api.workflowservice.v1 import (
    PollActivityTaskQueueResponse,
    RespondActivityTaskCanceledRequest,
    RespondActivityTaskCompletedRequest,
    RespondActivityTaskFailedRequest,
)

import perdure.activity
import perdure.common
import perdure.converter
import perdure.exceptions
from perdure.activity._context import PayloadConverterClassOrInstance
from perdure.activity._definition import _is_async_callable
from perdure.worker._activity_heartbeat import HeartbeatThrottler
from perdure.worker._activity_sync import (
    _THREAD_CANCEL_EXCEPTION,
    SharedHeartbeatSender,
    SharedStateManager,
    _execute_sync_activity,
    _ThreadExceptionRaiser,
)
from perdure.worker._interceptor import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

if TYPE_CHECKING:
    from perdure.client import Client

logger = logging.getLogger(__name__)

ActivityResponse = (
    RespondActivityTaskCompletedRequest
    | RespondActivityTaskFailedRequest
    | RespondActivityTaskCanceledRequest
)
"""How an attempt ended; None instead means it will be completed asynchronously."""


class CancelReason(enum.Enum):
    """Why the worker cancelled a running activity (temporalio core's reasons)."""

    NOT_FOUND = "not_found"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    WORKER_SHUTDOWN = "worker_shutdown"
    PAUSED = "paused"
    RESET = "reset"


@dataclass
class RunningActivity:
    """The worker's state of one running attempt."""

    task: PollActivityTaskQueueResponse
    is_local: bool = False
    info: perdure.activity.Info | None = None
    exec_task: asyncio.Task[Any] | None = None
    cancelled_event: perdure.activity._CompositeEvent | None = None
    cancel_thread_raiser: _ThreadExceptionRaiser | None = None
    sync: bool = False
    done: bool = False
    cancelled_by_request: bool = False
    cancelled_due_to_heartbeat_error: BaseException | None = None
    cancellation_details: perdure.activity._ActivityCancellationDetailsHolder = field(
        default_factory=perdure.activity._ActivityCancellationDetailsHolder
    )
    cancel_reason: CancelReason | None = None
    known_not_found: bool = False
    """The server no longer knows this attempt: its outcome is not reported."""
    throttler: HeartbeatThrottler | None = None
    pending_heartbeat: Sequence[Any] | None = None
    encode_task: asyncio.Task[None] | None = None
    timeout_handle: asyncio.TimerHandle | None = None
    close_deadline: float | None = None
    """Monotonic time of the start-to-close / schedule-to-close deadline (inf: none)."""

    @property
    def task_token(self) -> bytes:
        return self.task.task_token

    def request_cancel(
        self,
        reason: CancelReason,
        details: perdure.activity.ActivityCancellationDetails,
        *,
        consider_not_found: bool = False,
    ) -> bool:
        """Deliver the first cancellation only; later ones are ignored, as in core."""
        if self.cancel_reason is not None:
            return False
        self.cancel_reason = reason
        if reason is CancelReason.NOT_FOUND or consider_not_found:
            self.known_not_found = True
        self.cancellation_details.details = details
        logger.debug("Cancelling activity %s, reason: %s", self.task.activity_id, reason.value)
        self.cancel(cancelled_by_request=details.cancel_requested or details.worker_shutdown)
        return True

    def cancel(
        self,
        *,
        cancelled_by_request: bool = False,
        cancelled_due_to_heartbeat_error: BaseException | None = None,
    ) -> None:
        """Tell the activity code: set its event, then interrupt it as its kind allows."""
        self.cancelled_by_request = cancelled_by_request
        self.cancelled_due_to_heartbeat_error = cancelled_due_to_heartbeat_error
        if self.cancelled_event is not None:
            self.cancelled_event.set()
        if self.done:
            return
        if self.cancel_thread_raiser is not None:
            self.cancel_thread_raiser.raise_in_thread(_THREAD_CANCEL_EXCEPTION)
        if not self.sync and self.exec_task is not None:
            self.exec_task.cancel("Activity cancelled")


@dataclass
class ExecutionEnv:
    """What the activity worker lends to each attempt."""

    namespace: str
    task_queue: str
    identity: str
    build_id: str
    data_converter: perdure.converter.DataConverter
    interceptors: Sequence[Interceptor]
    activities: dict[str, perdure.activity._Definition]
    dynamic_activity: perdure.activity._Definition | None
    activity_executor: concurrent.futures.Executor | None
    shared_state_manager: SharedStateManager | None
    client: Client | None
    metric_meter: perdure.common.MetricMeter
    worker_shutdown_event: perdure.activity._CompositeEvent
    # A multiprocessing event for process-pool activities, made on first use.
    process_shutdown_event: Callable[[], threading.Event]
    heartbeat: Callable[[RunningActivity, Sequence[Any]], None]
    decode_headers: bool = False
    """Run header payloads through the codec (the client's HeaderCodecBehavior.CODEC)."""


def _timestamp(ts: timestamp_pb2.Timestamp) -> datetime:
    return ts.ToDatetime().replace(tzinfo=UTC)


def _non_zero(duration: duration_pb2.Duration) -> timedelta | None:
    if not duration.seconds and not duration.nanos:
        return None
    return duration.ToTimedelta()


def _serialization_context(
    env: ExecutionEnv, task: PollActivityTaskQueueResponse, is_local: bool
) -> perdure.converter.ActivitySerializationContext:
    return perdure.converter.ActivitySerializationContext(
        namespace=task.workflow_namespace or env.namespace,
        activity_id=task.activity_id,
        activity_type=task.activity_type.name,
        activity_task_queue=env.task_queue,
        workflow_id=task.workflow_execution.workflow_id or None,
        workflow_type=task.workflow_type.name or None,
        is_local=is_local,
    )


def build_info(
    env: ExecutionEnv,
    task: PollActivityTaskQueueResponse,
    heartbeat_details: Sequence[Any],
    is_local: bool,
) -> perdure.activity.Info:
    """The Info that activity code sees, from the task the server sent."""
    by_workflow = bool(task.workflow_execution.workflow_id)
    return perdure.activity.Info(
        activity_id=task.activity_id,
        activity_type=task.activity_type.name,
        attempt=task.attempt,
        current_attempt_scheduled_time=_timestamp(task.current_attempt_scheduled_time),
        heartbeat_details=heartbeat_details,
        heartbeat_timeout=_non_zero(task.heartbeat_timeout)
        if task.HasField("heartbeat_timeout")
        else None,
        is_local=is_local,
        namespace=task.workflow_namespace or env.namespace,
        schedule_to_close_timeout=_non_zero(task.schedule_to_close_timeout)
        if task.HasField("schedule_to_close_timeout")
        else None,
        scheduled_time=_timestamp(task.scheduled_time),
        start_to_close_timeout=_non_zero(task.start_to_close_timeout)
        if task.HasField("start_to_close_timeout")
        else None,
        started_time=_timestamp(task.started_time),
        task_queue=env.task_queue,
        task_token=task.task_token,
        workflow_id=task.workflow_execution.workflow_id or None,
        workflow_namespace=task.workflow_namespace or None,
        workflow_run_id=task.workflow_execution.run_id or None,
        workflow_type=task.workflow_type.name or None,
        priority=perdure.common.Priority._from_proto(task.priority),
        retry_policy=perdure.common.RetryPolicy.from_proto(task.retry_policy)
        if task.HasField("retry_policy")
        else None,
        activity_run_id=(task.activity_run_id or None) if not by_workflow else None,
    )


async def execute_task(env: ExecutionEnv, running: RunningActivity) -> ActivityResponse | None:
    """Run one attempt to its end and return how to report it (None: async completion).

    Never raises (except when the calling task itself is cancelled): every failure,
    including the worker's own, becomes a failed response.
    """
    task = running.task
    converter = env.data_converter.with_context(_serialization_context(env, task, running.is_local))
    try:
        try:
            result = await _execute(env, running, converter)
        finally:
            # From here on a cancellation must not interrupt reporting the outcome.
            running.done = True
        payloads = await converter.encode([result])
        return RespondActivityTaskCompletedRequest(
            task_token=task.task_token,
            result=Payloads(payloads=payloads),
            identity=env.identity,
            namespace=env.namespace,
            worker_version=WorkerVersionStamp(build_id=env.build_id),
        )
    except BaseException as err:  # every outcome is reported, see the docstring
        if isinstance(err, asyncio.CancelledError) and running.exec_task is None:
            raise  # the attempt never started: the caller itself is being cancelled
        return await _response_for_exception(env, running, converter, err)


async def _response_for_exception(
    env: ExecutionEnv,
    running: RunningActivity,
    converter: perdure.converter.DataConverter,
    err: BaseException,
) -> ActivityResponse | None:
    log = perdure.activity.logger
    failure = Failure()
    try:
        if isinstance(err, perdure.activity._CompleteAsyncError):
            log.debug("Completing asynchronously")
            return None
        is_cancel = isinstance(err, asyncio.CancelledError | perdure.exceptions.CancelledError)
        details = running.cancellation_details.details
        if is_cancel and running.cancelled_due_to_heartbeat_error is not None:
            hb_err = running.cancelled_due_to_heartbeat_error
            log.warning(
                f"Completing as failure during heartbeat with error of type {type(hb_err)}: "
                f"{hb_err}"
            )
            await converter.encode_failure(hb_err, failure)
        elif is_cancel and details is not None and details.paused:
            log.warning("Completing as failure due to unhandled cancel error produced by pause")
            await converter.encode_failure(
                perdure.exceptions.ApplicationError(
                    "Unhandled activity cancel error produced by activity pause",
                    type="ActivityPause",
                ),
                failure,
            )
        elif is_cancel and details is not None and details.reset:
            log.warning("Completing as failure due to unhandled cancel error produced by reset")
            await converter.encode_failure(
                perdure.exceptions.ApplicationError(
                    "Unhandled activity cancel error produced by activity reset",
                    type="ActivityReset",
                ),
                failure,
            )
        elif is_cancel and running.cancelled_by_request:
            log.debug("Completing as cancelled")
            if running.cancel_reason is CancelReason.WORKER_SHUTDOWN and not running.is_local:
                # As core: a shutdown cancel is a retryable failure, so the next attempt
                # need not wait for a timeout.
                return _failed(env, running, _worker_shutdown_failure())
            await converter.encode_failure(perdure.exceptions.CancelledError("Cancelled"), failure)
            request = RespondActivityTaskCanceledRequest(
                task_token=running.task_token,
                identity=env.identity,
                namespace=env.namespace,
                worker_version=WorkerVersionStamp(build_id=env.build_id),
            )
            if failure.canceled_failure_info.HasField("details"):
                request.details.CopyFrom(failure.canceled_failure_info.details)
            return request
        else:
            benign = (
                isinstance(err, perdure.exceptions.ApplicationError)
                and err.category == perdure.exceptions.ApplicationErrorCategory.BENIGN
            )
            (log.debug if benign else log.warning)(
                "Completing activity as failed",
                exc_info=True,
                extra={"__temporal_error_identifier": "ActivityFailure"},
            )
            await converter.encode_failure(err, failure)
    except Exception as inner_err:
        log.exception(f"Exception handling failed, original error: {err}")
        failure = Failure(
            message=f"Failed building exception result: {inner_err}",
            application_failure_info=ApplicationFailureInfo(),
        )
    return _failed(env, running, failure)


def _failed(env: ExecutionEnv, running: RunningActivity, failure: Failure) -> ActivityResponse:
    return RespondActivityTaskFailedRequest(
        task_token=running.task_token,
        failure=failure,
        identity=env.identity,
        namespace=env.namespace,
        worker_version=WorkerVersionStamp(build_id=env.build_id),
        cause=ActivityTaskFailedCause.ACTIVITY_TASK_FAILED_CAUSE_ACTIVITY_WORKER_UNHANDLED_FAILURE,
    )


def _worker_shutdown_failure() -> Failure:
    return Failure(
        message="Worker is shutting down and this activity did not complete in time",
        application_failure_info=ApplicationFailureInfo(type="WorkerShutdown"),
    )


async def _execute(
    env: ExecutionEnv, running: RunningActivity, converter: perdure.converter.DataConverter
) -> Any:
    """Find the activity, decode its input, set its context and run the interceptor chain."""
    task = running.task
    activity_type = task.activity_type.name
    defn = env.activities.get(activity_type, env.dynamic_activity)
    if defn is None:
        names = ", ".join(sorted(env.activities))
        raise perdure.exceptions.ApplicationError(
            f"Activity function {activity_type} for workflow "
            f"{task.workflow_execution.workflow_id} is not registered on this worker, "
            f"available activities: {names}",
            type="NotFoundError",
        )

    process_pool = False
    if defn.is_async:
        running.cancelled_event = perdure.activity._CompositeEvent(
            thread_event=threading.Event(), async_event=asyncio.Event()
        )
    else:
        running.sync = True
        if isinstance(env.activity_executor, concurrent.futures.ThreadPoolExecutor):
            running.cancelled_event = perdure.activity._CompositeEvent(
                thread_event=threading.Event(), async_event=None
            )
            if not defn.no_thread_cancel_exception:
                running.cancel_thread_raiser = _ThreadExceptionRaiser()
        else:
            process_pool = True
            assert env.shared_state_manager is not None  # checked at registration
            running.cancelled_event = perdure.activity._CompositeEvent(
                thread_event=env.shared_state_manager.new_event(), async_event=None
            )

    arg_types = defn.arg_types
    if defn.name is None:
        arg_types = [perdure.common.RawValue] * len(task.input.payloads)
    elif arg_types is not None and len(arg_types) != len(task.input.payloads):
        arg_types = None
    try:
        args: list[Any] = (
            await converter.decode(task.input.payloads, arg_types) if task.input.payloads else []
        )
    except Exception as err:
        raise perdure.exceptions.ApplicationError("Failed decoding arguments") from err
    if defn.name is None:
        args = [args]
    try:
        heartbeat_details = (
            await converter.decode(task.heartbeat_details.payloads)
            if task.heartbeat_details.payloads
            else []
        )
    except Exception as err:
        raise perdure.exceptions.ApplicationError(
            "Failed decoding heartbeat details", non_retryable=True
        ) from err

    info = build_info(env, task, heartbeat_details, running.is_local)
    running.info = info
    perdure.activity._Context.set(
        perdure.activity._Context(
            info=lambda: info,
            heartbeat=None,
            cancelled_event=running.cancelled_event,
            worker_shutdown_event=env.worker_shutdown_event,
            shield_thread_cancel_exception=(
                None
                if running.cancel_thread_raiser is None
                else running.cancel_thread_raiser.shielded
            ),
            payload_converter_class_or_instance=converter.payload_converter,
            runtime_metric_meter=None if process_pool else env.metric_meter,
            client=None if running.sync else env.client,
            cancellation_details=running.cancellation_details,
        )
    )
    perdure.activity.logger.debug("Starting activity")

    impl: ActivityInboundInterceptor = _ActivityInboundImpl(env, running, converter)
    for interceptor in reversed(list(env.interceptors)):
        impl = interceptor.intercept_activity(impl)
    impl.init(_ActivityOutboundImpl(env, running, info))
    headers: Mapping[str, Payload] = task.header.fields
    if env.decode_headers and converter.payload_codec is not None:
        codec = converter.payload_codec
        headers = {key: (await codec.decode([value]))[0] for key, value in headers.items()}
    input = ExecuteActivityInput(
        fn=defn.fn,
        args=args,
        executor=env.activity_executor if running.sync else None,
        headers=headers,
    )
    # A child task so that cancelling the activity never cancels the reporting of it.
    running.exec_task = asyncio.create_task(impl.execute_activity(input))
    if running.cancel_reason is not None:
        # Cancelled before the code started (e.g. the shutdown grace was already over).
        running.cancel(
            cancelled_by_request=running.cancelled_by_request,
            cancelled_due_to_heartbeat_error=running.cancelled_due_to_heartbeat_error,
        )
    return await _await_child(running.exec_task)


async def _await_child(child: asyncio.Task[Any]) -> Any:
    try:
        return await asyncio.shield(child)
    except asyncio.CancelledError:
        if child.done():
            return child.result()  # the child's own cancellation or result
        # We are cancelled from outside (a forced stop): take the activity down with us.
        child.cancel()
        await asyncio.wait([child])
        raise


class _ActivityInboundImpl(ActivityInboundInterceptor):
    """The innermost inbound interceptor: actually calls the activity function."""

    def __init__(
        self,
        env: ExecutionEnv,
        running: RunningActivity,
        converter: perdure.converter.DataConverter,
    ) -> None:
        # No super().__init__: this is the end of the chain, there is no next.
        self._env = env
        self._running = running
        self._converter = converter

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        context = perdure.activity._Context.current()
        context.info = outbound.info
        context.heartbeat = outbound.heartbeat

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if _is_async_callable(input.fn):
            return await input.fn(*input.args)
        return await self._execute_sync(input)

    async def _execute_sync(self, input: ExecuteActivityInput) -> Any:
        env = self._env
        running = self._running
        ctx = perdure.activity._Context.current()
        info = ctx.info()
        loop = asyncio.get_running_loop()
        outbound_heartbeat = ctx.heartbeat
        assert outbound_heartbeat is not None
        # Heartbeats from the thread run on the loop, in the activity's context.
        loop_context = contextvars.copy_context()

        def heartbeat_from_thread(*details: Any) -> None:
            loop.call_soon_threadsafe(loop_context.run, outbound_heartbeat, *details)

        threaded = isinstance(input.executor, concurrent.futures.ThreadPoolExecutor)
        heartbeat: Callable[..., None] | SharedHeartbeatSender = heartbeat_from_thread
        payload_converter: PayloadConverterClassOrInstance = self._converter.payload_converter
        shutdown_event: threading.Event | None = env.worker_shutdown_event.thread_event
        manager: SharedStateManager | None = None
        if not threaded:
            manager = env.shared_state_manager
            assert manager is not None  # checked at registration
            heartbeat = await manager.register_heartbeater(info.task_token, heartbeat_from_thread)
            payload_converter = self._converter.payload_converter_class
            shutdown_event = env.process_shutdown_event()
        assert running.cancelled_event is not None
        try:
            args: list[Any] = [
                info,
                heartbeat,
                running.cancel_thread_raiser,
                running.cancelled_event.thread_event,
                shutdown_event,
                payload_converter,
                ctx.runtime_metric_meter,
                running.cancellation_details,
                input.fn,
                *input.args,
            ]
            if threaded:
                # Executors do not carry contextvars into threads; do it explicitly.
                return await loop.run_in_executor(
                    input.executor, contextvars.copy_context().run, _execute_sync_activity, *args
                )
            return await loop.run_in_executor(input.executor, _execute_sync_activity, *args)
        finally:
            if manager is not None:
                await manager.unregister_heartbeater(info.task_token)


class _ActivityOutboundImpl(ActivityOutboundInterceptor):
    """The innermost outbound interceptor: the worker's own info and heartbeat."""

    def __init__(
        self, env: ExecutionEnv, running: RunningActivity, info: perdure.activity.Info
    ) -> None:
        # No super().__init__: this is the end of the chain, there is no next.
        self._env = env
        self._running = running
        self._info = info

    def info(self) -> perdure.activity.Info:
        return self._info

    def heartbeat(self, *details: Any) -> None:
        self._env.heartbeat(self._running, details)
