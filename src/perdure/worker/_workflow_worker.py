"""The workflow worker: polls workflow tasks, drives workflow runs, answers the server.

Interface used by ``perdure.worker.Worker`` (owned by the activity/worker team)::

    worker = WorkflowWorker(
        service=service,                        # perdure.service.WorkflowService
        namespace="default",
        task_queue="my-queue",
        workflows=[MyWorkflow],                 # classes decorated with @workflow.defn
        data_converter=data_converter,          # perdure.converter.DataConverter
        interceptors=[...],                     # perdure.worker.Interceptor instances
        identity="1234@host",
        build_id="...",                         # optional; auto-generated when None
        max_concurrent_workflow_tasks=100,
        max_cached_workflows=1000,
        max_concurrent_workflow_task_polls=5,   # 1 normal poller + 4 sticky pollers
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=10),
        disable_eager_activity_execution=False,
        debug_mode=False,                       # no deadlock detection when True
        workflow_failure_exception_types=[...], # exception types that fail the workflow
        activities=[...],                       # @activity.defn callables, for local activities
        activity_hooks=activity_worker,         # ActivityHooks (below), or None
    )
    run_task = asyncio.create_task(worker.run())   # polls until shutdown, then returns
    worker.notify_shutdown()                       # stop polling; in-flight tasks finish
    await run_task

Eager workflow start (``perdure.client.EagerWorkflowStarter``): ``try_reserve_eager_workflow_slot
(task_queue)``, ``handle_eager_workflow_task(task)`` (the ``eager_workflow_task`` of a
StartWorkflowExecutionResponse, processed like a polled task) and
``release_eager_workflow_slot()``. ``sticky_task_queue`` names the sticky queue
("<identity>-<uuid hex>", "" when caching is off) for ShutdownWorker.

``ActivityHooks`` is what the activity worker offers the workflow worker:

* ``try_reserve_eager_slot(task_queue) -> bool``: may a ScheduleActivityTask command ask for
  eager execution (same task queue, a free slot)? A True answer reserves a slot.
* ``release_eager_slot() -> None``: a reserved slot went unused (the server sent no task).
* ``handle_eager_task(task: PollActivityTaskQueueResponse) -> None``: run an activity task
  that came back in ``RespondWorkflowTaskCompletedResponse.activity_tasks`` (uses a slot).
* ``async execute_local_activity(task: PollActivityTaskQueueResponse)`` returns the
  ``RespondActivityTaskCompletedRequest | RespondActivityTaskFailedRequest |
  RespondActivityTaskCanceledRequest`` the activity worker would have sent, without sending it.
  The workflow worker builds the task (activity_id, activity_type, input, header, attempt,
  scheduled/started times, timeouts, workflow identity), enforces timeouts and retries, and
  cancels the awaiting asyncio task to cancel the activity.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Protocol

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import CommandType, EventType, QueryResultType, TaskQueueKind
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.query.v1 import WorkflowQueryResult
from temporalio.api.sdk.v1 import WorkflowTaskCompletedMetadata
from temporalio.api.taskqueue.v1 import StickyExecutionAttributes, TaskQueue
from temporalio.api.workflowservice.v1 import (
    GetWorkflowExecutionHistoryRequest,
    PollActivityTaskQueueResponse,
    PollWorkflowTaskQueueRequest,
    PollWorkflowTaskQueueResponse,
    RespondActivityTaskCanceledRequest,
    RespondActivityTaskCompletedRequest,
    RespondActivityTaskFailedRequest,
    RespondQueryTaskCompletedRequest,
    RespondWorkflowTaskCompletedRequest,
    RespondWorkflowTaskCompletedResponse,
    RespondWorkflowTaskFailedRequest,
)

import perdure
import perdure.common
import perdure.converter
from perdure.service import RPCError, RPCStatusCode, WorkflowService
from perdure.worker._interceptor import Interceptor
from perdure.worker._metrics import WorkerMetrics
from perdure.worker._poll_failures import PollFailures
from perdure.worker._slots import SlotPool
from perdure.worker._workflow import _codec, _guard
from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._instance import WorkflowInstance
from perdure.worker._workflow._run import (
    NON_DETERMINISTIC,
    UNHANDLED,
    RunConfig,
    TaskFailure,
    WorkflowRun,
)
from perdure.workflow import NondeterminismError
from perdure.workflow._unsafe import guard_suspended

logger = logging.getLogger(__name__)

SDK_NAME = "perdure-python"
_POLL_TIMEOUT = timedelta(seconds=70)
_HEARTBEAT_FRACTION = 0.8

LocalActivityResponse = (
    RespondActivityTaskCompletedRequest
    | RespondActivityTaskFailedRequest
    | RespondActivityTaskCanceledRequest
)
"""What an executed local activity produced, as the activity worker would report it."""


class ActivityHooks(Protocol):
    """The activity worker's side of eager and local activity execution."""

    def try_reserve_eager_slot(self, task_queue: str) -> bool:
        """Reserve a slot for an eager activity on ``task_queue``; False means don't ask."""
        ...

    def release_eager_slot(self) -> None:
        """Give back a reserved slot the server did not fill with an eager task."""
        ...

    def handle_eager_task(self, task: PollActivityTaskQueueResponse) -> None:
        """Run an activity task returned eagerly by RespondWorkflowTaskCompleted."""
        ...

    async def execute_local_activity(
        self, task: PollActivityTaskQueueResponse
    ) -> LocalActivityResponse:
        """Run one local activity attempt and return its outcome instead of sending it."""
        ...


