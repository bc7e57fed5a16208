"""A running workflow: the object, its deterministic loop, and one activation at a time.

``WorkflowInstance`` is what the workflow API talks to (``workflow._Runtime``); it wires
the run's collaborators at construction and delegates to them:

* ``RunMode`` (``_mode``): replaying, read-only, evicting; the activation's lang flags.
* ``CommandBuffer`` (``_command_buffer``): the activation's commands and sequence numbers.
* ``Timers`` and ``Conditions`` (``_waiting``): durable timers and wait conditions.
* ``WorkflowTasks`` (``_tasks``): the run's asyncio tasks.
* ``Conversion`` (``_conversion``): payloads, failures, failure exception types.
* ``HandlerRegistry`` (``_handler_registry``) and ``Handlers`` (``_handlers``): signal,
  query and update handlers, buffered signals, running handlers.
* ``OutboundCalls`` (``_outbound_calls``) and ``Outbound`` (``_outbound``): activities,
  children, external workflows, continue-as-new, on either side of the outbound
  interceptors; the handles (``_handles``) reach the run only through ``HandleHost``.
* ``WorkflowMain`` (``_main``): the workflow object, its run method, its cancellation.
* ``WorkflowOutcome`` (``_outcome``): how the main method and signal handlers end.
* ``Patches`` and ``SeededRandom`` (``_determinism``): patch decisions, workflow.random().
* ``WorkflowProperties`` (``_properties``): memo and search attributes.

``activate`` applies an activation's jobs (in temporalio's job-set order: patches, then
signals and updates, then everything else) and runs the loop until workflow code is
blocked; what it produced comes back as commands. Exceptions that are not workflow
failures are returned as the activation's failure: they fail the workflow task, which the
server retries, without touching history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from random import Random
from typing import Any, NoReturn

from temporalio.api.sdk.v1 import UserMetadata

import perdure.common
import perdure.converter
from perdure.worker._interceptor import (
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)
from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._builtin_queries import BuiltinQueries
from perdure.worker._workflow._command_buffer import CommandBuffer
from perdure.worker._workflow._conversion import Conversion
from perdure.worker._workflow._determinism import Patches, SeededRandom
from perdure.worker._workflow._handler_registry import HandlerRegistry
from perdure.worker._workflow._handlers import Handlers, RootInbound
from perdure.worker._workflow._loop import WorkflowEventLoop
from perdure.worker._workflow._main import WorkflowMain, execute_input
from perdure.worker._workflow._metrics import ReplaySafeMeter
from perdure.worker._workflow._mode import RunMode
from perdure.worker._workflow._outbound import Outbound, RootOutbound
from perdure.worker._workflow._outbound_calls import OutboundCalls
from perdure.worker._workflow._outcome import WorkflowOutcome
from perdure.worker._workflow._properties import WorkflowProperties
from perdure.worker._workflow._tasks import WorkflowTasks
from perdure.worker._workflow._waiting import Conditions, Timers, durable_sleep
from perdure.workflow import (
    ActivityHandle,
    ChildWorkflowHandle,
    ExternalWorkflowHandle,
    Info,
    _Definition,
    _Runtime,
)
from perdure.workflow._unsafe import guard_suspended

logger = logging.getLogger(__name__)


@dataclass
class InstanceDetails:
    """Everything a workflow instance needs, fixed for the life of the run."""

    defn: _Definition
    info: Info
    randomness_seed: int
    payload_converter: perdure.converter.PayloadConverter
    failure_converter: perdure.converter.FailureConverter
    start: jobs.InitializeWorkflow
    interceptor_classes: Sequence[type[WorkflowInboundInterceptor]] = ()
    worker_failure_exception_types: Sequence[type[BaseException]] = ()
    extern_functions: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    deadlock_timeout: float = 0.0
    metric_meter: perdure.common.MetricMeter = perdure.common.MetricMeter.noop
    """The worker's meter (namespace and task queue attached); silent during replay here."""


