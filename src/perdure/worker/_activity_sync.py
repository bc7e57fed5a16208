"""Running sync activities in executors: thread cancellation and cross-process state.

A threaded activity is cancelled by raising an exception asynchronously inside its
thread. A process-pool activity cannot be reached that way: its cancel and
worker-shutdown events are multiprocessing manager events, and its heartbeats travel
back over a manager queue (see :py:class:`SharedStateManager`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import logging
import multiprocessing.managers
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import perdure.activity
import perdure.common
import perdure.exceptions
from perdure.activity._context import PayloadConverterClassOrInstance

logger = logging.getLogger(__name__)


def _raise_in_thread(thread_id: int, exc_type: type[BaseException]) -> None:
    """Make `exc_type` raise in the thread at its next bytecode boundary.

    Blocking C calls (a sleep, a socket read) finish first; that is the limit of an
    async exception in CPython.
    """
    changed = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type)
    )
    if changed > 1:  # pragma: no cover - CPython contract: undo if several were hit
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)


class _ThreadExceptionRaiser:
    """Raises the cancellation exception in the activity's thread, honouring shields."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread_id: int | None = None
        self._pending_exception: type[BaseException] | None = None
        self._shield_depth = 0

    def set_thread_id(self, thread_id: int) -> None:
        with self._lock:
            self._thread_id = thread_id

    @contextmanager
    def active_thread(self) -> Iterator[None]:
        """Mark the current thread as the activity's for the duration of the block."""
        thread_id = threading.current_thread().ident
        if thread_id is not None:
            with self._lock:
                self._thread_id = thread_id
                # A cancel that came before the thread started is raised now.
                self._raise_if_pending_unlocked()
        try:
            yield None
        finally:
            if thread_id is not None:
                with self._lock:
                    if self._thread_id == thread_id:
                        self._thread_id = None
                        self._pending_exception = None

    def raise_in_thread(self, exc_type: type[BaseException]) -> None:
        with self._lock:
            self._pending_exception = exc_type
            self._raise_if_pending_unlocked()

    @contextmanager
    def shielded(self) -> Iterator[None]:
        """Hold back the exception until the outermost shielded block exits."""
        with self._lock:
            self._shield_depth += 1
        try:
            yield None
        finally:
            with self._lock:
                self._shield_depth -= 1
                self._raise_if_pending_unlocked()

    def _raise_if_pending_unlocked(self) -> None:
        if (
            self._thread_id is not None
            and self._shield_depth == 0
            and self._pending_exception is not None
        ):
            _raise_in_thread(self._thread_id, self._pending_exception)
            self._pending_exception = None


class SharedHeartbeatSender(ABC):
    """Sends heartbeats from another process; must be picklable."""

    @abstractmethod
    def send_heartbeat(self, task_token: bytes, *details: Any) -> None:
        """Send a heartbeat with `details` for the activity of `task_token`."""
        raise NotImplementedError


class SharedStateManager(ABC):
    """Cross-process primitives for sync activities in a non-thread executor.

    Use :py:meth:`create_from_multiprocessing`; one manager may serve many workers.
    """

    @staticmethod
    def create_from_multiprocessing(
        mgr: multiprocessing.managers.SyncManager,
        queue_poller_executor: concurrent.futures.Executor | None = None,
    ) -> SharedStateManager:
        """A manager built on a multiprocessing SyncManager (``multiprocessing.Manager()``).

        Args:
            mgr: The sync manager that creates events and the heartbeat queue.
            queue_poller_executor: Where the heartbeat queue reader runs; a
                one-thread ThreadPoolExecutor by default.
        """
        return _MultiprocessingSharedStateManager(
            mgr, queue_poller_executor or concurrent.futures.ThreadPoolExecutor(1)
        )

    @abstractmethod
    def new_event(self) -> threading.Event:
        """An event that can be set and waited on across processes."""
        raise NotImplementedError

    @abstractmethod
    async def register_heartbeater(
        self, task_token: bytes, heartbeat: Callable[..., None]
    ) -> SharedHeartbeatSender:
        """Route heartbeats for `task_token` to `heartbeat`; returns a picklable sender."""
        raise NotImplementedError

    @abstractmethod
    async def unregister_heartbeater(self, task_token: bytes) -> None:
        """Stop routing heartbeats for `task_token`, after flushing queued ones."""
        raise NotImplementedError


# Sentinel details that tell the queue reader a heartbeater is done.
_HEARTBEAT_COMPLETE = ["__perdure_heartbeat_complete__"]


