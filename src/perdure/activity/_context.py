"""The running activity's context: its Info, events and the calls activity code makes.

The worker (or ActivityEnvironment) sets a `_Context` in a context variable before
the activity function runs; every public function of perdure.activity reads it.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

import temporalio.activity

import perdure.common
import perdure.converter
from perdure.converter._payload import _TransferTypePayloadConverter

if TYPE_CHECKING:
    from perdure.client import Client


@dataclass(frozen=True)
class Info:
    """Information about the running activity, from :py:func:`info`.

    Build one for tests with ``ActivityEnvironment.default_info()`` and
    :py:func:`dataclasses.replace`; new required fields may be added.
    """

    activity_id: str
    activity_type: str
    attempt: int
    current_attempt_scheduled_time: datetime
    heartbeat_details: Sequence[Any]
    heartbeat_timeout: timedelta | None
    is_local: bool
    namespace: str
    schedule_to_close_timeout: timedelta | None
    scheduled_time: datetime
    start_to_close_timeout: timedelta | None
    started_time: datetime
    task_queue: str
    task_token: bytes
    workflow_id: str | None
    """ID of the workflow; None if a workflow did not start this activity."""
    workflow_namespace: str | None
    """Namespace of the workflow (deprecated: use :py:attr:`namespace`)."""
    workflow_run_id: str | None
    """Run ID of the workflow; None if a workflow did not start this activity."""
    workflow_type: str | None
    """Type of the workflow; None if a workflow did not start this activity."""
    priority: perdure.common.Priority
    retry_policy: perdure.common.RetryPolicy | None
    """The retry policy the server applies (it may differ from the scheduled one);
    None when the server did not send it."""
    activity_run_id: str | None = None
    """Run ID of a standalone activity; None for workflow activities."""

    @property
    def in_workflow(self) -> bool:
        """Whether a workflow started this activity."""
        return self.workflow_id is not None

    def _logger_details(self) -> Mapping[str, Any]:
        return {
            "activity_id": self.activity_id,
            "activity_type": self.activity_type,
            "attempt": self.attempt,
            "namespace": self.namespace,
            "task_queue": self.task_queue,
            "workflow_id": self.workflow_id,
            "workflow_run_id": self.workflow_run_id,
            "workflow_type": self.workflow_type,
        }


@dataclass(frozen=True)
class ActivityCancellationDetails:
    """Why the activity was cancelled; set once, at the first cancellation."""

    not_found: bool = False
    cancel_requested: bool = False
    paused: bool = False
    reset: bool = False
    timed_out: bool = False
    worker_shutdown: bool = False


@dataclass
class _ActivityCancellationDetailsHolder:
    # Mutable holder so the worker can fill it in after the context was built.
    details: ActivityCancellationDetails | None = None


@dataclass
class _CompositeEvent:
    """A threading event (always) plus an asyncio event (async activities only).

    The thread event may be a multiprocessing manager event for process executors.
    """

    thread_event: threading.Event | None
    async_event: asyncio.Event | None

    def set(self) -> None:
        if self.thread_event is None:
            raise RuntimeError("Missing event")
        self.thread_event.set()
        if self.async_event is not None:
            self.async_event.set()

    def is_set(self) -> bool:
        if self.thread_event is None:
            raise RuntimeError("Missing event")
        return self.thread_event.is_set()

    async def wait(self) -> None:
        if self.async_event is None:
            raise RuntimeError("not in async activity")
        await self.async_event.wait()

    def wait_sync(self, timeout: float | None = None) -> None:
        if self.thread_event is None:
            raise RuntimeError("Missing event")
        self.thread_event.wait(timeout)


PayloadConverterClassOrInstance = (
    type[perdure.converter.PayloadConverter] | perdure.converter.PayloadConverter
)


@dataclass
class _Context:
    """Everything activity code can reach; one per running activity."""

    info: Callable[[], Info]
    # None while interceptors initialise: heartbeat is wired by the outbound chain.
    heartbeat: Callable[..., None] | None
    cancelled_event: _CompositeEvent
    worker_shutdown_event: _CompositeEvent
    shield_thread_cancel_exception: Callable[[], AbstractContextManager[None]] | None
    payload_converter_class_or_instance: PayloadConverterClassOrInstance
    runtime_metric_meter: perdure.common.MetricMeter | None
    client: Client | None
    cancellation_details: _ActivityCancellationDetailsHolder
    _logger_details: Mapping[str, Any] | None = None
    _payload_converter: perdure.converter.PayloadConverter | None = None
    _metric_meter: perdure.common.MetricMeter | None = None

    @staticmethod
    def current() -> _Context:
        context = _current_context.get(None)
        if context is None:
            raise RuntimeError("Not in activity context")
        return context

    @staticmethod
    def set(context: _Context) -> contextvars.Token[_Context]:
        # temporalio.activity's API (info(), heartbeat(), ...) reads the same context:
        # code and interceptors written against it (the official TracingInterceptor)
        # run in Perdure's activities too.
        _official_context.set(context)
        return _current_context.set(context)

    @staticmethod
    def reset(token: contextvars.Token[_Context]) -> None:
        _current_context.reset(token)
        _official_context.set(_current_context.get(None))

    @property
    def logger_details(self) -> Mapping[str, Any]:
        if self._logger_details is None:
            self._logger_details = self.info()._logger_details()
        return self._logger_details

    @property
    def payload_converter(self) -> perdure.converter.PayloadConverter:
        if self._payload_converter is None:
            given = self.payload_converter_class_or_instance
            instance = given if isinstance(given, perdure.converter.PayloadConverter) else given()
            # Same wrapping as DataConverter does: transfer-type converters apply here too.
            self._payload_converter = _TransferTypePayloadConverter.wrap(instance)
        return self._payload_converter

    @property
    def metric_meter(self) -> perdure.common.MetricMeter:
        if self.runtime_metric_meter is None:
            raise RuntimeError(
                "Metrics meter not available in non-threaded sync activities like multiprocess"
            )
        if self._metric_meter is None:
            info = self.info()
            self._metric_meter = self.runtime_metric_meter.with_additional_attributes(
                {
                    "namespace": info.namespace,
                    "task_queue": info.task_queue,
                    "activity_type": info.activity_type,
                }
            )
        return self._metric_meter


_current_context: contextvars.ContextVar[_Context] = contextvars.ContextVar("perdure_activity")
_official_context: contextvars.ContextVar[Any] = temporalio.activity._current_context


class _CompleteAsyncError(BaseException):
    """Raised by raise_complete_async: the worker sends no result for this task.

    A BaseException so that `except Exception` in activity code does not swallow it.
    """


def client() -> Client:
    """The client of the worker running this (async) activity.

    Raises:
        RuntimeError: In sync activities, or in an ActivityEnvironment without a client.
    """
    found = _Context.current().client
    if found is None:
        raise RuntimeError(
            "No client available. The client is only available in `async def` "
            "activities; not in `def` activities. In tests you can pass a "
            "client when creating ActivityEnvironment."
        )
    return found


def in_activity() -> bool:
    """Whether the calling code runs inside an activity."""
    return _current_context.get(None) is not None


def info() -> Info:
    """The running activity's :py:class:`Info`.

    Raises:
        RuntimeError: When not in an activity.
    """
    return _Context.current().info()


def cancellation_details() -> ActivityCancellationDetails | None:
    """Why the activity was cancelled, or None if it was not (yet)."""
    return _Context.current().cancellation_details.details


def heartbeat(*details: Any) -> None:
    """Record a heartbeat; the worker throttles the RPCs and keeps the latest details.

    The details are visible to the next attempt as ``info().heartbeat_details``.

    Raises:
        RuntimeError: When not in an activity.
    """
    heartbeat_fn = _Context.current().heartbeat
    if heartbeat_fn is None:
        raise RuntimeError("Can only execute heartbeat after interceptor init")
    heartbeat_fn(*details)


def is_cancelled() -> bool:
    """Whether cancellation was ever requested on this activity."""
    return _Context.current().cancelled_event.is_set()


@contextmanager
def shield_thread_cancel_exception() -> Iterator[None]:
    """Delay the cancellation exception of a threaded sync activity to the block's end.

    Nested blocks raise only when the outermost one exits. Has no effect in async
    and process-pool activities.

    Raises:
        perdure.exceptions.CancelledError: If cancelled during the block.
    """
    shield = _Context.current().shield_thread_cancel_exception
    if shield is None:
        yield None
    else:
        with shield():
            yield None


async def wait_for_cancelled() -> None:
    """Wait until this (async) activity receives a cancellation request."""
    await _Context.current().cancelled_event.wait()


def wait_for_cancelled_sync(timeout: timedelta | float | None = None) -> None:
    """Block until a cancellation request arrives, or until `timeout` passes."""
    _Context.current().cancelled_event.wait_sync(
        timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
    )


def is_worker_shutdown() -> bool:
    """Whether shutdown has been called on the worker running this activity."""
    return _Context.current().worker_shutdown_event.is_set()


async def wait_for_worker_shutdown() -> None:
    """Wait until shutdown is called on the worker (async activities)."""
    await _Context.current().worker_shutdown_event.wait()


def wait_for_worker_shutdown_sync(timeout: timedelta | float | None = None) -> None:
    """Block until shutdown is called on the worker, or until `timeout` passes."""
    _Context.current().worker_shutdown_event.wait_sync(
        timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
    )


def raise_complete_async() -> NoReturn:
    """End the activity function without a result: something else will complete it.

    The worker sends nothing; a client completes the activity later through an
    async activity handle built from ``info().task_token``.
    """
    raise _CompleteAsyncError()


def payload_converter() -> perdure.converter.PayloadConverter:
    """The payload converter of the current activity (useful in dynamic activities)."""
    return _Context.current().payload_converter


def metric_meter() -> perdure.common.MetricMeter:
    """The metric meter of the current activity (not in process-pool activities).

    Raises:
        RuntimeError: When not in an activity or in a process-pool activity.
    """
    return _Context.current().metric_meter
