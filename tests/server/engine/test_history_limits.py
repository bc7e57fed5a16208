"""History limits judged on the history before a transition, as Temporal judges them."""

from __future__ import annotations

from temporalio.api.enums.v1 import workflow_pb2 as wf_enums

from perdure.server.engine.history_limits import (
    HISTORY_COUNT_EXCEEDED,
    HISTORY_SIZE_EXCEEDED,
    HistoryLimits,
    HistoryMark,
    check,
)
from perdure.server.engine.state import ExecutionState

LIMITS = HistoryLimits(count_warn=5, count_error=10, size_warn=500, size_error=1000)


def _state(count: int, size: int, *, running: bool = True) -> ExecutionState:
    st = ExecutionState("ns", "wf", "run", "run", "T", "tq", "req", 0, 0, 10)
    st.next_event_id = count + 1
    st.history_size_bytes = size
    if not running:
        st.status = wf_enums.WORKFLOW_EXECUTION_STATUS_COMPLETED
    return st


def test_the_count_is_judged_after_the_transition_less_one_event() -> None:
    assert check(HistoryMark(10, 0), _state(11, 0), LIMITS).terminate_reason is None
    assert check(HistoryMark(11, 0), _state(12, 0), LIMITS).terminate_reason == (
        HISTORY_COUNT_EXCEEDED
    )
    # A transition of two events from the limit (a timer fired, a workflow task
    # scheduled) is refused although the history was within the limit before it.
    assert check(HistoryMark(10, 0), _state(12, 0), LIMITS).terminate_reason == (
        HISTORY_COUNT_EXCEEDED
    )
    assert check(HistoryMark(3, 1000), _state(4, 1100), LIMITS).terminate_reason is None
    assert check(HistoryMark(4, 1001), _state(5, 1100), LIMITS).terminate_reason == (
        HISTORY_SIZE_EXCEEDED
    )


def test_the_size_is_judged_before_the_transition() -> None:
    verdict = check(HistoryMark(50, 5000), _state(51, 5100), LIMITS)
    assert verdict.terminate_reason == HISTORY_SIZE_EXCEEDED


def test_a_transition_that_closes_the_run_is_kept() -> None:
    verdict = check(HistoryMark(50, 5000), _state(51, 5100, running=False), LIMITS)
    assert verdict.terminate_reason is None


def test_warnings_come_once_when_the_warn_limit_is_crossed() -> None:
    assert check(HistoryMark(4, 0), _state(5, 0), LIMITS).warnings == ()
    crossing = check(HistoryMark(5, 400), _state(7, 600), LIMITS).warnings
    assert crossing == (
        "history count exceeds warn limit (7 > 5)",
        "history size exceeds warn limit (600 > 500)",
    )
    assert check(HistoryMark(7, 600), _state(8, 700), LIMITS).warnings == ()


def test_temporals_defaults() -> None:
    d = HistoryLimits()
    assert (d.count_warn, d.count_error) == (10_240, 51_200)
    assert (d.size_warn, d.size_error) == (10 * 1024 * 1024, 50 * 1024 * 1024)
