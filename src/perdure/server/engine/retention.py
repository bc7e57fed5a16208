"""Retention and deletion: when a closed run is removed, and closing it first.

A run that closes gets a DELETE_EXECUTION timer at its close time plus the namespace's
retention period, written in the closing commit; firing it removes the run (state,
history, tasks, timers, visibility; the current row if it names the run).
DeleteWorkflowExecution removes a run at once, after terminating it if it still runs,
as Temporal does.

A run with a parent or children leaves cross-execution work in its closing commit
(notify the parent, apply the parent close policy). That work reads the closed run, so
its deletion waits a short grace period after the close.
"""

from __future__ import annotations

from perdure.server.engine import requests
from perdure.server.engine.deadlines import TimerKind, TimerRef
from perdure.server.engine.execution import Execution
from perdure.server.engine.state import ExecutionState, Nanos

DELETE_REASON = "Delete workflow execution"
OUTBOX_GRACE: Nanos = 10 * 1_000_000_000
"""How long after its close a run with a parent or children is kept for their sake."""

DELETE_TIMER = TimerRef(TimerKind.DELETE_EXECUTION)


def schedule_deletion(ex: Execution, retention: Nanos) -> None:
    """The run closed in this transition: it is deleted after `retention`."""
    st = ex.state
    key = DELETE_TIMER.key(st.run_id)
    if any(row.key == key for row in ex.out.timers_added):
        return  # a delete request already set it
    if ex.out.closed and not st.running and retention > 0:
        ex.add_timer(DELETE_TIMER, st.close_time + retention)


def close_for_deletion(ex: Execution, identity: str) -> None:
    """DeleteWorkflowExecution on a running run terminates it first."""
    if ex.state.running:
        requests.terminate(ex, reason=DELETE_REASON, details=None, identity=identity)


def earliest_deletion(st: ExecutionState) -> Nanos:
    """When a closed run may be removed without losing work its close left for others."""
    if st.parent is not None or st.children:
        return st.close_time + OUTBOX_GRACE
    return st.close_time


def delete_at(ex: Execution, fire_time: Nanos) -> None:
    """Move the run's deletion to `fire_time` (a delete request that has to wait)."""
    ex.remove_timer(DELETE_TIMER)
    ex.add_timer(DELETE_TIMER, fire_time)


def fire_deletion(ex: Execution, ref: TimerRef) -> None:
    """The deletion timer fired too early (see `earliest_deletion`): set it again."""
    ex.claim_timer(ref)
    if not ex.state.running:
        ex.add_timer(ref, max(earliest_deletion(ex.state), ex.now))
