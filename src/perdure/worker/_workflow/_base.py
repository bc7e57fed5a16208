"""State and helpers shared by the workflow instance's parts (commands, payloads, awaiting).

``_await_operation`` keeps the exact await structure of the official SDK (a shielded
``asyncio.wait`` on the operation's future inside the caller's task), so that resolutions
reach workflow code after the same number of loop callbacks and concurrent code interleaves
identically: that is what lets histories replay across the two SDKs.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.api.sdk.v1 import EventGroupMarker

import perdure.converter
import perdure.exceptions
from perdure.worker._interceptor import WorkflowInboundInterceptor, WorkflowOutboundInterceptor
from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._loop import TimerHandle, WorkflowEventLoop
from perdure.workflow import (
    Info,
    ReadOnlyContextError,
    _Definition,
    _QueryDefinition,
    _Runtime,
    _SignalDefinition,
    _UpdateDefinition,
)
from perdure.workflow._event_groups import _capture_markers
from perdure.workflow._handlers import HandlerUnfinishedPolicy
from perdure.workflow._unsafe import guard_suspended

_T = TypeVar("_T")

RAISE_ON_CANCELLING_COMPLETED_ACTIVITY = 1
SINGLE_BATCH_ACTIVATION = 2


class _EvictedError(Exception):
    """Raised into workflow code that tries to act while its run is being evicted."""


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


@dataclass
class HandlerExecution:
    """A running signal or update handler (for unfinished-handler warnings)."""

    name: str
    unfinished_policy: HandlerUnfinishedPolicy
    id: str | None = None


class InstanceBase(_Runtime):
    """Fields and helpers of a workflow instance; the mixins add the API on top."""

    def __init__(self, details: InstanceDetails) -> None:
        self._defn = details.defn
        self._info = details.info
        self._payload_converter = details.payload_converter
        self._failure_converter = details.failure_converter
        self._worker_failure_types = tuple(details.worker_failure_exception_types)
        self._dynamic_failure_types: Sequence[type[BaseException]] | None = None
        self._start = details.start
        self._random = random.Random(details.randomness_seed)
        self._seed = details.randomness_seed
        self._commands: list[jobs.Command] = []
        self._markers: dict[int, list[EventGroupMarker]] = {}
        self._seqs: dict[str, int] = {}
        self._is_replaying = False
        self._read_only = False
        self._deleting = False
        self._single_batch = False
        self._lang_flags: frozenset[int] = frozenset()
        self._used_lang_flags: set[int] = set()
        self._history_length = 0
        self._history_size = 0
        self._continue_as_new_suggested = False
        self._cancel_reason: str | None = None
        self._cancel_pending = False
        self._object: Any = None
        self._primary_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._conditions: list[tuple[Callable[[], bool], asyncio.Future[Any]]] = []
        self._pending_timers: dict[int, TimerHandle] = {}
        self._signals: dict[str | None, _SignalDefinition] = dict(self._defn.signals)
        self._queries: dict[str | None, _QueryDefinition] = dict(self._defn.queries)
        self._updates: dict[str | None, _UpdateDefinition] = dict(self._defn.updates)
        self._current_details = ""
        self._patches_notified: set[str] = set()
        self._patches_memoized: dict[str, bool] = {}
        self._extern_functions = dict(details.extern_functions)
        self._loop = WorkflowEventLoop(  # type: ignore[abstract]  # I/O methods refuse at runtime
            start_timer=self._start_timer,
            cancel_timer=self._cancel_timer,
            register_task=self._register_task,
            runtime=self,
            deadlock_timeout=details.deadlock_timeout,
            name=(
                f"{self._info.workflow_type} (workflow_id={self._info.workflow_id}, "
                f"run_id={self._info.run_id})"
            ),
        )
        self._loop.check_conditions = self._check_conditions
        self._inbound: WorkflowInboundInterceptor
        self._outbound: WorkflowOutboundInterceptor

    # ------------------------------------------------------------------ commands

    def _add_command(self, command: jobs.Command) -> None:
        self._assert_not_read_only("add command")
        self._commands.append(command)
        markers = _capture_markers()
        if markers:
            self._markers[id(command)] = markers

    def _next_seq(self, kind: str) -> int:
        seq = self._seqs.get(kind, 0) + 1
        self._seqs[kind] = seq
        return seq

    def _assert_not_read_only(self, action: str, *, allow_during_delete: bool = False) -> None:
        if self._deleting and not allow_during_delete:
            raise _EvictedError(f"Ignoring {action} while evicting workflow. This is not an error.")
        if self._read_only:
            raise ReadOnlyContextError(f"While in read-only function, action attempted: {action}")

    # ------------------------------------------------------------------ tasks and timers

    def _register_task(self, task: asyncio.Task[Any]) -> None:
        self._assert_not_read_only("create task", allow_during_delete=True)
        info = self._info
        task.set_name(
            f"{task.get_name()} (workflow: {info.workflow_type}, id: {info.workflow_id}, "
            f"run: {info.run_id})"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if hasattr(task, "_log_destroy_pending"):
            task._log_destroy_pending = False

    def _create_task(self, coro: Any, name: str) -> asyncio.Task[Any]:
        return self._loop.create_task(coro, name=name)

    def _start_timer(self, delay: float, handle: TimerHandle | None) -> int:
        self._assert_not_read_only("schedule timer")
        seq = self._next_seq("timer")
        if handle is not None:
            self._pending_timers[seq] = handle
        self._add_command(jobs.StartTimer(seq, delay, _timer_metadata.get()))
        return seq

    def _cancel_timer(self, handle: TimerHandle) -> None:
        if self._pending_timers.pop(handle.seq, None) is None:
            return
        self._add_command(jobs.CancelTimer(handle.seq))

    def _check_conditions(self) -> bool:
        if not self._conditions:
            return False
        kept = []
        for fn, fut in self._conditions:
            if fut.done():
                continue
            if fn():
                fut.set_result(True)
            else:
                kept.append((fn, fut))
        self._conditions[:] = kept
        return True

    async def _await_operation(
        self,
        fut: asyncio.Future[_T],
        apply_cancel: Callable[[asyncio.CancelledError], None],
        *,
        completed_cancellation_flag: int | None = None,
        reraise_on_workflow_cancellation: bool = False,
    ) -> _T:
        """Await a Temporal operation; task cancellation becomes a cancel command instead."""
        while True:
            try:
                await asyncio.wait([fut])
                return fut.result()
            except asyncio.CancelledError as err:
                if fut.done():
                    if self._single_batch:
                        raise
                    if completed_cancellation_flag is not None and (
                        not self._is_replaying or completed_cancellation_flag in self._lang_flags
                    ):
                        self._used_lang_flags.add(completed_cancellation_flag)
                        raise
                apply_cancel(err)
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                if reraise_on_workflow_cancellation and (
                    self._cancel_reason is not None or self._deleting
                ):
                    raise

    @abstractmethod
    async def _run_top_level(self, coro: Any) -> None:
        """Run the main method or a signal handler and route how it ended."""

    # ------------------------------------------------------------------ payloads and failures

    def _context_converter(
        self, context: perdure.converter.SerializationContext
    ) -> perdure.converter.PayloadConverter:
        converter = self._payload_converter
        if isinstance(converter, perdure.converter.WithSerializationContext):
            return converter.with_context(context)
        return converter

    def _failure_context_converter(
        self, context: perdure.converter.SerializationContext
    ) -> perdure.converter.FailureConverter:
        converter = self._failure_converter
        if isinstance(converter, perdure.converter.WithSerializationContext):
            return converter.with_context(context)
        return converter

    def _convert_payloads(
        self,
        payloads: Sequence[Payload],
        types: Sequence[Any] | None,
        converter: perdure.converter.PayloadConverter | None = None,
    ) -> list[Any]:
        if not payloads:
            return []
        if types and len(types) != len(payloads):
            types = None
        try:
            return (converter or self._payload_converter).from_payloads(
                payloads, type_hints=list(types) if types else None
            )
        except perdure.exceptions.FailureError:
            raise
        except Exception as err:
            if self.workflow_is_failure_exception(err):
                raise
            raise RuntimeError("Failed decoding arguments") from err

    def _to_failure(
        self,
        err: BaseException,
        converter: perdure.converter.FailureConverter | None = None,
    ) -> Failure:
        failure = Failure()
        with guard_suspended():
            (converter or self._failure_converter).to_failure(err, self._payload_converter, failure)
        return failure

    def _from_failure(
        self,
        failure: Failure,
        converter: perdure.converter.FailureConverter | None = None,
        payload_converter: perdure.converter.PayloadConverter | None = None,
    ) -> BaseException:
        return (converter or self._failure_converter).from_failure(
            failure, payload_converter or self._payload_converter
        )

    def workflow_is_failure_exception(self, err: BaseException) -> bool:
        """Failure errors, timeouts and configured types fail the workflow, not the task."""
        types = self._defn.failure_exception_types
        if self._dynamic_failure_types is not None:
            types = self._dynamic_failure_types
        return (
            isinstance(err, perdure.exceptions.FailureError | asyncio.TimeoutError)
            or any(isinstance(err, t) for t in types)
            or any(isinstance(err, t) for t in self._worker_failure_types)
        )


_timer_metadata: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "_perdure_timer_metadata", default=None
)
"""User metadata (summary) for timers created by asyncio internals in this context."""
