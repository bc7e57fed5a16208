"""ActivityEnvironment: run activity code in an activity context without a worker."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from typing_extensions import ParamSpec

import perdure.activity
import perdure.common
import perdure.converter
from perdure.activity._definition import _is_async_callable
from perdure.worker._activity_sync import _THREAD_CANCEL_EXCEPTION, _ThreadExceptionRaiser

if TYPE_CHECKING:
    from perdure.client import Client

_Params = ParamSpec("_Params")
_Return = TypeVar("_Return")


_CANCEL_REQUESTED = perdure.activity.ActivityCancellationDetails(cancel_requested=True)


class ActivityEnvironment:
    """Runs activity functions so that perdure.activity calls work, for unit tests.

    Attributes:
        info: What :py:func:`perdure.activity.info` returns; customise
            :py:meth:`default_info` with :py:func:`dataclasses.replace`.
        on_heartbeat: Called with the details of each heartbeat.
        payload_converter: The activity's payload converter (set before :py:meth:`run`).
        metric_meter: The activity's metric meter (set before :py:meth:`run`); noop.
    """

    def __init__(self, client: Client | None = None) -> None:
        """Create an environment; `client` is what ``activity.client()`` returns."""
        self.info = ActivityEnvironment.default_info()
        self.on_heartbeat: Callable[..., None] = lambda *args: None
        self.payload_converter: perdure.converter.PayloadConverter = (
            perdure.converter.DataConverter.default.payload_converter
        )
        self.metric_meter: perdure.common.MetricMeter = perdure.common.MetricMeter.noop
        self._cancelled = False
        self._worker_shutdown = False
        self._activities: set[_Activity] = set()
        self._client = client
        self._cancellation_details = perdure.activity._ActivityCancellationDetailsHolder()

    @staticmethod
    def default_info() -> perdure.activity.Info:
        """A fresh Info with test values, to adjust with :py:func:`dataclasses.replace`."""
        utc_zero = datetime.fromtimestamp(0, UTC)
        return perdure.activity.Info(
            activity_id="test",
            activity_type="unknown",
            attempt=1,
            current_attempt_scheduled_time=utc_zero,
            heartbeat_details=[],
            heartbeat_timeout=None,
            is_local=False,
            namespace="default",
            schedule_to_close_timeout=timedelta(seconds=1),
            scheduled_time=utc_zero,
            start_to_close_timeout=timedelta(seconds=1),
            started_time=utc_zero,
            task_queue="test",
            task_token=b"test",
            workflow_id="test",
            workflow_namespace="default",
            workflow_run_id="test-run",
            workflow_type="test",
            priority=perdure.common.Priority.default,
            retry_policy=None,
            activity_run_id=None,
        )

    def cancel(
        self,
        cancellation_details: perdure.activity.ActivityCancellationDetails = _CANCEL_REQUESTED,
    ) -> None:
        """Cancel the running activities (and ones run later); only the first call counts.

        Args:
            cancellation_details: What ``activity.cancellation_details()`` returns.
        """
        if self._cancelled:
            return
        self._cancelled = True
        self._cancellation_details.details = cancellation_details
        for activity in list(self._activities):
            activity.cancel()

    def worker_shutdown(self) -> None:
        """Tell the activities the worker is shutting down; only the first call counts."""
        if self._worker_shutdown:
            return
        self._worker_shutdown = True
        for activity in list(self._activities):
            activity.worker_shutdown()

    def run(
        self,
        fn: Callable[_Params, _Return],
        *args: _Params.args,
        **kwargs: _Params.kwargs,
    ) -> _Return:
        """Call `fn` in an activity context; an async `fn` returns an awaitable as usual."""
        return _Activity(self, fn, self._client).run(*args, **kwargs)  # type: ignore[no-any-return]


class _Activity:
    """One run of a function inside an ActivityEnvironment."""

    def __init__(
        self, env: ActivityEnvironment, fn: Callable[..., Any], client: Client | None
    ) -> None:
        self.env = env
        self.fn = fn
        self.is_async = _is_async_callable(fn)
        self.cancel_thread_raiser: _ThreadExceptionRaiser | None = None
        if not self.is_async:
            defn = perdure.activity._Definition.from_callable(fn)
            if defn is None or not defn.no_thread_cancel_exception:
                self.cancel_thread_raiser = _ThreadExceptionRaiser()
        self.context = perdure.activity._Context(
            info=lambda: env.info,
            heartbeat=lambda *details: env.on_heartbeat(*details),
            cancelled_event=perdure.activity._CompositeEvent(
                thread_event=threading.Event(),
                async_event=asyncio.Event() if self.is_async else None,
            ),
            worker_shutdown_event=perdure.activity._CompositeEvent(
                thread_event=threading.Event(),
                async_event=asyncio.Event() if self.is_async else None,
            ),
            shield_thread_cancel_exception=(
                None if self.cancel_thread_raiser is None else self.cancel_thread_raiser.shielded
            ),
            payload_converter_class_or_instance=env.payload_converter,
            runtime_metric_meter=env.metric_meter,
            client=client if self.is_async else None,
            cancellation_details=env._cancellation_details,
        )
        self.task: asyncio.Task[Any] | None = None

    @contextmanager
    def _activity_context(self) -> Iterator[None]:
        if self.env._cancelled:
            self.context.cancelled_event.set()
        if self.env._worker_shutdown:
            self.context.worker_shutdown_event.set()
        self.env._activities.add(self)
        token = perdure.activity._Context.set(self.context)
        try:
            yield None
        finally:
            perdure.activity._Context.reset(token)
            self.env._activities.discard(self)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        if self.is_async:

            async def run_async() -> Any:
                with self._activity_context():
                    self.task = asyncio.create_task(self.fn(*args, **kwargs))
                    if self.env._cancelled:
                        self.task.cancel()
                    return await self.task

            return run_async()
        if self.cancel_thread_raiser is not None:
            thread_id = threading.current_thread().ident
            if thread_id is not None:
                self.cancel_thread_raiser.set_thread_id(thread_id)
        with self._activity_context():
            return self.fn(*args, **kwargs)

    def cancel(self) -> None:
        if not self.context.cancelled_event.is_set():
            self.context.cancelled_event.set()
        if self.cancel_thread_raiser is not None:
            self.cancel_thread_raiser.raise_in_thread(_THREAD_CANCEL_EXCEPTION)
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def worker_shutdown(self) -> None:
        if not self.context.worker_shutdown_event.is_set():
            self.context.worker_shutdown_event.set()
