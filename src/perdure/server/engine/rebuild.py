"""Rebuild a run's mutable state from its history events.

Reset needs the state a run had at an earlier point, and history is the only record of
it. Rebuilding is a loop over the same appliers the live transitions use
(engine/apply.py), so it gives the pending activities, timers, children, external
requests and updates, the signal and cancellation bookkeeping, search attributes and memo,
and the event counters exactly as the live run had them.

What history does not hold cannot come back (apply.NOT_REBUILT): whether a pending
activity's attempt had started, retry attempts, the sticky queue, request ids of starts,
children and external requests, user metadata. The caller (engine/reset.py) takes those
from the live state where it needs them.
"""

from __future__ import annotations

from collections.abc import Iterable

from perdure.server.engine.apply import HistoryEvent, HistoryMismatch, apply, initial_state
from perdure.server.engine.state import ExecutionState


def rebuild(
    events: Iterable[HistoryEvent], *, namespace_id: str, workflow_id: str, run_id: str
) -> ExecutionState:
    """The state of run `run_id` right after the last of `events` (which start at 1)."""
    st: ExecutionState | None = None
    for event in events:
        expected = 1 if st is None else st.next_event_id
        if event.event_id != expected:
            raise HistoryMismatch(f"event {event.event_id} where event {expected} was expected")
        if st is None:
            st = initial_state(
                event, namespace_id=namespace_id, workflow_id=workflow_id, run_id=run_id
            )
        else:
            apply(st, event)
        st.next_event_id = event.event_id + 1
        st.history_size_bytes += event.ByteSize()
    if st is None:
        raise HistoryMismatch("a history starts with WorkflowExecutionStarted")
    return st