class _MultiprocessingSharedStateManager(SharedStateManager):
    def __init__(
        self,
        mgr: multiprocessing.managers.SyncManager,
        queue_poller_executor: concurrent.futures.Executor,
    ) -> None:
        self._mgr = mgr
        self._queue_poller_executor = queue_poller_executor
        self._heartbeat_queue: queue.Queue[tuple[bytes, Sequence[Any]]] = mgr.Queue(1000)
        self._heartbeats: dict[bytes, Callable[..., None]] = {}
        self._completions: dict[bytes, Callable[[], None]] = {}
        self._lock = threading.Lock()
        self._reader_running = False

    def new_event(self) -> threading.Event:
        return self._mgr.Event()

    async def register_heartbeater(
        self, task_token: bytes, heartbeat: Callable[..., None]
    ) -> SharedHeartbeatSender:
        with self._lock:
            self._heartbeats[task_token] = heartbeat
            start_reader = not self._reader_running
            self._reader_running = True
        if start_reader:
            self._queue_poller_executor.submit(self._read_heartbeats)
        return _MultiprocessingSharedHeartbeatSender(self._heartbeat_queue)

    async def unregister_heartbeater(self, task_token: bytes) -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        def complete() -> None:
            loop.call_soon_threadsafe(done.set)

        self._completions[task_token] = complete
        try:
            # The sentinel goes behind the heartbeats already queued: they flush first.
            await loop.run_in_executor(
                None, self._heartbeat_queue.put, (task_token, _HEARTBEAT_COMPLETE), True, 5
            )
            await done.wait()
        finally:
            self._completions.pop(task_token, None)

    def _read_heartbeats(self) -> None:
        while True:
            with self._lock:
                if not self._heartbeats:
                    self._reader_running = False
                    return
            try:
                task_token, details = self._heartbeat_queue.get(True, 0.5)
            except queue.Empty:
                continue
            except Exception:
                logger.exception("Failed reading the multiprocess heartbeat queue")
                with self._lock:
                    self._reader_running = False
                return
            if details == _HEARTBEAT_COMPLETE:
                with self._lock:
                    self._heartbeats.pop(task_token, None)
                completion = self._completions.get(task_token)
                if completion is not None:
                    completion()
                continue
            heartbeat = self._heartbeats.get(task_token)
            if heartbeat is not None:
                try:
                    heartbeat(*details)
                except Exception:
                    logger.exception("Failed forwarding a multiprocess heartbeat")


class _MultiprocessingSharedHeartbeatSender(SharedHeartbeatSender):
    def __init__(self, heartbeat_queue: queue.Queue[tuple[bytes, Sequence[Any]]]) -> None:
        self._heartbeat_queue = heartbeat_queue

    def send_heartbeat(self, task_token: bytes, *details: Any) -> None:
        # Blocks while the queue is full, so a heartbeat is never dropped silently.
        self._heartbeat_queue.put((task_token, details), True, 30)


def _execute_sync_activity(
    info: perdure.activity.Info,
    heartbeat: Callable[..., None] | SharedHeartbeatSender,
    cancel_thread_raiser: _ThreadExceptionRaiser | None,
    cancelled_event: threading.Event,
    worker_shutdown_event: threading.Event,
    payload_converter_class_or_instance: PayloadConverterClassOrInstance,
    runtime_metric_meter: perdure.common.MetricMeter | None,
    cancellation_details: perdure.activity._ActivityCancellationDetailsHolder,
    fn: Callable[..., Any],
    *args: Any,
) -> Any:
    """Run a sync activity in the executor's thread or process, with its context set.

    Top-level so that process executors can pickle it.
    """
    heartbeat_fn: Callable[..., None]
    if isinstance(heartbeat, SharedHeartbeatSender):
        sender = heartbeat

        def heartbeat_fn(*details: Any) -> None:
            sender.send_heartbeat(info.task_token, *details)

    else:
        heartbeat_fn = heartbeat
    perdure.activity._Context.set(
        perdure.activity._Context(
            info=lambda: info,
            heartbeat=heartbeat_fn,
            cancelled_event=perdure.activity._CompositeEvent(
                thread_event=cancelled_event, async_event=None
            ),
            worker_shutdown_event=perdure.activity._CompositeEvent(
                thread_event=worker_shutdown_event, async_event=None
            ),
            shield_thread_cancel_exception=(
                None if cancel_thread_raiser is None else cancel_thread_raiser.shielded
            ),
            payload_converter_class_or_instance=payload_converter_class_or_instance,
            runtime_metric_meter=runtime_metric_meter,
            client=None,
            cancellation_details=cancellation_details,
        )
    )
    if cancel_thread_raiser is None:
        return fn(*args)
    with cancel_thread_raiser.active_thread():
        return fn(*args)


# The exception type raised in threads on cancellation.
_THREAD_CANCEL_EXCEPTION: type[BaseException] = perdure.exceptions.CancelledError