class WorkflowWorker:
    """Polls workflow tasks of one task queue and runs them on cached workflow runs."""

    def __init__(
        self,
        *,
        service: WorkflowService,
        namespace: str,
        task_queue: str,
        workflows: Sequence[type],
        data_converter: perdure.converter.DataConverter,
        interceptors: Sequence[Interceptor] = (),
        identity: str,
        build_id: str | None = None,
        max_concurrent_workflow_tasks: int = 100,
        max_cached_workflows: int = 1000,
        max_concurrent_workflow_task_polls: int = 5,
        sticky_queue_schedule_to_start_timeout: timedelta = timedelta(seconds=10),
        disable_eager_activity_execution: bool = False,
        debug_mode: bool = False,
        workflow_failure_exception_types: Sequence[type[BaseException]] = (),
        activities: Sequence[Callable[..., Any]] = (),
        activity_hooks: ActivityHooks | None = None,
        poll_failures: PollFailures | None = None,
        worker_instance_key: str = "",
        metrics: WorkerMetrics | None = None,
    ) -> None:
        """Configure the worker; nothing runs until :py:meth:`run`.

        ``poll_failures`` is shared with the worker's other pollers (one warning per outage).
        ``metrics``: the worker's metrics (worker/_metrics.py), when the runtime records them.
        """
        definitions, dynamic = RunConfig.collect(workflows)
        extern: dict[str, Callable[..., Any]] = {}
        self._config = RunConfig(
            namespace=namespace,
            task_queue=task_queue,
            definitions=definitions,
            dynamic=dynamic,
            payload_converter=data_converter.payload_converter,
            failure_converter=data_converter.failure_converter,
            interceptor_classes=WorkflowInstance.interceptor_classes(interceptors, extern),
            failure_exception_types=tuple(workflow_failure_exception_types),
            execute_local_activity=(
                activity_hooks.execute_local_activity if activity_hooks is not None else None
            ),
            extern_functions=extern,
            debug_mode=debug_mode,
            metric_meter=metrics.meter if metrics is not None else perdure.common.MetricMeter.noop,
        )
        self._metrics = metrics
        self._service = service
        self._namespace = namespace
        self._task_queue = task_queue
        self._identity = identity
        self._poll_failures = poll_failures or PollFailures(task_queue)
        self._build_id = build_id or uuid.uuid4().hex
        self._codec = data_converter.payload_codec
        self._max_cached = max_cached_workflows
        self._sticky_timeout = sticky_queue_schedule_to_start_timeout
        self._eager_activities = not disable_eager_activity_execution and activity_hooks is not None
        self._hooks = activity_hooks
        self._debug_mode = debug_mode
        self._polls = max(1, max_concurrent_workflow_task_polls)
        self._slots = SlotPool(
            max(1, max_concurrent_workflow_tasks),
            on_change=metrics.slot_gauges("WorkflowWorker") if metrics is not None else None,
        )
        self._runs: OrderedDict[str, WorkflowRun] = OrderedDict()
        self._locks: dict[str, list[Any]] = {}  # run id -> [lock, tasks using it]
        self._handlers: set[asyncio.Task[None]] = set()
        self._pollers: list[asyncio.Task[None]] = []
        self._shutdown = asyncio.Event()
        self._worker_instance_key = worker_instance_key or str(uuid.uuid4())
        """Sent with every poll, and by the Worker's ShutdownWorker, which then ends them."""
        self.sticky_task_queue = (
            f"{identity}-{uuid.uuid4().hex}" if max_cached_workflows > 0 else ""
        )
        _guard.install()

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Poll until :py:meth:`notify_shutdown`, then finish in-flight tasks and evict."""
        sticky = self._polls - 1 if self.sticky_task_queue and self._polls > 1 else 0
        self._pollers = [asyncio.create_task(self._poll_loop(False))]
        self._pollers += [asyncio.create_task(self._poll_loop(True)) for _ in range(sticky)]
        try:
            await self._shutdown.wait()
        finally:
            for poller in self._pollers:
                poller.cancel()
            await asyncio.gather(*self._pollers, return_exceptions=True)
            if self._handlers:
                await asyncio.gather(*self._handlers, return_exceptions=True)
            for run_id in list(self._runs):
                self._evict(run_id, "worker shutdown")

    def notify_shutdown(self) -> None:
        """Stop polling; tasks being processed still complete."""
        self._shutdown.set()

    # ------------------------------------------------------------------ eager workflow start

    def try_reserve_eager_workflow_slot(self, task_queue: str) -> bool:
        """Reserve a slot for a workflow task returned by an eager start."""
        if task_queue != self._task_queue or self._shutdown.is_set():
            return False
        return self._slots.try_acquire()

    def release_eager_workflow_slot(self) -> None:
        """The eager start returned no task: give the slot back."""
        self._slots.release()

    def handle_eager_workflow_task(self, task: PollWorkflowTaskQueueResponse) -> None:
        """Process the first workflow task an eager start returned (uses the reserved slot)."""
        self._spawn(task)

    # ------------------------------------------------------------------ polling

    def _poll_request(self, sticky: bool) -> PollWorkflowTaskQueueRequest:
        request = PollWorkflowTaskQueueRequest(
            namespace=self._namespace,
            identity=self._identity,
            worker_instance_key=self._worker_instance_key,
        )
        if sticky:
            request.task_queue.name = self.sticky_task_queue
            request.task_queue.kind = TaskQueueKind.TASK_QUEUE_KIND_STICKY
            request.task_queue.normal_name = self._task_queue
        else:
            request.task_queue.name = self._task_queue
            request.task_queue.kind = TaskQueueKind.TASK_QUEUE_KIND_NORMAL
        request.worker_version_capabilities.build_id = self._build_id
        return request

    async def _poll_loop(self, sticky: bool) -> None:
        request = self._poll_request(sticky)
        backoff = self._poll_failures.backoff("Workflow task")
        while not self._shutdown.is_set():
            await self._slots.acquire()
            try:
                task = await self._service.poll_workflow_task_queue(request, timeout=_POLL_TIMEOUT)
            except asyncio.CancelledError:
                self._slots.release()
                raise
            except RPCError as err:
                self._slots.release()
                if err.status == RPCStatusCode.DEADLINE_EXCEEDED:
                    continue
                await backoff.after_failure(err)
                continue
            backoff.after_success()
            if not task.task_token:
                self._slots.release()
                continue
            self._spawn(task)

    def _spawn(self, task: PollWorkflowTaskQueueResponse) -> None:
        handler = asyncio.create_task(self._handle(task))
        self._handlers.add(handler)
        handler.add_done_callback(self._handlers.discard)

    # ------------------------------------------------------------------ tasks

    async def _handle(self, task: PollWorkflowTaskQueueResponse) -> None:
        run_id = task.workflow_execution.run_id
        entry = self._locks.get(run_id)
        if entry is None:
            entry = self._locks[run_id] = [asyncio.Lock(), 0]
        entry[1] += 1  # tasks of one run are processed one at a time, in arrival order
        try:
            async with entry[0]:
                if task.HasField("query"):
                    await self._handle_legacy_query(task)
                else:
                    await self._handle_workflow_task(task)
        except Exception:
            logger.exception("Failed handling workflow task of run %s", run_id)
            self._evict(run_id, "unexpected error")
        finally:
            self._slots.release()
            entry[1] -= 1
            if entry[1] == 0:
                self._locks.pop(run_id, None)

    async def _history_of(self, task: PollWorkflowTaskQueueResponse) -> list[HistoryEvent]:
        events = list(task.history.events)
        token = task.next_page_token
        while token:
            page = await self._service.get_workflow_execution_history(
                GetWorkflowExecutionHistoryRequest(
                    namespace=self._namespace,
                    execution=task.workflow_execution,
                    next_page_token=token,
                ),
                retry=True,
            )
            events.extend(page.history.events)
            token = page.next_page_token
        return events

    async def _full_history(self, execution: WorkflowExecution) -> list[HistoryEvent]:
        events: list[HistoryEvent] = []
        token = b""
        while True:
            page = await self._service.get_workflow_execution_history(
                GetWorkflowExecutionHistoryRequest(
                    namespace=self._namespace, execution=execution, next_page_token=token
                ),
                retry=True,
            )
            events.extend(page.history.events)
            token = page.next_page_token
            if not token:
                return events

    async def _decode(
        self, events: list[HistoryEvent], task: PollWorkflowTaskQueueResponse
    ) -> None:
        if self._codec is not None:
            await _codec.transform(events, self._codec.decode)
            await _codec.transform_protocol(task.messages, self._codec.decode)
            await _codec.transform(task.queries.values(), self._codec.decode)
            if task.HasField("query"):
                await _codec.transform([task.query], self._codec.decode)

    async def _run_for(
        self, task: PollWorkflowTaskQueueResponse, events: list[HistoryEvent]
    ) -> tuple[WorkflowRun, list[HistoryEvent]]:
        """The cached run for this task, or a fresh one with the full history."""
        run_id = task.workflow_execution.run_id
        run = self._runs.get(run_id)
        first = events[0].event_id if events else 0
        if run is not None and (
            first > run.replay.last_processed_event_id + 1
            or task.previous_started_event_id != run.replay.last_started_event_id
        ):
            self._evict(run_id, "history does not continue the cached run")
            run = None
        if self._metrics is not None:
            self._metrics.cache_lookup(task.workflow_type.name, run is not None, len(self._runs))
        if run is None:
            if first != 1:
                events = await self._full_history(task.workflow_execution)
                if task.started_event_id:
                    events = [e for e in events if e.event_id <= task.started_event_id]
                await self._decode(events, task)
            run = WorkflowRun(
                self._config,
                workflow_id=task.workflow_execution.workflow_id,
                run_id=run_id,
                workflow_type=task.workflow_type.name,
            )
            self._cache(run)
        self._runs.move_to_end(run_id)
        run.last_used = time.monotonic()
        return run, events

    def _cache(self, run: WorkflowRun) -> None:
        self._runs[run.run_id] = run
        while len(self._runs) > max(self._max_cached, 1):
            oldest = next(iter(self._runs))
            if oldest == run.run_id:
                break
            self._evict(oldest, "cache full")

    def _evict(self, run_id: str, reason: str) -> None:
        run = self._runs.pop(run_id, None)
        if run is None:
            return
        logger.debug("Evicting workflow run %s: %s", run_id, reason)
        with guard_suspended():
            run.evict()

    async def _handle_workflow_task(self, task: PollWorkflowTaskQueueResponse) -> None:
        received = time.monotonic()
        if self._metrics is not None:
            self._metrics.workflow_task_polled(task.scheduled_time, task.started_time)
        events = await self._history_of(task)
        await self._decode(events, task)
        run, events = await self._run_for(task, events)
        while True:
            try:
                run.feed(
                    events,
                    previous_started_event_id=task.previous_started_event_id,
                    messages=task.messages,
                )
                run.advance()
                force = False
                if run.has_running_local_activities:
                    force = not await self._wait_local_activities(run, received)
                query_results = self._answer_queries(run, task)
            except NondeterminismError as err:
                await self._fail(task, run, err, NON_DETERMINISTIC)
                return
            except TaskFailure as err:
                await self._fail(task, run, err.error, err.cause)
                return
            except Exception as err:  # a runtime bug or corrupt history: fail, do not hang
                logger.exception("Workflow task of run %s could not be processed", run.run_id)
                await self._fail(task, run, err, UNHANDLED)
                return
            response = await self._complete(
                task, run, query_results, force=force, received=received
            )
            if response is None:
                return
            if not response.HasField("workflow_task"):
                if force:
                    self._evict(run.run_id, "no workflow task returned after a heartbeat")
                elif not self.sticky_task_queue:
                    self._evict(run.run_id, "caching disabled")
                return
            task = response.workflow_task
            received = time.monotonic()
            if self._metrics is not None:
                self._metrics.workflow_task_polled(task.scheduled_time, task.started_time)
            events = await self._history_of(task)
            await self._decode(events, task)

    async def _wait_local_activities(self, run: WorkflowRun, received: float) -> bool:
        """Wait for local activities until the heartbeat deadline; False means heartbeat."""
        info_timeout = 10.0
        if run.instance is not None:
            info_timeout = run.instance.info.task_timeout.total_seconds() or info_timeout
        deadline = received + info_timeout * _HEARTBEAT_FRACTION
        while run.has_running_local_activities:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await run.wait_local_activities(remaining):
                return False
            run.advance()
        return True

    def _answer_queries(
        self, run: WorkflowRun, task: PollWorkflowTaskQueueResponse
    ) -> dict[str, WorkflowQueryResult]:
        results: dict[str, WorkflowQueryResult] = {}
        for query_id, query in task.queries.items():
            result = run.query(
                query_id, query.query_type, query.query_args.payloads, query.header.fields
            )
            if result.failure is not None:
                results[query_id] = WorkflowQueryResult(
                    result_type=QueryResultType.QUERY_RESULT_TYPE_FAILED,
                    error_message=result.failure.message,
                    failure=result.failure,
                )
            else:
                answer = WorkflowQueryResult(result_type=QueryResultType.QUERY_RESULT_TYPE_ANSWERED)
                if result.answer is not None:
                    answer.answer.payloads.append(result.answer)
                results[query_id] = answer
        return results

    def _metadata(self, run: WorkflowRun) -> WorkflowTaskCompletedMetadata:
        metadata = run.replay.completion_metadata()
        if metadata.core_used_flags or metadata.lang_used_flags:
            metadata.sdk_name = SDK_NAME
            metadata.sdk_version = perdure.__version__
        return metadata

    async def _complete(
        self,
        task: PollWorkflowTaskQueueResponse,
        run: WorkflowRun,
        query_results: dict[str, WorkflowQueryResult],
        *,
        force: bool,
        received: float,
    ) -> RespondWorkflowTaskCompletedResponse | None:
        commands = run.replay.outgoing_commands()
        reserved = self._reserve_eager(commands)
        request = RespondWorkflowTaskCompletedRequest(
            task_token=task.task_token,
            commands=commands,
            identity=self._identity,
            return_new_workflow_task=True,
            force_create_new_workflow_task=force,
            query_results=query_results,
            namespace=self._namespace,
            messages=run.replay.take_messages(),
            sdk_metadata=self._metadata(run),
            worker_instance_key=self._worker_instance_key,
        )
        request.metering_metadata.SetInParent()
        request.worker_version_stamp.build_id = self._build_id
        request.capabilities.discard_speculative_workflow_task_with_events = True
        if self.sticky_task_queue:
            request.sticky_attributes.CopyFrom(
                StickyExecutionAttributes(
                    worker_task_queue=TaskQueue(
                        name=self.sticky_task_queue,
                        kind=TaskQueueKind.TASK_QUEUE_KIND_STICKY,
                        normal_name=self._task_queue,
                    )
                )
            )
            request.sticky_attributes.schedule_to_start_timeout.FromTimedelta(self._sticky_timeout)
        if run.instance is not None and run.instance.versioning_behavior:
            request.versioning_behavior = int(run.instance.versioning_behavior)  # type: ignore[assignment]
        if self._codec is not None:
            await _codec.transform(request.commands, self._codec.encode)
            await _codec.transform_protocol(request.messages, self._codec.encode)
            await _codec.transform(request.query_results.values(), self._codec.encode)
        try:
            response = await self._service.respond_workflow_task_completed(request, retry=True)
        except RPCError as err:
            self._release_eager(reserved)
            logger.warning("Completing workflow task of run %s failed: %s", run.run_id, err)
            self._evict(run.run_id, "task completion failed")
            return None
        self._dispatch_eager(response, reserved)
        if self._metrics is not None:
            self._metrics.workflow_task_done(
                run.workflow_type,
                time.monotonic() - received,
                [c.command_type for c in commands],
                failed=False,
            )
        if response.reset_history_event_id:
            run.replay.reset_to(response.reset_history_event_id)
        if run.replay.have_seen_terminal_event or any(
            c.command_type in _TERMINAL_TYPES for c in commands
        ):
            self._evict(run.run_id, "workflow completed")
        return response

    def _reserve_eager(self, commands: Sequence[Any]) -> int:
        """Ask for eager execution of every activity on this worker's queue that has a free
        slot (temporalio stops at 3 per task): a fan-out then rides on the completion's
        response instead of one poll and one start commit per activity."""
        reserved = 0
        for command in commands:
            attrs = command.schedule_activity_task_command_attributes
            if not command.HasField("schedule_activity_task_command_attributes"):
                continue
            if not attrs.request_eager_execution:
                continue
            if (
                self._eager_activities
                and self._hooks is not None
                and attrs.task_queue.name == self._task_queue
                and self._hooks.try_reserve_eager_slot(attrs.task_queue.name)
            ):
                reserved += 1
            else:
                attrs.request_eager_execution = False
        return reserved

    def _release_eager(self, reserved: int) -> None:
        if self._hooks is not None:
            for _ in range(reserved):
                self._hooks.release_eager_slot()

    def _dispatch_eager(
        self, response: RespondWorkflowTaskCompletedResponse, reserved: int
    ) -> None:
        if self._hooks is None:
            return
        for activity_task in response.activity_tasks:
            self._hooks.handle_eager_task(activity_task)
        self._release_eager(max(0, reserved - len(response.activity_tasks)))

    async def _fail(
        self,
        task: PollWorkflowTaskQueueResponse,
        run: WorkflowRun,
        error: BaseException,
        cause: int,
    ) -> None:
        logger.warning(
            "Failing workflow task of %s (workflow_id=%s, run_id=%s): %s",
            run.workflow_type,
            run.workflow_id,
            run.run_id,
            error,
        )
        self._evict(run.run_id, "workflow task failed")
        if self._metrics is not None:
            self._metrics.workflow_task_done(run.workflow_type, 0.0, [], failed=True)
        if task.attempt > 1:
            return  # as the official SDK: later attempts time out instead (the retry backoff)
        request = RespondWorkflowTaskFailedRequest(
            task_token=task.task_token,
            cause=cause,  # type: ignore[arg-type]
            failure=self._failure(error),
            identity=self._identity,
            namespace=self._namespace,
        )
        request.worker_version.build_id = self._build_id
        if self._codec is not None:
            await _codec.transform([request.failure], self._codec.encode)
        try:
            await self._service.respond_workflow_task_failed(request, retry=True)
        except RPCError as err:
            logger.warning("Failing workflow task of run %s failed: %s", run.run_id, err)

    def _failure(self, error: BaseException) -> Failure:
        failure = Failure()
        try:
            self._config.failure_converter.to_failure(
                error, self._config.payload_converter, failure
            )
        except Exception as inner:
            failure = Failure(message=f"Failed converting activation exception: {inner}")
            failure.application_failure_info.SetInParent()
        return failure

    # ------------------------------------------------------------------ legacy queries

    async def _handle_legacy_query(self, task: PollWorkflowTaskQueueResponse) -> None:
        run_id = task.workflow_execution.run_id
        request = RespondQueryTaskCompletedRequest(
            task_token=task.task_token, namespace=self._namespace
        )
        try:
            run = self._runs.get(run_id)
            if run is None:
                events = await self._history_of(task)
                if not events:
                    events = await self._full_history(task.workflow_execution)
                await self._decode(events, task)
                run = WorkflowRun(
                    self._config,
                    workflow_id=task.workflow_execution.workflow_id,
                    run_id=run_id,
                    workflow_type=task.workflow_type.name,
                )
                last_started = max(
                    (e.event_id for e in events if e.event_type == _WFT_STARTED), default=0
                )
                run.feed(
                    events,
                    previous_started_event_id=max(task.previous_started_event_id, last_started),
                )
                run.advance()
                run.cancel_local_activities()
                if not run.replay.have_seen_terminal_event and self.sticky_task_queue:
                    self._cache(run)
            elif self._codec is not None:
                await _codec.transform([task.query], self._codec.decode)
            result = run.query(
                "legacy",
                task.query.query_type,
                task.query.query_args.payloads,
                task.query.header.fields,
            )
        except (NondeterminismError, TaskFailure) as err:
            error = err.error if isinstance(err, TaskFailure) else err
            result = jobs.QueryResult("legacy", failure=self._failure(error))
        if result.failure is not None:
            request.completed_type = QueryResultType.QUERY_RESULT_TYPE_FAILED
            request.error_message = result.failure.message
            request.failure.CopyFrom(result.failure)
        else:
            request.completed_type = QueryResultType.QUERY_RESULT_TYPE_ANSWERED
            if result.answer is not None:
                request.query_result.payloads.append(result.answer)
        if self._codec is not None:
            await _codec.transform([request], self._codec.encode)
        try:
            await self._service.respond_query_task_completed(request, retry=True)
        except RPCError as err:
            logger.warning("Answering query of run %s failed: %s", run_id, err)


_WFT_STARTED = int(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
_TERMINAL_TYPES = frozenset(
    int(t)
    for t in (
        CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
        CommandType.COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION,
        CommandType.COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION,
        CommandType.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION,
    )
)
