"""Escape hatches for advanced workflow code, and the determinism guard's on/off switch.

The worker's determinism guard (perdure.worker._workflow._guard) blocks the wall clock,
module-level randomness, threads, sockets and file I/O only while ``guard.active`` is true,
which the workflow event loop sets around workflow code. Runtime code that legitimately
needs those (logging, stack traces) runs inside :py:func:`guard_suspended`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from perdure.workflow._runtime import _Runtime


class _GuardState:
    """Whether workflow code is running right now, and on which thread.

    Only that thread is guarded: activities running in thread pools at the same time keep
    their clocks and files.
    """

    __slots__ = ("active", "deadline", "thread", "workflow")

    def __init__(self) -> None:
        self.active = False
        self.thread = 0
        self.workflow = ""
        self.deadline = 0.0
        """Monotonic time by which workflow code must yield (0: no deadlock detection)."""


guard = _GuardState()
"""The determinism guard switch read by the worker's patched functions."""


@contextmanager
def guard_suspended() -> Iterator[None]:
    """Run a block without the determinism guard (restored afterwards)."""
    previous = guard.active
    guard.active = False
    try:
        yield
    finally:
        guard.active = previous


class unsafe:
    """Static helpers that workflow code should rarely need."""

    def __init__(self) -> None:
        raise NotImplementedError

    @staticmethod
    def in_sandbox() -> bool:
        """Always False: Perdure runs workflows without an import sandbox."""
        return False

    @staticmethod
    def is_replaying() -> bool:
        """Whether code is re-running recorded history (queries included)."""
        return _Runtime.current().workflow_is_replaying()

    @staticmethod
    def is_replaying_history_events() -> bool:
        """Whether code is re-running recorded history events (queries excluded)."""
        runtime = _Runtime.maybe_current()
        return runtime is not None and bool(
            getattr(
                runtime, "workflow_is_replaying_history_events", runtime.workflow_is_replaying
            )()
        )

    @staticmethod
    def is_read_only() -> bool:
        """Whether code runs in a query or update validator (no commands allowed)."""
        return bool(getattr(_Runtime.current(), "workflow_is_read_only", lambda: False)())

    @staticmethod
    def is_sandbox_unrestricted() -> bool:
        """Whether the determinism guard is currently lifted."""
        return not guard.active

    @staticmethod
    @contextmanager
    def sandbox_unrestricted() -> Iterator[None]:
        """Lift the determinism guard for a block (you promise it stays deterministic)."""
        with guard_suspended():
            yield

    @staticmethod
    def is_imports_passed_through() -> bool:
        """Always True: without an import sandbox every import is shared."""
        return True

    @staticmethod
    @contextmanager
    def imports_passed_through() -> Iterator[None]:
        """Accepted for compatibility; imports are never re-executed per workflow."""
        yield
