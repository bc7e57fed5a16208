"""A running workflow: the object, its deterministic loop, and one activation at a time.

``activate`` applies an activation's jobs (in temporalio's job-set order: patches, then
signals and updates, then everything else) and runs the loop until workflow code is
blocked; what it produced comes back as commands. Exceptions that are not workflow
failures are returned as the activation's failure: they fail the workflow task, which the
server retries, without touching history.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Mapping, Sequence
from random import Random
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.sdk.v1 import UserMetadata

import perdure.common
import perdure.converter
import perdure.exceptions
from perdure.worker._interceptor import ExecuteWorkflowInput, WorkflowInterceptorClassInput
from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._base import (
    SINGLE_BATCH_ACTIVATION,
    InstanceDetails,
    _timer_metadata,
)
from perdure.worker._workflow._handlers import HandlersMixin, RootInbound
from perdure.worker._workflow._outbound import OutboundMixin, RootOutbound, _ContinueAsNewError
from perdure.workflow import Info
from perdure.workflow._unsafe import guard_suspended

logger = logging.getLogger(__name__)


class WorkflowInstance(OutboundMixin, HandlersMixin):
    """One workflow run's code and state, advanced one activation at a time."""

    def __init__(self, details: InstanceDetails) -> None:
        """Build the instance and its interceptor chains (the object is created later)."""
        super().__init__(details)
        self._init_handlers()
        self._init_outbound()
        self._workflow_converter = self._context_converter(
            perdure.converter.WorkflowSerializationContext(
                namespace=self._info.namespace, workflow_id=self._info.workflow_id
            )
        )
        self._payload_converter = self._workflow_converter
        self._versioning_behavior = details.defn.versioning_behavior
        self._input = self._make_input(details.start)
        root: Any = RootInbound(self)
        for cls in reversed(details.interceptor_classes):
            root = cls(root)
        self._inbound = root
        self._inbound.init(RootOutbound(self))
        self._memo_cache: dict[str, Any] | None = None
        self._seed_callbacks: list[Callable[[int], None]] = []

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
        self._commands = []
        self._markers = {}
        self._used_lang_flags = set()
        self._loop.time_ns = activation.time_ns
        self._is_replaying = activation.is_replaying
        self._history_length = activation.history_length
        self._history_size = activation.history_size
        self._continue_as_new_suggested = activation.continue_as_new_suggested
        self._lang_flags = activation.lang_flags
        self._single_batch = SINGLE_BATCH_ACTIVATION in activation.lang_flags
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
            if self._single_batch:
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
            if self.workflow_is_failure_exception(err):
                try:
                    self._set_workflow_failure(err)
                except Exception as inner:
                    failure = inner
            else:
                failure = err
        if self._deleting:
            failure = None
        if failure is not None:
            with guard_suspended():
                logger.warning(
                    "Failed activation on workflow %s with ID %s and run ID %s",
                    self._info.workflow_type,
                    self._info.workflow_id,
                    self._info.run_id,
                    exc_info=failure,
                )
        if any(isinstance(c, jobs.TERMINAL_COMMANDS) for c in self._commands):
            with guard_suspended():
                self._warn_unfinished_handlers()
        return jobs.ActivationCompletion(
            self._commands, self._used_lang_flags, failure, self._markers
        )

    def _run_once(self, check_conditions: bool, only_updates: bool) -> None:
        if self._object is None and not self._deleting:
            self._object = self._loop.run_outside(self._instantiate)
        checker: Callable[[], bool] | None = None
        if check_conditions:
            # Rejected updates leave no trace in history: conditions they let through
            # could not unblock on replay. With only updates, check once one was accepted.
            checker = self._check_conditions_if_accepted if only_updates else self._check_conditions
        self._loop.check_conditions = checker
        self._loop.run_once(check_conditions=checker is not None)

    def _check_conditions_if_accepted(self) -> bool:
        if any(isinstance(c, jobs.UpdateResponse) and c.accepted for c in self._commands):
            return self._check_conditions()
        return False

    def _apply(self, job: jobs.Job) -> None:
        if isinstance(job, jobs.FireTimer):
            handle = self._pending_timers.pop(job.seq, None)
            if handle is not None:
                self._loop.make_ready(handle)
        elif isinstance(job, jobs.ResolveActivity):
            self._resolve_activity(job)
        elif isinstance(job, jobs.SignalWorkflow):
            self._apply_signal(job)
        elif isinstance(job, jobs.DoUpdate):
            self._apply_update(job)
        elif isinstance(job, jobs.NotifyHasPatch):
            self._patches_notified.add(job.patch_id)
        elif isinstance(job, jobs.InitializeWorkflow):
            self._start_primary()
        elif isinstance(job, jobs.ResolveChildStart):
            self._resolve_child_start(job)
        elif isinstance(job, jobs.ResolveChild):
            self._resolve_child(job)
        elif isinstance(job, jobs.ResolveSignalExternal):
            self._resolve_external(self._pending_external_signals, job)
        elif isinstance(job, jobs.ResolveRequestCancelExternal):
            self._resolve_external(self._pending_external_cancels, job)
        elif isinstance(job, jobs.UpdateRandomSeed):
            self._random.seed(job.seed)
            self._seed = job.seed
            for callback in self._seed_callbacks:
                callback(job.seed)
        elif isinstance(job, jobs.CancelWorkflow):
            self._cancel_reason = job.reason
            if self._primary_task is not None:
                self._loop.call_soon(self._primary_task.cancel)
            elif self._single_batch:
                self._cancel_pending = True
        else:
            raise RuntimeError(f"Unexpected job {type(job).__name__}")

    # ------------------------------------------------------------------ the main method

    def _make_input(self, start: jobs.InitializeWorkflow) -> ExecuteWorkflowInput:
        payloads = list(start.attributes.input.payloads)
        arg_types = self._defn.arg_types
        if not self._defn.name:
            arg_types = [perdure.common.RawValue] * len(payloads)
        args: list[Any] = self._convert_payloads(payloads, arg_types)
        if not self._defn.name:
            args = [args]
        return ExecuteWorkflowInput(
            type=self._defn.cls,
            run_fn=self._defn.run_fn,
            args=args,
            headers=dict(start.attributes.header.fields),
        )

    def _instantiate(self) -> Any:
        cls = self._defn.cls
        init = getattr(vars(cls).get("__init__"), "__temporal_workflow_init", False) or getattr(
            getattr(cls, "__init__", None), "__temporal_workflow_init", False
        )
        obj = cls(*self._input.args) if init else cls()
        if self._defn.name is None and self._defn.dynamic_config_fn is not None:
            self._read_only = True
            try:
                config = self._defn.dynamic_config_fn(obj)
            finally:
                self._read_only = False
            if config.failure_exception_types is not None:
                self._dynamic_failure_types = config.failure_exception_types
            if config.versioning_behavior != perdure.common.VersioningBehavior.UNSPECIFIED:
                self._versioning_behavior = config.versioning_behavior
        return obj

    def _start_primary(self) -> None:
        async def run_workflow() -> None:
            try:
                result = await self._inbound.execute_workflow(self._input)
                payloads = self._payload_converter.to_payloads([result])
                if len(payloads) != 1:
                    raise ValueError(f"Expected 1 result payload, got {len(payloads)}")
                self._add_command(jobs.CompleteWorkflow(payloads[0]))
            except Exception:
                if self._deleting:
                    return
                raise

        self._primary_task = self._create_task(self._run_top_level(run_workflow()), "run")
        if self._cancel_pending:
            self._cancel_pending = False
            self._loop.call_soon(self._primary_task.cancel)

    async def _run_top_level(self, coro: Any) -> None:
        try:
            await coro
        except _ContinueAsNewError as err:
            err.apply()
        except (Exception, asyncio.CancelledError) as err:
            if self._deleting:
                return
            error: BaseException = err
            if isinstance(err, asyncio.CancelledError):
                error = perdure.exceptions.CancelledError(str(err))
            if self._cancel_reason is not None and perdure.exceptions.is_cancelled_exception(error):
                self._add_command(jobs.CancelWorkflowExecution())
            elif self.workflow_is_failure_exception(error):
                self._set_workflow_failure(error)
            else:
                self._loop.failure = error

    def _set_workflow_failure(self, err: BaseException) -> None:
        try:
            failure = self._to_failure(err)
        except Exception as inner:
            raise ValueError("Failed converting workflow exception") from inner
        self._add_command(jobs.FailWorkflow(failure))

    # ------------------------------------------------------------------ queries and eviction

    def query(self, job: jobs.QueryWorkflow) -> jobs.QueryResult:
        """Answer a query with the workflow's current state (no commands allowed)."""
        result: list[Any] = []

        async def run() -> None:
            with self._read_only_section():
                result.append(await self._run_query(job))

        try:
            if self._object is None:
                self._object = self._loop.run_outside(self._instantiate)
            task = self._loop.create_task(run(), name=f"query: {job.query_type}")
            self._loop.check_conditions = None
            self._read_only = True
            try:
                self._loop.run_once(check_conditions=False)
            finally:
                self._read_only = False
            if not task.done():
                task.cancel()
                raise RuntimeError(f"Query {job.query_type} did not complete in one step")
            task.result()
            payloads = self._payload_converter.to_payloads([result[0]])
            return jobs.QueryResult(job.query_id, answer=payloads[0])
        except Exception as err:
            return jobs.QueryResult(job.query_id, failure=self._to_failure(err))

    def evict(self) -> None:
        """Cancel every task so workflow code unwinds; the run is being dropped."""
        self._deleting = True
        self._loop.deleting = True
        self._is_replaying = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
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
        return self._versioning_behavior

    # ------------------------------------------------------------------ workflow API

    def workflow_info(self) -> Info:
        """The run's Info (through the outbound interceptors)."""
        return self._outbound.info()

    def workflow_instance(self) -> Any:
        """The workflow object."""
        return self._object

    def workflow_is_replaying(self) -> bool:
        """Replaying history (or answering a query)."""
        return self._is_replaying

    def workflow_is_replaying_history_events(self) -> bool:
        """Replaying history events (queries and validators excluded)."""
        return self._is_replaying and not self._read_only

    def workflow_is_read_only(self) -> bool:
        """Inside a query or update validator."""
        return self._read_only

    def workflow_time_ns(self) -> int:
        """Workflow time."""
        return self._loop.time_ns

    def workflow_random(self) -> Random:
        """The deterministic random generator."""
        self._assert_not_read_only("random")
        return self._random

    def workflow_random_seed(self) -> int:
        """The seed of the random generator."""
        return self._seed

    def workflow_register_random_seed_callback(self, callback: Callable[[int], None]) -> None:
        """Call ``callback`` with the new seed when a reset changes it."""
        self._assert_not_read_only("register random seed callback")
        self._seed_callbacks.append(callback)

    def workflow_extern_functions(self) -> Mapping[str, Callable[..., Any]]:
        """Functions interceptors exposed to workflow code."""
        return self._extern_functions

    def workflow_payload_converter(self) -> perdure.converter.PayloadConverter:
        """The payload converter for this workflow."""
        return self._workflow_converter

    def workflow_metric_meter(self) -> perdure.common.MetricMeter:
        """Metrics from workflow code are not recorded yet: the no-op meter."""
        return perdure.common.MetricMeter.noop

    def workflow_cancellation_reason(self) -> str | None:
        """Why cancellation was requested."""
        return self._cancel_reason

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
        self._assert_not_read_only("set current details")
        self._current_details = details

    def workflow_has_last_completion_result(self) -> bool:
        """A previous run left a result."""
        return len(self._start.attributes.last_completion_result.payloads) > 0

    def workflow_last_completion_result(self, type_hint: type | None) -> Any | None:
        """The previous run's result."""
        payloads = self._start.attributes.last_completion_result.payloads
        if len(payloads) != 1:
            return None
        return self._payload_converter.from_payload(payloads[0], type_hint)  # type: ignore[arg-type]

    def workflow_last_failure(self) -> BaseException | None:
        """The previous attempt's failure."""
        if self._start.attributes.HasField("continued_failure"):
            return self._from_failure(self._start.attributes.continued_failure)
        return None

    def workflow_memo(self) -> Mapping[str, Any]:
        """The memo, decoded once."""
        if self._memo_cache is None:
            self._memo_cache = {
                k: self._payload_converter.from_payload(v) for k, v in self._info.raw_memo.items()
            }
        return self._memo_cache

    def workflow_memo_value(self, key: str, default: Any, *, type_hint: type | None) -> Any:
        """One memo value."""
        payload = self._info.raw_memo.get(key)
        if not payload:
            if default is perdure.common._arg_unset:
                raise KeyError(f"Memo does not have a value for key {key}")
            return default
        return self._payload_converter.from_payload(payload, type_hint)  # type: ignore[arg-type]

    def workflow_upsert_memo(self, updates: Mapping[str, Any]) -> None:
        """ModifyWorkflowProperties with the changed keys (None removes a key)."""
        encoded: dict[str, Payload] = {}
        removed: list[str] = []
        for key, value in updates.items():
            if value is None:
                removed.append(key)
            else:
                encoded[key] = self._payload_converter.to_payload(value)
        if not encoded and not removed:
            return
        fields = dict(encoded)
        null = self._payload_converter.to_payload(None)
        for key in removed:
            fields[key] = null
        self._add_command(jobs.ModifyWorkflowProperties(fields))
        memo = dict(self._info.raw_memo)
        memo.update(encoded)
        for key in removed:
            memo.pop(key, None)
        object.__setattr__(self._info, "raw_memo", memo)
        self._memo_cache = None

    def workflow_upsert_search_attributes(
        self,
        attributes: perdure.common.SearchAttributes
        | Sequence[perdure.common.SearchAttributeUpdate[Any]],
    ) -> None:
        """UpsertWorkflowSearchAttributes, and keep Info's two views up to date."""
        fields: dict[str, Payload] = {}
        untyped = dict(self._info.search_attributes)
        typed = {pair.key.name: pair for pair in self._info.typed_search_attributes}
        if isinstance(attributes, Mapping):
            for name, values in attributes.items():
                fields[name] = perdure.converter.encode_search_attribute_values(values)
                untyped[name] = values
                key = perdure.common.SearchAttributeKey._guess_from_untyped_values(name, values)
                if not values:
                    typed.pop(name, None)
                elif key is not None:
                    kind = key.indexed_value_type
                    if kind == perdure.common.SearchAttributeIndexedValueType.KEYWORD_LIST:
                        typed[name] = perdure.common.SearchAttributePair(key, values)
                    elif len(values) == 1:
                        typed[name] = perdure.common.SearchAttributePair(key, values[0])
        else:
            for update in attributes:
                name = update.key.name
                fields[name] = perdure.converter.encode_typed_search_attribute_value(
                    update.key, update.value
                )
                if update.value is None:
                    typed.pop(name, None)
                    untyped[name] = []
                else:
                    typed[name] = perdure.common.SearchAttributePair(update.key, update.value)
                    kind = update.key.indexed_value_type
                    untyped[name] = (
                        list(update.value)
                        if kind == perdure.common.SearchAttributeIndexedValueType.KEYWORD_LIST
                        else [update.value]
                    )
        self._add_command(jobs.UpsertSearchAttributes(fields))
        object.__setattr__(self._info, "search_attributes", untyped)
        object.__setattr__(
            self._info,
            "typed_search_attributes",
            perdure.common.TypedSearchAttributes(list(typed.values())),
        )

    def workflow_patch(self, id: str, *, deprecated: bool) -> bool:
        """patched()/deprecate_patch(): memoized; recorded when taking the new branch."""
        self._assert_not_read_only("patch")
        use = self._patches_memoized.get(id)
        if use is not None:
            return use
        use = not self._is_replaying or id in self._patches_notified
        self._patches_memoized[id] = use
        if use:
            self._add_command(jobs.SetPatchMarker(id, deprecated))
        return use

    async def workflow_sleep(self, duration: float, *, summary: str | None) -> None:
        """A durable timer of ``duration`` seconds."""
        metadata = (
            UserMetadata(summary=self._payload_converter.to_payload(summary)) if summary else None
        )
        fut = self._loop.create_future()
        token = _timer_metadata.set(metadata)
        try:
            handle = self._loop.call_later(
                duration, lambda: fut.set_result(None) if not fut.done() else None
            )
        finally:
            _timer_metadata.reset(token)
        fut.add_done_callback(lambda f: handle.cancel() if f.cancelled() else None)
        await fut

    async def workflow_wait_condition(
        self, fn: Callable[[], bool], *, timeout: float | None, timeout_summary: str | None
    ) -> None:
        """Wait for ``fn()``; conditions are re-checked whenever workflow code is idle."""
        self._assert_not_read_only("wait condition")
        cancelled_before = self._cancel_reason is not None

        def cancellation_arrived() -> bool:
            return self._single_batch and not cancelled_before and self._cancel_reason is not None

        fut = self._loop.create_future()
        self._conditions.append((fn, fut))
        metadata = (
            UserMetadata(summary=self._payload_converter.to_payload(timeout_summary))
            if timeout_summary
            else None
        )
        context = contextvars.copy_context()

        async def in_context() -> None:
            _timer_metadata.set(metadata)
            await asyncio.wait_for(fut, timeout)

        try:
            await context.run(in_context)
        except TimeoutError:
            if cancellation_arrived():
                raise asyncio.CancelledError() from None
            raise
        if cancellation_arrived():
            raise asyncio.CancelledError()
