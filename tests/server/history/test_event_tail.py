"""The per-run tail of recent events that saves history reads from the store."""

from __future__ import annotations

from temporalio.api.history.v1 import message_pb2 as history_pb2

from perdure.server.engine.state import ExecutionState
from perdure.server.history.service import EVENT_TAIL, CachedRun


def _events(first: int, last: int) -> list[history_pb2.HistoryEvent]:
    return [history_pb2.HistoryEvent(event_id=i) for i in range(first, last + 1)]


def _run() -> CachedRun:
    state = ExecutionState("ns", "wf", "run", "run", "T", "tq", "req", 0, 0, 0)
    return CachedRun(state, 1)


def test_tail_grows_with_contiguous_commits_and_answers_ranges() -> None:
    first = _run()
    first.carry_events(None, _events(1, 3))
    second = _run()
    second.carry_events(first, _events(4, 9))
    hit = second.cached_events(2, 9)
    assert hit is not None and [e.event_id for e in hit] == list(range(2, 10))
    assert second.cached_events(5, 10) is None, "beyond the tail"


def test_tail_is_bounded_and_restarts_after_a_gap() -> None:
    run = _run()
    run.carry_events(None, _events(1, EVENT_TAIL + 10))
    assert run.events_from == 11 and len(run.events) == EVENT_TAIL
    assert run.cached_events(1, 5) is None, "dropped from the front"
    later = _run()
    later.carry_events(run, _events(EVENT_TAIL + 20, EVENT_TAIL + 21))
    assert later.events_from == EVENT_TAIL + 20, "a gap starts a new tail"
    assert later.cached_events(EVENT_TAIL + 15, EVENT_TAIL + 21) is None


def test_a_commit_without_events_keeps_the_tail() -> None:
    run = _run()
    run.carry_events(None, _events(1, 2))
    again = _run()
    again.carry_events(run, [])
    hit = again.cached_events(1, 2)
    assert hit is not None and len(hit) == 2
