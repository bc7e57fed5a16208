"""The deterministic event loop workflow code runs on.

An asyncio loop that only runs ready callbacks, in FIFO order, when the workflow instance
tells it to; time is workflow time; ``call_later`` becomes a durable timer (the instance
issues the StartTimer command and the FireTimer job makes the handle ready). No I/O,
no threads, no executors: any attempt raises with the workflow API to use instead.

Scheduling matches temporalio's loop callback for callback (a future's callbacks, a task's
steps), so concurrent workflow code interleaves exactly as it did under the official SDK
and histories replay in both directions.
"""

from __future__ import annotations

import _thread
import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from time import monotonic as _monotonic
from typing import Any, TypeVar, TypeVarTuple, Unpack

from perdure.worker._workflow._guard import leave as _leave_guard
from perdure.workflow._unsafe import guard

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")
_set_running_loop = asyncio.events._set_running_loop
_get_running_loop = asyncio.events._get_running_loop


class TimerHandle(asyncio.TimerHandle):
    """A durable timer; ``seq`` names its StartTimer command."""

    __slots__ = ("seq",)

    def __init__(
        self,
        seq: int,
        when: float,
        callback: Callable[..., Any],
        args: tuple[Any, ...],
        loop: WorkflowEventLoop,
        context: contextvars.Context | None,
    ) -> None:
        super().__init__(when, callback, args, loop, context)
        self.seq = seq


