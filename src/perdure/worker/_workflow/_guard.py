"""The determinism guard: while workflow code runs, the usual sources of non-determinism fail.

Light by design, no module re-import sandbox: a handful of process-wide patches (the wall
clock, ``time.sleep``, module-level ``random``, ``uuid``, ``os.urandom``, threads,
``datetime.now``) and one audit hook (files opened for anything but reading source,
sockets, subprocesses) consult one flag, :py:data:`perdure.workflow._unsafe.guard`, which the
workflow event loop raises only while it runs workflow callbacks. Outside workflow code the
cost is one attribute read per patched call. Each refusal names the workflow API to use.
"""

from __future__ import annotations

import _thread
import ctypes
import datetime
import gc
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from perdure.workflow import NondeterminismError
from perdure.workflow._unsafe import guard


class DeterminismGuardError(NondeterminismError):
    """Workflow code used something non-deterministic (fails the task; fix the code)."""


def _refuse(what: str, instead: str) -> DeterminismGuardError:
    return DeterminismGuardError(
        f"Workflow {guard.workflow} called {what}, which is not deterministic; "
        f"use {instead} instead (or move it into an activity)"
    )


_ALLOWED_CALLERS = frozenset({"logging"})
"""Modules whose use of the clock is not workflow logic (log records carry a timestamp)."""


def _guarded(fn: Callable[..., Any], what: str, instead: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if (
            guard.active
            and _get_ident() == guard.thread
            and sys._getframe(1).f_globals.get("__name__") not in _ALLOWED_CALLERS
        ):
            raise _refuse(what, instead)
        return fn(*args, **kwargs)

    wrapper.__name__ = getattr(fn, "__name__", what)
    wrapper.__qualname__ = getattr(fn, "__qualname__", what)
    wrapper.__doc__ = getattr(fn, "__doc__", None)
    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper


_RANDOM_FUNCTIONS = (
    "random", "uniform", "randint", "randrange", "choice", "choices", "shuffle", "sample",
    "getrandbits", "randbytes", "gauss", "normalvariate", "lognormvariate", "expovariate",
    "vonmisesvariate", "gammavariate", "triangular", "betavariate", "paretovariate",
    "weibullvariate", "binomialvariate",
)  # fmt: skip

_SOURCE_SUFFIXES = (".py", ".pyc", ".pyi", ".pyo", ".so", ".pth", ".pyd")
_AUDIT_REFUSALS = {
    "socket.connect": ("a socket connection", "an activity"),
    "socket.bind": ("a socket bind", "an activity"),
    "socket.getaddrinfo": ("a DNS lookup", "an activity"),
    "socket.sendto": ("a socket send", "an activity"),
    "subprocess.Popen": ("a subprocess", "an activity"),
    "os.system": ("os.system()", "an activity"),
    "os.exec": ("os.exec*()", "an activity"),
    "os.posix_spawn": ("a process spawn", "an activity"),
    "os.spawn": ("a process spawn", "an activity"),
    "os.fork": ("os.fork()", "an activity"),
}

_installed = False
_lock = threading.Lock()
_get_ident = _thread.get_ident
_deadlock_lock = threading.Lock()
_DEADLOCK_CHECK_INTERVAL = 0.25


DEADLOCK_TIMEOUT = 2.0
"""Seconds workflow code may run without yielding before its task fails (not in debug mode)."""


class PotentialDeadlockError(Exception):
    """Workflow code ran too long without yielding (a busy loop or blocking call)."""

    def __init__(self, *args: object) -> None:
        """Raised into the stuck workflow by the watchdog thread (hence no arguments)."""
        super().__init__(
            *(
                args
                or (
                    f"[TMPRL1101] Potential deadlock detected: workflow {guard.workflow} "
                    f"didn't yield within {DEADLOCK_TIMEOUT:g} second(s)",
                )
            )
        )


def leave() -> None:
    """Workflow code yielded: lower the guard, and drop a deadlock error not yet raised."""
    with _deadlock_lock:
        guard.active = False
        if guard.deadline < 0:  # an error was injected: clear it if still pending
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(_get_ident()), None)
        guard.deadline = 0.0