class WorkflowInstance(_Runtime):
    """One workflow run's code and state, advanced one activation at a time."""

    def __init__(self, details: InstanceDetails) -> None:
        """Build the run's collaborators and interceptor chains (the object comes later)."""
        info = self._info = details.info
        self._defn = details.defn
        self._start = details.start
        self._extern_functions = {
            name: _unguarded(fn) for name, fn in details.extern_functions.items()
        }
        self._random = SeededRandom(details.randomness_seed)
        self._history_length = 0
        self._history_size = 0
        self._continue_as_new_suggested = False
        self._current_details = ""
        self._metric_meter = details.metric_meter
        self._replay_safe_meter: perdure.common.MetricMeter | None = None

        self._mode = mode = RunMode()
        self._commands = commands = CommandBuffer(mode)
        self._patches = Patches(mode, commands)
        self._timers = Timers(mode, commands)
        self._tasks = tasks = WorkflowTasks(info, mode)
        self._loop = loop = WorkflowEventLoop(  # type: ignore[abstract]  # I/O methods refuse at runtime
            start_timer=self._timers.start,
            cancel_timer=self._timers.cancel,
            register_task=tasks.register,
            runtime=self,
            deadlock_timeout=details.deadlock_timeout,
            name=f"{info.workflow_type} (workflow_id={info.workflow_id}, run_id={info.run_id})",
        )
        self._conditions = Conditions(loop, mode)
        loop.check_conditions = self._conditions.check
        self._conversion = conversion = Conversion(
            details.payload_converter,
            details.failure_converter,
            info=info,
            failure_exception_types=details.defn.failure_exception_types,
            worker_failure_exception_types=details.worker_failure_exception_types,
        )
        self._properties = WorkflowProperties(info, conversion.payload_converter, commands)
        self._outcome = outcome = WorkflowOutcome(loop, mode, commands, conversion)
        builtins = BuiltinQueries(
            workflow_type=info.workflow_type,
            tasks=tasks.live,
            definitions=lambda: self._registry.definitions(),
            current_details=lambda: self._current_details,
        )
        self._registry = registry = HandlerRegistry(
            details.defn, lambda: self._main.object, builtins.definitions()
        )
        self._root_inbound = root = RootInbound(registry, lambda: self._main.object)
        self._outbound = Outbound(
            info=info,
            started=details.start.attributes,
            loop=loop,
            mode=mode,
            commands=commands,
            tasks=tasks,
            conversion=conversion,
            interceptor=root.outbound,
        )
        self._calls = OutboundCalls(mode, root.outbound, self._outbound)
        input = execute_input(details.defn, details.start, conversion)
        # Interceptors may call the workflow API when built (extern_functions(), info()):
        # build the chain with the run's loop current.
        inbound = loop.run_outside(lambda: _chain(root, details.interceptor_classes))
        self._main = WorkflowMain(
            defn=details.defn,
            input=input,
            inbound=inbound,
            loop=loop,
            mode=mode,
            conversion=conversion,
            outcome=outcome,
        )
        self._handlers = Handlers(
            info=info,
            registry=registry,
            inbound=inbound,
            loop=loop,
            mode=mode,
            commands=commands,
            conversion=conversion,
            outcome=outcome,
        )
        loop.run_outside(lambda: inbound.init(RootOutbound(self._outbound)))

    @staticmethod
    def interceptor_classes(
        interceptors: Sequence[Any], extern_functions: dict[str, Callable[..., Any]]
    ) -> list[type]:
        """The workflow inbound interceptor classes the worker's interceptors ask for."""
        classes = []
        for interceptor in interceptors:
            cls = interceptor.workflow_interceptor_class(
                WorkflowInterceptorClassInput(unsafe_extern_functions=extern_functions)
            )
            if cls is not None:
                classes.append(cls)
        return classes

    # ------------------------------------------------------------------ activation

    def activate(self, activation: jobs.Activation) -> jobs.ActivationCompletion:
        """Apply the jobs, run workflow code until it blocks, return what it asked for."""
        self._commands.start_activation()
        self._mode.start_activation(activation)
        self._loop.time_ns = activation.time_ns
        self._history_length = activation.history_length
        self._history_size = activation.history_size
        self._continue_as_new_suggested = activation.continue_as_new_suggested
        failure: BaseException | None = None
        try:
            sets: tuple[list[jobs.Job], ...] = ([], [], [], [])
            for job in activation.jobs:
                if isinstance(job, jobs.NotifyHasPatch):
                    sets[0].append(job)
                elif isinstance(job, jobs.SignalWorkflow | jobs.DoUpdate):
                    sets[1].append(job)
                elif isinstance(job, jobs.QueryWorkflow):
                    sets[3].append(job)
                else:
                    sets[2].append(job)
            only_updates = all(isinstance(j, jobs.DoUpdate) for j in activation.jobs)
            if self._mode.single_batch:
                for job_set in sets:
                    for job in job_set:
                        self._apply(job)
                self._run_once(bool(sets[1] or sets[2]), only_updates)
            else:
                for index, job_set in enumerate(sets):
                    if not job_set:
                        continue
                    for job in job_set:
                        self._apply(job)
                    self._run_once(index in (1, 2), only_updates)
        except Exception as err:
            if self._conversion.is_failure_exception(err):
                try:
                    self._outcome.fail(err)
                except Exception as inner:
                    failure = inner
            else:
                failure = err
        if self._mode.evicting:
            failure = None
        if failure is not None:
            with guard_suspended():
                logger.warning(
                    "Failed activation on workflow %s with ID %s and run ID %s",
                    self._info.workflow_type,
                    self._info.workflow_id,
                    self._info.run_id,
                    exc_info=failure,
                    extra={
                        "temporal_workflow": self._info._logger_details(),
                        "__temporal_error_identifier": "WorkflowTaskFailure",
                    },
                )
        if self._commands.has_terminal():
            with guard_suspended():
                self._registry.warn_unfinished()
        return jobs.ActivationCompletion(
            self._commands.commands,
            self._mode.used_lang_flags,
            failure,
            self._commands.markers,
        )

    def _run_once(self, check_conditions: bool, only_updates: bool) -> None:
        if not self._mode.evicting:
            self._main.ensure_object()
        checker: Callable[[], bool] | None = None
        if check_conditions:
            # Rejected updates leave no trace in history: conditions they let through
            # could not unblock on replay. With only updates, check once one was accepted.
            checker = self._check_conditions_if_accepted if only_updates else self._conditions.check
        self._loop.check_conditions = checker
        self._loop.run_once(check_conditions=checker is not None)

    def _check_conditions_if_accepted(self) -> bool:
        if self._commands.has_accepted_update():
            return self._conditions.check()
        return False

    def _apply(self, job: jobs.Job) -> None:
        if isinstance(job, jobs.FireTimer):
            handle = self._timers.fired(job)
            if handle is not None:
                self._loop.make_ready(handle)
        elif self._outbound.resolve(job):
            pass
        elif isinstance(job, jobs.SignalWorkflow):
            self._handlers.apply_signal(job)
        elif isinstance(job, jobs.DoUpdate):
            self._handlers.apply_update(job)
        elif isinstance(job, jobs.NotifyHasPatch):
            self._patches.notify(job)
        elif isinstance(job, jobs.InitializeWorkflow):
            self._main.start()
        elif isinstance(job, jobs.UpdateRandomSeed):
            self._random.reseed(job)
        elif isinstance(job, jobs.CancelWorkflow):
            self._mode.cancel_reason = job.reason
            self._main.cancel()
        else:
            raise RuntimeError(f"Unexpected job {type(job).__name__}")

    # ------------------------------------------------------------------ queries and eviction

    def query(self, job: jobs.QueryWorkflow) -> jobs.QueryResult:
        """Answer a query with the workflow's current state (no commands allowed)."""
        result: list[Any] = []

        async def run() -> None:
            with self._mode.read_only_section():
                result.append(await self._handlers.run_query(job))

        try:
            self._main.ensure_object()
            task = self._loop.create_task(run(), name=f"query: {job.query_type}")
            self._loop.check_conditions = None
            self._mode.read_only = True
            try:
                self._loop.run_once(check_conditions=False)
            finally:
                self._mode.read_only = False
            if not task.done():
                task.cancel()
                raise RuntimeError(f"Query {job.query_type} did not complete in one step")
            task.result()
            payloads = self._conversion.payload_converter.to_payloads([result[0]])
            return jobs.QueryResult(job.query_id, answer=payloads[0])
        except Exception as err:
            return jobs.QueryResult(job.query_id, failure=self._conversion.to_failure(err))

    def evict(self) -> None:
        """Cancel every task so workflow code unwinds; the run is being dropped."""
        self._mode.start_eviction()
        self._loop.deleting = True
        tasks = self._tasks.cancel_all()
        try:
            self._loop.run_once(check_conditions=False)
        except BaseException:
            logger.debug("Ignoring exception while evicting workflow", exc_info=True)
        for task in tasks:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: no "never retrieved" noise on collection

    @property
    def versioning_behavior(self) -> perdure.common.VersioningBehavior | None:
        """The versioning behavior to report with completions."""
        return self._main.versioning_behavior

    @property
    def info(self) -> Info:
        """The run's Info (as the worker sees it, not through interceptors)."""
        return self._info

    # ------------------------------------------------------------------ workflow API: the run

    def workflow_info(self) -> Info:
        """The run's Info (through the outbound interceptors)."""
        return self._root_inbound.outbound().info()

    def workflow_instance(self) -> Any:
        """The workflow object."""
        return self._main.object

    def workflow_is_replaying(self) -> bool:
        """Replaying history (or answering a query)."""
        return self._mode.replaying

    def workflow_is_replaying_history_events(self) -> bool:
        """Replaying history events (queries and validators excluded)."""
        return self._mode.replaying and not self._mode.read_only

    def workflow_is_read_only(self) -> bool:
        """Inside a query or update validator."""
        return self._mode.read_only

    def workflow_time_ns(self) -> int:
        """Workflow time."""
        return self._loop.time_ns

    def workflow_random(self) -> Random:
        """The deterministic random generator."""
        self._mode.check_writable("random")
        return self._random.random

    def workflow_random_seed(self) -> int:
        """The seed of the random generator."""
        return self._random.seed

    def workflow_register_random_seed_callback(self, callback: Callable[[int], None]) -> None:
        """Call ``callback`` with the new seed when a reset changes it."""
        self._mode.check_writable("register random seed callback")
        self._random.on_reseed(callback)

    def workflow_extern_functions(self) -> Mapping[str, Callable[..., Any]]:
        """Functions interceptors exposed to workflow code."""
        return self._extern_functions

    def workflow_payload_converter(self) -> perdure.converter.PayloadConverter:
        """The payload converter for this workflow."""
        return self._conversion.payload_converter

    def workflow_metric_meter(self) -> perdure.common.MetricMeter:
        """The worker's meter with the workflow type attached; records nothing on replay."""
        if self._replay_safe_meter is None:
            if self._metric_meter is perdure.common.MetricMeter.noop:
                self._replay_safe_meter = self._metric_meter
            else:
                meter = self._metric_meter.with_additional_attributes(
                    {"workflow_type": self._info.workflow_type}
                )
                mode = self._mode
                self._replay_safe_meter = ReplaySafeMeter(meter, lambda: mode.replaying)
        return self._replay_safe_meter

    def workflow_cancellation_reason(self) -> str | None:
        """Why cancellation was requested."""
        return self._mode.cancel_reason

    def workflow_get_current_build_id(self) -> str:
        """Build id of the current task (unversioned workers report "")."""
        return ""

    def workflow_get_current_history_length(self) -> int:
        """Events in history so far."""
        return self._history_length

    def workflow_get_current_history_size(self) -> int:
        """Bytes of history so far."""
        return self._history_size

    def workflow_is_continue_as_new_suggested(self) -> bool:
        """The server suggests continuing as new."""
        return self._continue_as_new_suggested

    def workflow_get_current_details(self) -> str:
        """The details string."""
        return self._current_details

    def workflow_set_current_details(self, details: str) -> None:
        """Set the details string."""
        self._mode.check_writable("set current details")
        self._current_details = details

    def workflow_is_failure_exception(self, err: BaseException) -> bool:
        """Failure errors, timeouts and configured types fail the workflow, not the task."""
        return self._conversion.is_failure_exception(err)

    def workflow_has_last_completion_result(self) -> bool:
        """A previous run left a result."""
        return len(self._start.attributes.last_completion_result.payloads) > 0

    def workflow_last_completion_result(self, type_hint: type | None) -> Any | None:
        """The previous run's result."""
        payloads = self._start.attributes.last_completion_result.payloads
        if len(payloads) != 1:
            return None
        return self._conversion.payload_converter.from_payload(payloads[0], type_hint)  # type: ignore[arg-type]

    def workflow_last_failure(self) -> BaseException | None:
        """The previous attempt's failure."""
        if self._start.attributes.HasField("continued_failure"):
            return self._conversion.from_failure(self._start.attributes.continued_failure)
        return None

    def workflow_memo(self) -> Mapping[str, Any]:
        """The memo, decoded once."""
        return self._properties.memo()

    def workflow_memo_value(self, key: str, default: Any, *, type_hint: type | None) -> Any:
        """One memo value."""
        return self._properties.memo_value(key, default, type_hint=type_hint)

    def workflow_upsert_memo(self, updates: Mapping[str, Any]) -> None:
        """ModifyWorkflowProperties with the changed keys (None removes a key)."""
        self._properties.upsert_memo(updates)

    def workflow_upsert_search_attributes(
        self,
        attributes: perdure.common.SearchAttributes
        | Sequence[perdure.common.SearchAttributeUpdate[Any]],
    ) -> None:
        """UpsertWorkflowSearchAttributes, and keep Info's two views up to date."""
        self._properties.upsert_search_attributes(attributes)

    def workflow_patch(self, id: str, *, deprecated: bool) -> bool:
        """patched()/deprecate_patch(): memoized; recorded when taking the new branch."""
        return self._patches.patched(id, deprecated=deprecated)

    async def workflow_sleep(self, duration: float, *, summary: str | None) -> None:
        """A durable timer of ``duration`` seconds."""
        await durable_sleep(self._loop, duration, self._summary(summary))

    async def workflow_wait_condition(
        self, fn: Callable[[], bool], *, timeout: float | None, timeout_summary: str | None
    ) -> None:
        """Wait for ``fn()``; conditions are re-checked whenever workflow code is idle."""
        await self._conditions.wait(fn, timeout, self._summary(timeout_summary))

    def _summary(self, summary: str | None) -> UserMetadata | None:
        if not summary:
            return None
        return UserMetadata(summary=self._conversion.payload_converter.to_payload(summary))

    # ------------------------------------------------------------------ workflow API: handlers

    def workflow_get_signal_handler(self, name: str | None) -> Callable[..., Any] | None:
        """The signal handler registered under ``name`` (None = dynamic)."""
        return self._registry.signal_handler(name)

    def workflow_get_query_handler(self, name: str | None) -> Callable[..., Any] | None:
        """The query handler registered under ``name`` (None = dynamic)."""
        return self._registry.query_handler(name)

    def workflow_get_update_handler(self, name: str | None) -> Callable[..., Any] | None:
        """The update handler registered under ``name`` (None = dynamic)."""
        return self._registry.update_handler(name)

    def workflow_get_update_validator(self, name: str | None) -> Callable[..., Any] | None:
        """The validator of the update registered under ``name``."""
        return self._registry.update_validator(name)

    def workflow_set_signal_handler(
        self,
        name: str | None,
        handler: Callable[..., Any] | None,
        *,
        description: str | None = None,
    ) -> None:
        """Register or remove a signal handler; buffered signals for it are delivered."""
        self._handlers.set_signal_handler(name, handler, description)

    def workflow_set_query_handler(
        self,
        name: str | None,
        handler: Callable[..., Any] | None,
        *,
        description: str | None = None,
    ) -> None:
        """Register or remove a query handler."""
        self._mode.check_writable("set query handler")
        self._registry.set_query_handler(name, handler, description)

    def workflow_set_update_handler(
        self,
        name: str | None,
        handler: Callable[..., Any] | None,
        validator: Callable[..., Any] | None,
        *,
        description: str | None = None,
    ) -> None:
        """Register or remove an update handler (and its validator)."""
        self._mode.check_writable("set update handler")
        self._registry.set_update_handler(name, handler, validator, description)

    def workflow_all_handlers_finished(self) -> bool:
        """No signal or update handler is running."""
        return self._registry.all_finished()

    # ------------------------------------------------------------------ workflow API: outbound

    def workflow_start_activity(
        self, activity: Any, *args: Any, **options: Any
    ) -> ActivityHandle[Any]:
        """Schedule an activity through the outbound interceptors."""
        return self._calls.start_activity(activity, *args, **options)

    def workflow_start_local_activity(
        self, activity: Any, *args: Any, **options: Any
    ) -> ActivityHandle[Any]:
        """Schedule a local activity through the outbound interceptors."""
        return self._calls.start_local_activity(activity, *args, **options)

    async def workflow_start_child_workflow(
        self, workflow: Any, *args: Any, **options: Any
    ) -> ChildWorkflowHandle[Any, Any]:
        """Start a child workflow through the outbound interceptors."""
        return await self._calls.start_child_workflow(workflow, *args, **options)

    def workflow_get_external_workflow_handle(
        self, id: str, run_id: str | None
    ) -> ExternalWorkflowHandle[Any]:
        """A handle to another workflow."""
        return self._calls.external_workflow_handle(id, run_id)

    def workflow_continue_as_new(self, *args: Any, **options: Any) -> NoReturn:
        """Raise ContinueAsNewError through the outbound interceptors."""
        self._calls.continue_as_new(*args, **options)


def _chain(
    root: WorkflowInboundInterceptor, classes: Sequence[type[WorkflowInboundInterceptor]]
) -> WorkflowInboundInterceptor:
    inbound = root
    for cls in reversed(classes):
        inbound = cls(inbound)
    return inbound


def _unguarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An extern function runs outside the determinism guard, as outside temporalio's
    sandbox: interceptors use them for exactly what workflow code may not do (the tracing
    interceptor creates spans, whose ids come from ``random``)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        with guard_suspended():
            return fn(*args, **kwargs)

    return call