class WorkflowEventLoop(asyncio.AbstractEventLoop):
    """Runs workflow callbacks deterministically; hooks give timers to the instance."""

    def __init__(
        self,
        *,
        start_timer: Callable[[float, TimerHandle | None], int],
        cancel_timer: Callable[[TimerHandle], None],
        register_task: Callable[[asyncio.Task[Any]], None],
        runtime: object,
        name: str,
        deadlock_timeout: float = 0.0,
    ) -> None:
        self._ready: deque[asyncio.Handle] = deque()
        self._start_timer = start_timer
        self._cancel_timer = cancel_timer
        self._register_task = register_task
        self._perdure_runtime = runtime
        # temporalio.workflow's API looks for its runtime under this name: with it, code
        # and interceptors written against temporalio.workflow (the official
        # TracingInterceptor, for one) run on this loop, served by the same instance.
        setattr(self, "__temporal_workflow_runtime", runtime)
        self._name = name
        self.time_ns = 0
        self.deleting = False
        self._exception_handler: Any = None
        self.failure: BaseException | None = None
        self.check_conditions: Callable[[], bool] | None = None
        self.deadlock_timeout = deadlock_timeout

    # ------------------------------------------------------------------ running

    def run_once(self, *, check_conditions: bool) -> None:
        """Run ready callbacks until none is left (checking wait conditions in between)."""
        outer = _get_running_loop()
        _set_running_loop(self)
        self._enter_guard()
        try:
            ready = self._ready
            while ready:
                while ready:
                    ready.popleft()._run()
                    if self.failure is not None and not self.deleting:
                        failure, self.failure = self.failure, None
                        raise failure
                if check_conditions and self.check_conditions is not None:
                    self.check_conditions()
        finally:
            _leave_guard()
            _set_running_loop(outer)

    def run_outside(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` with this loop current but without running callbacks (init, queries)."""
        outer = _get_running_loop()
        _set_running_loop(self)
        self._enter_guard()
        try:
            return fn()
        finally:
            _leave_guard()
            _set_running_loop(outer)

    def _enter_guard(self) -> None:
        guard.thread = _thread.get_ident()
        guard.workflow = self._name
        guard.deadline = _monotonic() + self.deadlock_timeout if self.deadlock_timeout else 0.0
        guard.active = True

    # ------------------------------------------------------------------ asyncio API

    def call_soon(
        self,
        callback: Callable[[Unpack[_Ts]], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        """Queue a callback behind the ones already ready."""
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_later(
        self,
        delay: float,
        callback: Callable[[Unpack[_Ts]], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        """A durable timer of ``delay`` seconds that runs ``callback`` when it fires."""
        if delay < 0:
            raise RuntimeError("Attempting to schedule timer with negative delay")
        handle = TimerHandle(0, self.time() + delay, callback, args, self, context)
        handle.seq = self._start_timer(delay, handle)
        return handle

    def call_at(
        self,
        when: float,
        callback: Callable[[Unpack[_Ts]], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        """``call_later(when - time())``, rounded to the millisecond (asyncio.timeout uses it)."""
        return self.call_later(round(when - self.time(), 3), callback, *args, context=context)

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        if isinstance(handle, TimerHandle):
            self._cancel_timer(handle)

    def make_ready(self, handle: asyncio.Handle) -> None:
        """A timer fired: its callback runs in the next round."""
        self._ready.append(handle)

    def time(self) -> float:
        """Workflow time in seconds."""
        return self.time_ns / 1e9

    def create_future(self) -> asyncio.Future[Any]:
        """A future bound to this loop."""
        return asyncio.Future(loop=self)

    def create_task(
        self,
        coro: Coroutine[Any, Any, _T] | Generator[Any, None, _T],
        *,
        name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[_T]:
        """A task on this loop, tracked by the instance (so eviction can cancel it)."""
        task: asyncio.Task[_T] = asyncio.Task(coro, loop=self, name=name, context=context)
        self._register_task(task)
        return task

    def get_debug(self) -> bool:
        """Never in asyncio debug mode."""
        return False

    def is_running(self) -> bool:
        """Always running from workflow code's point of view."""
        return True

    def is_closed(self) -> bool:
        """Never closed while the run is alive."""
        return False

    def get_task_factory(self) -> None:
        """No task factory."""
        return None

    def get_exception_handler(self) -> Any:
        """The custom exception handler, if any."""
        return self._exception_handler

    def set_exception_handler(self, handler: Any) -> None:
        """Set a custom exception handler."""
        self._exception_handler = handler

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        """Log unhandled errors of callbacks and tasks (silently during eviction)."""
        if self.deleting:
            return
        exception = context.get("exception")
        logger.error(
            "%s (workflow %s)",
            context.get("message", "Unhandled exception in workflow event loop"),
            self._name,
            exc_info=(type(exception), exception, exception.__traceback__)
            if isinstance(exception, BaseException)
            else None,
        )

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        """Route to the custom handler, or log."""
        if self._exception_handler is not None:
            try:
                self._exception_handler(self, context)
                return
            except Exception:
                logger.exception("Exception in workflow loop exception handler")
        self.default_exception_handler(context)


def _forbidden(name: str) -> Callable[..., Any]:
    def refuse(self: WorkflowEventLoop, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"Workflow {self._name} called asyncio loop.{name}(): workflow code must be "
            "deterministic and cannot do I/O, run executors or subprocesses; use an activity "
            "(workflow.execute_activity) instead"
        )

    refuse.__name__ = name
    refuse.__doc__ = f"Refused: workflow code cannot use loop.{name}()."
    return refuse


for _name in (
    "run_forever",
    "run_until_complete",
    "stop",
    "close",
    "shutdown_asyncgens",
    "shutdown_default_executor",
    "call_soon_threadsafe",
    "run_in_executor",
    "set_default_executor",
    "getaddrinfo",
    "getnameinfo",
    "create_connection",
    "create_server",
    "sendfile",
    "start_tls",
    "create_unix_connection",
    "create_unix_server",
    "connect_accepted_socket",
    "create_datagram_endpoint",
    "connect_read_pipe",
    "connect_write_pipe",
    "subprocess_shell",
    "subprocess_exec",
    "add_reader",
    "remove_reader",
    "add_writer",
    "remove_writer",
    "sock_recv",
    "sock_recv_into",
    "sock_recvfrom",
    "sock_recvfrom_into",
    "sock_sendall",
    "sock_sendto",
    "sock_connect",
    "sock_accept",
    "sock_sendfile",
    "add_signal_handler",
    "remove_signal_handler",
):
    setattr(WorkflowEventLoop, _name, _forbidden(_name))