def _watch_deadlocks() -> None:
    sleep = time.sleep.__wrapped__ if hasattr(time.sleep, "__wrapped__") else time.sleep
    while True:
        sleep(_DEADLOCK_CHECK_INTERVAL)
        with _deadlock_lock:
            if not guard.active or guard.deadline <= 0 or time.monotonic() < guard.deadline:
                continue
            guard.deadline = -1.0
            error = PotentialDeadlockError
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(guard.thread), ctypes.py_object(error)
            )


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not guard.active or _get_ident() != guard.thread:
        return
    refusal = _AUDIT_REFUSALS.get(event)
    if refusal is not None:
        raise _refuse(*refusal)
    if event == "open":
        path, mode = args[0], args[1] if len(args) > 1 else "r"
        reading = mode is None or (isinstance(mode, str) and not any(c in mode for c in "wax+"))
        if reading and (not isinstance(path, str | bytes) or _is_source(path)):
            return
        raise _refuse(f"open({path!r}, {mode!r})", "an activity for file I/O")


def _is_source(path: str | bytes) -> bool:
    text = os.fsdecode(path)
    return text.endswith(_SOURCE_SUFFIXES)


def _patch_type_attribute(cls: type, name: str, value: Any) -> bool:
    """Replace a method of a C type (its __dict__ is read-only from Python)."""
    try:
        referents = gc.get_referents(cls.__dict__)
        if not referents or not isinstance(referents[0], dict):
            return False
        referents[0][name] = value
        ctypes.pythonapi.PyType_Modified(ctypes.py_object(cls))
        return True
    except (AttributeError, TypeError, ValueError):
        return False


def _guard_classmethod(cls: type, name: str, instead: str) -> None:
    original = cls.__dict__.get(name)
    if original is None:
        return
    label = f"{cls.__name__}.{name}()"

    def guarded(klass: type, *args: Any, **kwargs: Any) -> Any:
        if guard.active and _get_ident() == guard.thread:
            raise _refuse(label, instead)
        return original.__get__(None, klass)(*args, **kwargs)

    guarded.__name__ = name
    _patch_type_attribute(cls, name, classmethod(guarded))


def install() -> None:
    """Install the guard once per process (idempotent; inert outside workflow code)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
        clock = "workflow.now() or workflow.time()"
        time.time = _guarded(time.time, "time.time()", clock)
        time.time_ns = _guarded(time.time_ns, "time.time_ns()", "workflow.time_ns()")
        time.sleep = _guarded(
            time.sleep, "time.sleep()", "asyncio.sleep() or workflow.sleep() (durable timers)"
        )
        for name in _RANDOM_FUNCTIONS:
            fn = getattr(random, name, None)
            if fn is not None:
                setattr(random, name, _guarded(fn, f"random.{name}()", "workflow.random()"))
        uuid.uuid4 = _guarded(uuid.uuid4, "uuid.uuid4()", "workflow.uuid4()")
        uuid.uuid1 = _guarded(uuid.uuid1, "uuid.uuid1()", "workflow.uuid4()")
        os.urandom = _guarded(os.urandom, "os.urandom()", "workflow.random()")
        threading.Thread.start = _guarded(  # type: ignore[method-assign]
            threading.Thread.start, "threading.Thread.start()", "asyncio tasks"
        )
        for name in ("now", "utcnow", "today"):
            _guard_classmethod(datetime.datetime, name, clock)
        _guard_classmethod(datetime.date, "today", clock)
        sys.addaudithook(_audit)
        watchdog = threading.Thread(
            target=_watch_deadlocks, name="perdure-workflow-deadlock-watchdog", daemon=True
        )
        threading.Thread.start.__wrapped__(watchdog)  # type: ignore[attr-defined]
