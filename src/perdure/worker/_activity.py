"""The activity worker: polls activity tasks, runs them, reports their outcome.

Five pollers (by default) long-poll PollActivityTaskQueue; each takes a concurrency
slot before polling, so the worker never holds more than ``max_concurrent_activities``
tasks. The worker also runs eager activity tasks handed over by the workflow worker
and local activities (whose outcome it returns instead of sending), throttles
heartbeats, delivers cancellation (heartbeat response, local timeout, worker
shutdown) and reports each outcome with RespondActivityTaskCompleted/Failed/Canceled.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import pickle
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from contextvars import Context
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from google.protobuf import wrappers_pb2
from temporalio.api.common.v1 import WorkerVersionCapabilities
from temporalio.api.enums.v1 import TaskQueueKind
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
from temporalio.api.taskqueue.v1 import TaskQueue, TaskQueueMetadata
from temporalio.api.workflowservice.v1 import (
    PollActivityTaskQueueRequest,
    PollActivityTaskQueueResponse,
    RecordActivityTaskHeartbeatRequest,
    RespondActivityTaskCompletedRequest,
    RespondActivityTaskFailedRequest,
)

import perdure.activity
import perdure.common
import perdure.converter
from perdure.service import RPCError, RPCStatusCode
from perdure.worker._activity_heartbeat import HeartbeatThrottler, throttle_interval
from perdure.worker._activity_run import (
    ActivityResponse,
    CancelReason,
    ExecutionEnv,
    RunningActivity,
    _failed,
    execute_task,
)
from perdure.worker._activity_sync import SharedStateManager
from perdure.worker._interceptor import Interceptor
from perdure.worker._metrics import WorkerMetrics
from perdure.worker._poll_failures import PollFailures
from perdure.worker._slots import RateLimiter, SlotPool

if TYPE_CHECKING:
    from perdure.client import Client
    from perdure.service import WorkflowService

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

_POLL_TIMEOUT = timedelta(seconds=70)
# Core waits this long past a deadline before cancelling locally, so the server
# (which owns timeouts) normally decides first.
_LOCAL_TIMEOUT_BUFFER = 5.0
_RETRYABLE_POLL_CODES = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.INTERNAL,
        RPCStatusCode.UNKNOWN,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.ABORTED,
    }
)
_Details = perdure.activity.ActivityCancellationDetails


class _ActivityWorker:
    """Polls and runs the activities of one task queue (see the module docstring)."""

    def __init__(
        self,
        *,
        service: WorkflowService,
        namespace: str,
        task_queue: str,
        identity: str,
        build_id: str,
        worker_instance_key: str,
        activities: Sequence[Callable[..., Any]],
        activity_executor: concurrent.futures.Executor | None,
        shared_state_manager: SharedStateManager | None,
        data_converter: perdure.converter.DataConverter,
        interceptors: Sequence[Interceptor],
        client: Client | None,
        metric_meter: perdure.common.MetricMeter = perdure.common.MetricMeter.noop,
        metrics: WorkerMetrics | None = None,
        max_concurrent_activities: int = 100,
        max_concurrent_local_activities: int = 100,
        max_activities_per_second: float | None = None,
        max_task_queue_activities_per_second: float | None = None,
        max_heartbeat_throttle_interval: timedelta = timedelta(seconds=60),
        default_heartbeat_throttle_interval: timedelta = timedelta(seconds=30),
        graceful_shutdown_timeout: timedelta = timedelta(),
        max_concurrent_polls: int = 5,
        no_remote_activities: bool = False,
        decode_headers: bool = False,
        poll_failures: PollFailures | None = None,
    ) -> None:
        """Validate and register `activities`; nothing runs until :py:meth:`run`.

        ``poll_failures`` is shared with the worker's other pollers (one warning per outage).
        """
        self._service = service
        self._poll_failures = poll_failures or PollFailures(task_queue)
        self._namespace = namespace
        self._task_queue = task_queue
        self._identity = identity
        self._build_id = build_id
        self._worker_instance_key = worker_instance_key
        self._activity_executor = activity_executor
        self._shared_state_manager = shared_state_manager
        self._max_heartbeat_throttle_interval = max_heartbeat_throttle_interval
        self._default_heartbeat_throttle_interval = default_heartbeat_throttle_interval
        self._graceful_shutdown_timeout = graceful_shutdown_timeout
        self._max_concurrent_polls = max(1, max_concurrent_polls)
        self._no_remote_activities = no_remote_activities
        self._max_task_queue_activities_per_second = max_task_queue_activities_per_second
        self._slots = SlotPool(
            max_concurrent_activities,
            on_change=metrics.slot_gauges("ActivityWorker") if metrics is not None else None,
        )
        self._local_slots = SlotPool(
            max_concurrent_local_activities,
            on_change=metrics.slot_gauges("LocalActivityWorker") if metrics is not None else None,
        )
        self._rate_limiter = RateLimiter(max_activities_per_second)

        named, dynamic = _register(activities, activity_executor, shared_state_manager)
        self._activities = named
        self._env = ExecutionEnv(
            namespace=namespace,
            task_queue=task_queue,
            identity=identity,
            build_id=build_id,
            data_converter=data_converter,
            interceptors=interceptors,
            activities=named,
            dynamic_activity=dynamic,
            activity_executor=activity_executor,
            shared_state_manager=shared_state_manager,
            client=client,
            metric_meter=metric_meter,
            worker_shutdown_event=perdure.activity._CompositeEvent(
                thread_event=threading.Event(), async_event=asyncio.Event()
            ),
            process_shutdown_event=self._process_shutdown_event,
            heartbeat=self._heartbeat,
            decode_headers=decode_headers,
        )
        self.metrics = metrics
        """The worker's own metrics (worker/_metrics.py), when the runtime records them."""
        self._process_shutdown: threading.Event | None = None
        self._running: dict[bytes, RunningActivity] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pollers: list[asyncio.Task[None]] = []
        self._stop_event: asyncio.Event | None = None
        self._fatal_error: BaseException | None = None
        self._shutting_down = False
        self._grace_expired = False
        self._grace_timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def client(self) -> Client | None:
        """The client lent to async activities (``activity.client()``)."""
        return self._env.client

    @client.setter
    def client(self, value: Client | None) -> None:
        self._env.client = value

    async def run(self) -> None:
        """Poll until :py:meth:`initiate_shutdown`; raises if the worker fails fatally."""
        loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        if self._shutting_down:
            self._stop_event.set()
        if not self._no_remote_activities:
            self._pollers = [
                loop.create_task(self._poll_loop()) for _ in range(self._max_concurrent_polls)
            ]
        try:
            await self._stop_event.wait()
            if self._pollers:
                # Pollers cancel their own poll RPCs when they see the stop, but keep
                # a task whose response already arrived.
                await asyncio.wait(self._pollers)
        finally:
            for poller in self._pollers:
                poller.cancel()
            if self._pollers:
                await asyncio.wait(self._pollers)
                for poller in self._pollers:
                    if not poller.cancelled() and poller.exception() is not None:
                        logger.error("Activity poller failed", exc_info=poller.exception())
        if self._fatal_error is not None:
            raise RuntimeError("Activity worker failed") from self._fatal_error

    def initiate_shutdown(self) -> None:
        """Stop polling, tell activities the worker is shutting down, start the grace timer.

        After ``graceful_shutdown_timeout`` every activity still running is cancelled
        (reason: worker shutdown); its cancellation is reported as a retryable failure.
        """
        if self._shutting_down:
            return
        self._shutting_down = True
        if self._stop_event is not None:
            self._stop_event.set()
        self._env.worker_shutdown_event.set()
        if self._process_shutdown is not None:
            self._process_shutdown.set()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._grace_timer = loop.call_later(
            self._graceful_shutdown_timeout.total_seconds(), self._expire_grace
        )

    def _expire_grace(self) -> None:
        self._grace_expired = True
        for running in list(self._running.values()):
            if not running.is_local:
                running.request_cancel(CancelReason.WORKER_SHUTDOWN, _Details(worker_shutdown=True))

    async def wait_all_completed(self) -> None:
        """Wait until every started activity has finished and its outcome was sent."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))
        if self._grace_timer is not None:
            self._grace_timer.cancel()

    def _fail_worker(self, err: BaseException) -> None:
        if self._fatal_error is None:
            self._fatal_error = err
        if self._stop_event is not None:
            self._stop_event.set()

    def _process_shutdown_event(self) -> threading.Event:
        if self._process_shutdown is None:
            assert self._shared_state_manager is not None
            self._process_shutdown = self._shared_state_manager.new_event()
            if self._shutting_down:
                self._process_shutdown.set()
        return self._process_shutdown

    def _poll_request(self) -> PollActivityTaskQueueRequest:
        request = PollActivityTaskQueueRequest(
            namespace=self._namespace,
            task_queue=TaskQueue(name=self._task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            identity=self._identity,
            worker_instance_key=self._worker_instance_key,
            worker_version_capabilities=WorkerVersionCapabilities(build_id=self._build_id),
        )
        if self._max_task_queue_activities_per_second is not None:
            request.task_queue_metadata.CopyFrom(
                TaskQueueMetadata(
                    max_tasks_per_second=wrappers_pb2.DoubleValue(
                        value=self._max_task_queue_activities_per_second
                    )
                )
            )
        return request

    async def _until_stopped(self, work: Awaitable[_T]) -> tuple[bool, _T | None]:
        """Run `work` until it ends or the worker stops: (whether it ended, its result).

        On stop the work is cancelled (a poll RPC gets a gRPC CANCEL), unless it
        already finished: then its result still counts, so no polled task is dropped.
        """
        assert self._stop_event is not None
        task = asyncio.ensure_future(work)
        stop = asyncio.create_task(self._stop_event.wait())
        try:
            await asyncio.wait([task, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():
                task.cancel()
                await asyncio.wait([task])
        if task.cancelled():
            return False, None
        return True, task.result()

    async def _poll_loop(self) -> None:
        backoff = self._poll_failures.backoff("Activity task")
        while not self._shutting_down:
            acquired, _ = await self._until_stopped(self._slots.acquire())
            if not acquired:
                return
            handed_over = False
            try:
                if self._shutting_down:
                    return
                await self._rate_limiter.wait()
                try:
                    polled, task = await self._until_stopped(
                        self._service.poll_activity_task_queue(
                            self._poll_request(), timeout=_POLL_TIMEOUT
                        )
                    )
                except RPCError as err:
                    if err.status not in _RETRYABLE_POLL_CODES:
                        self._fail_worker(err)
                        return
                    await backoff.after_failure(err)
                    continue
                if not polled or task is None:
                    return
                backoff.after_success()
                if not task.task_token:
                    continue  # the server's long poll expired empty
                handed_over = True
                self._start(task, self._slots)
            except Exception as err:
                self._fail_worker(err)
                return
            finally:
                if not handed_over:
                    self._slots.release()

    # ------------------------------------------------------------------ eager (ActivityHooks)

    def try_reserve_eager_slot(self, task_queue: str) -> bool:
        """Reserve a slot for an eager activity on `task_queue` (same queue, slot free)."""
        if self._shutting_down or self._no_remote_activities or task_queue != self._task_queue:
            return False
        return self._slots.try_acquire()

    def release_eager_slot(self) -> None:
        """Give back a reserved slot that the server did not fill."""
        self._slots.release()

    def handle_eager_task(self, task: PollActivityTaskQueueResponse) -> None:
        """Run an activity task returned by RespondWorkflowTaskCompleted (slot reserved)."""
        self._start(task, self._slots)

    # ------------------------------------------------------------------ running

    def _start(self, task: PollActivityTaskQueueResponse, slots: SlotPool) -> None:
        running = RunningActivity(task=task)
        self._running[task.task_token] = running
        # A fresh context: a task handed over by the workflow worker must not carry
        # workflow context variables into activity code.
        handler = asyncio.create_task(self._run_remote(running, slots), context=Context())
        self._tasks.add(handler)
        handler.add_done_callback(self._tasks.discard)

    async def _run_remote(self, running: RunningActivity, slots: SlotPool) -> None:
        try:
            self._arm_local_timeout(running)
            if self._grace_expired:
                running.request_cancel(CancelReason.WORKER_SHUTDOWN, _Details(worker_shutdown=True))
            started = time.monotonic()
            response = await execute_task(self._env, running)
            if self.metrics is not None:
                task = running.task
                self.metrics.activity_started(
                    task.current_attempt_scheduled_time, task.started_time
                )
                self.metrics.activity_done(
                    task.activity_type.name,
                    task.workflow_type.name,
                    time.monotonic() - started,
                    failed=isinstance(response, RespondActivityTaskFailedRequest),
                )
            await self._finish_heartbeats(
                running, flush=not isinstance(response, RespondActivityTaskCompletedRequest)
            )
            if response is None or running.known_not_found:
                return
            await self._respond(running, response)
            if isinstance(response, RespondActivityTaskFailedRequest):
                self._check_broken_executor(running)
        except Exception:
            perdure.activity.logger.exception("Failed completing activity task")
        finally:
            if running.timeout_handle is not None:
                running.timeout_handle.cancel()
            self._running.pop(running.task_token, None)
            slots.release()

    def _check_broken_executor(self, running: RunningActivity) -> None:
        task = running.exec_task
        if task is not None and task.done() and not task.cancelled():
            err = task.exception()
            if isinstance(err, concurrent.futures.BrokenExecutor):
                self._fail_worker(err)

    def _arm_local_timeout(self, running: RunningActivity) -> None:
        """Cancel locally if a server deadline passed (plus a buffer) unnoticed.

        Start-to-close and schedule-to-close are fixed at start; the heartbeat timeout
        restarts with every heartbeat the server accepted.
        """
        task = running.task
        now = time.monotonic()
        if running.close_deadline is None:
            deadlines: list[float] = []
            start_to_close = _seconds(task, "start_to_close_timeout")
            if start_to_close:
                deadlines.append(now + start_to_close)
            schedule_to_close = _seconds(task, "schedule_to_close_timeout")
            if schedule_to_close and task.HasField("scheduled_time"):
                elapsed = max(0.0, time.time() - task.scheduled_time.ToNanoseconds() / 1e9)
                deadlines.append(now + max(0.0, schedule_to_close - elapsed))
            running.close_deadline = min(deadlines) if deadlines else float("inf")
        deadline = running.close_deadline
        heartbeat = _seconds(task, "heartbeat_timeout")
        if heartbeat:
            deadline = min(deadline, now + heartbeat)
        if deadline == float("inf"):
            return
        if running.timeout_handle is not None:
            running.timeout_handle.cancel()
        running.timeout_handle = asyncio.get_running_loop().call_later(
            deadline - now + _LOCAL_TIMEOUT_BUFFER, self._local_timeout, running
        )

    def _local_timeout(self, running: RunningActivity) -> None:
        running.request_cancel(
            CancelReason.TIMED_OUT, _Details(timed_out=True), consider_not_found=True
        )

    async def _respond(self, running: RunningActivity, response: ActivityResponse) -> None:
        logger.debug("Completing activity %s with %s", running.task.activity_id, type(response))
        try:
            if isinstance(response, RespondActivityTaskCompletedRequest):
                await self._service.respond_activity_task_completed(response, retry=True)
            elif isinstance(response, RespondActivityTaskFailedRequest):
                await self._service.respond_activity_task_failed(response, retry=True)
            else:
                await self._service.respond_activity_task_canceled(response, retry=True)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            perdure.activity.logger.warning(
                "Activity not found on completion. This may happen if the activity has "
                "already been cancelled but completed anyway: %s",
                err,
            )

    # ------------------------------------------------------------------ local activities

    async def execute_local_activity(self, task: PollActivityTaskQueueResponse) -> ActivityResponse:
        """Run one local activity attempt; return its outcome instead of sending it.

        Cancelling the calling task cancels the activity (as a cancellation request);
        the call then still returns the outcome, usually a Canceled response.
        """
        await self._local_slots.acquire()
        running = RunningActivity(task=task, is_local=True)
        inner = asyncio.create_task(execute_task(self._env, running), context=Context())
        self._tasks.add(inner)
        inner.add_done_callback(self._tasks.discard)
        try:
            while True:
                try:
                    response = await asyncio.shield(inner)
                    break
                except asyncio.CancelledError:
                    if inner.done():
                        raise
                    current = asyncio.current_task()
                    if current is not None:
                        current.uncancel()
                    running.request_cancel(CancelReason.CANCELLED, _Details(cancel_requested=True))
        finally:
            self._local_slots.release()
        if response is None:
            return _failed(
                self._env,
                running,
                Failure(
                    message="Local activities cannot be completed asynchronously",
                    application_failure_info=ApplicationFailureInfo(non_retryable=True),
                ),
            )
        return response

    # ------------------------------------------------------------------ heartbeats

    def _heartbeat(self, running: RunningActivity, details: Sequence[Any]) -> None:
        """Called (on the loop) by activity.heartbeat: encode, then hand to the throttler."""
        if running.done or running.is_local:
            return
        running.pending_heartbeat = details
        if running.encode_task is None:
            running.encode_task = asyncio.create_task(self._encode_heartbeats(running))

    async def _encode_heartbeats(self, running: RunningActivity) -> None:
        try:
            converter = self._env.data_converter
            while running.pending_heartbeat is not None:
                details, running.pending_heartbeat = running.pending_heartbeat, None
                try:
                    payloads = await converter.encode(list(details)) if details else []
                except Exception as err:
                    perdure.activity.logger.warning(
                        "Cancelling activity because failed recording heartbeat", exc_info=True
                    )
                    running.cancel(cancelled_due_to_heartbeat_error=err)
                    return
                if running.throttler is None:
                    running.throttler = HeartbeatThrottler(
                        lambda p: self._send_heartbeat(running, p),
                        throttle_interval(
                            running.info.heartbeat_timeout if running.info else None,
                            default_interval=self._default_heartbeat_throttle_interval,
                            max_interval=self._max_heartbeat_throttle_interval,
                        ),
                    )
                running.throttler.record(payloads)
        finally:
            running.encode_task = None

    async def _finish_heartbeats(self, running: RunningActivity, *, flush: bool) -> None:
        if running.encode_task is not None:
            await asyncio.wait([running.encode_task])
        if running.throttler is not None:
            await running.throttler.close(flush=flush and not running.known_not_found)

    async def _send_heartbeat(self, running: RunningActivity, payloads: Sequence[Any]) -> None:
        request = RecordActivityTaskHeartbeatRequest(
            task_token=running.task_token, identity=self._identity, namespace=self._namespace
        )
        if payloads:
            request.details.payloads.extend(payloads)
        try:
            response = await self._service.record_activity_task_heartbeat(request)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                logger.debug("Activity not found when recording heartbeat")
                running.request_cancel(CancelReason.NOT_FOUND, _Details(not_found=True))
            else:
                logger.warning("Error when recording heartbeat: %s", err)
            return
        except Exception:
            logger.warning("Error when recording heartbeat", exc_info=True)
            return
        if running.timeout_handle is not None and not running.done:
            self._arm_local_timeout(running)  # the server's heartbeat timeout restarted
        if response.cancel_requested or response.activity_paused or response.activity_reset:
            if response.cancel_requested:
                reason = CancelReason.CANCELLED
            elif response.activity_reset:
                reason = CancelReason.RESET
            else:
                reason = CancelReason.PAUSED
            running.request_cancel(
                reason,
                _Details(
                    cancel_requested=response.cancel_requested,
                    paused=response.activity_paused,
                    reset=response.activity_reset,
                ),
            )


def _seconds(
    task: PollActivityTaskQueueResponse,
    field: Literal["start_to_close_timeout", "schedule_to_close_timeout", "heartbeat_timeout"],
) -> float:
    """A timeout of the task in seconds; 0 when unset."""
    if not task.HasField(field):
        return 0.0
    return float(getattr(task, field).ToTimedelta().total_seconds())


def _register(
    activities: Sequence[Callable[..., Any]],
    executor: concurrent.futures.Executor | None,
    shared_state_manager: SharedStateManager | None,
) -> tuple[dict[str, perdure.activity._Definition], perdure.activity._Definition | None]:
    """Validate activities as temporalio does; returns (by name, dynamic)."""
    named: dict[str, perdure.activity._Definition] = {}
    dynamic: perdure.activity._Definition | None = None
    for activity in activities:
        defn = perdure.activity._Definition.must_from_callable(activity)
        if defn.name in named:
            raise ValueError(f"More than one activity named {defn.name}")
        if inspect.isclass(activity):
            raise TypeError(f"Activity named {defn.name} is a class instead of an instance")
        if inspect.isfunction(activity):
            params = list(inspect.signature(activity).parameters)
            if params and params[0] == "self":
                warnings.warn(
                    f"Activity named {defn.name} has a first parameter named self but is not "
                    "bound to an instance, did you mean to register it from an instance of "
                    "the class?",
                    stacklevel=4,
                )
        if not defn.is_async:
            if executor is None:
                raise ValueError(
                    f"Activity {defn.name} is not async so an activity_executor must be present"
                )
            if (
                not isinstance(executor, concurrent.futures.ThreadPoolExecutor)
                and shared_state_manager is None
            ):
                raise ValueError(
                    f"Activity {defn.name} is not async and executor is not thread-pool "
                    "executor, so a shared_state_manager must be present"
                )
            if isinstance(executor, concurrent.futures.ProcessPoolExecutor):
                try:
                    pickle.dumps(activity)
                except Exception as err:
                    raise TypeError(
                        f"Activity {defn.name} must be picklable when using a process executor"
                    ) from err
        if defn.name:
            named[defn.name] = defn
        elif dynamic is not None:
            raise TypeError("More than one dynamic activity")
        else:
            dynamic = defn
    return named, dynamic
