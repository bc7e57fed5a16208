"""How long a history may grow, as Temporal limits it: warn, then terminate.

After every transition of a running workflow the history's event count and size are
checked against the namespace's limits (Temporal's dynamic config limit.historyCount.*
and limit.historySize.*; its defaults below). Above a warn limit the server logs; above
an error limit the transition is discarded and the run is terminated instead, with
Temporal's reason and identity, and the caller gets InvalidArgument with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from perdure.server.engine.state import ExecutionState

MB = 1024 * 1024

HISTORY_COUNT_EXCEEDED = "Workflow history count exceeds limit."
HISTORY_SIZE_EXCEEDED = "Workflow history size exceeds limit."
TERMINATE_IDENTITY = "history-service"
"""The identity Temporal's history service records on the terminations it makes."""


@dataclass(frozen=True, slots=True)
class HistoryLimits:
    count_warn: int = 10_240
    count_error: int = 51_200
    size_warn: int = 10 * MB
    size_error: int = 50 * MB


DEFAULT = HistoryLimits()


@dataclass(frozen=True, slots=True)
class HistoryCheck:
    terminate_reason: str | None = None
    """Set when an error limit is passed: terminate the run with this reason."""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HistoryMark:
    """A history's length: event count and bytes."""

    count: int
    size: int

    @classmethod
    def of(cls, state: ExecutionState) -> HistoryMark:
        return cls(state.next_event_id - 1, state.history_size_bytes)


def check(before: HistoryMark, state: ExecutionState, limits: HistoryLimits) -> HistoryCheck:
    """Judge a transition that took a run's history from `before` to `state`.

    Temporal's rules, as its dev server shows them: the size limit judges the history
    as it stood before the transition (its size is updated when a transition is saved);
    the count limit judges the history the transition leaves, less one event (its count
    reads the id the transition's last event took). Only a run still running after the
    transition is terminated. A warning is given once, by the transition that crosses
    the warn limit.
    """
    after = HistoryMark.of(state)
    if state.running:
        if before.size > limits.size_error:
            return HistoryCheck(HISTORY_SIZE_EXCEEDED)
        if after.count - 1 > limits.count_error:
            return HistoryCheck(HISTORY_COUNT_EXCEEDED)
    warnings = []
    if after.count > limits.count_warn >= before.count:
        warnings.append(f"history count exceeds warn limit ({after.count} > {limits.count_warn})")
    if after.size > limits.size_warn >= before.size:
        warnings.append(f"history size exceeds warn limit ({after.size} > {limits.size_warn})")
    return HistoryCheck(None, tuple(warnings))
