"""engine/activity_ops.py: operators pause, unpause and reset activities (no events)."""

from __future__ import annotations

import pytest
from temporalio.api.failure.v1 import message_pb2 as failure_pb2

from perdure.server.engine import activities, activity_ops
from perdure.server.engine.deadlines import TimerKind, TimerRef
from perdure.server.engine.retry import duration
from perdure.server.engine.state import ActivityState
from perdure.server.errors import NotFound
from tests.server.engine.helpers import SECOND, Harness, payloads, schedule_activity, started


def _scheduled() -> tuple[Harness, int]:
    h = started()
    h.start_wft()
    h.complete_wft(schedule_activity(heartbeat_timeout=duration(5 * SECOND)))
    return h, next(iter(h.state.activities))


def _failure() -> failure_pb2.Failure:
    failure = failure_pb2.Failure(message="stopped")
    failure.application_failure_info.type = "ActivityPause"
    return failure


def test_pausing_a_waiting_attempt_takes_it_off_the_queue_until_unpaused() -> None:
    h, sched = _scheduled()
    events = len(h.history)
    h.step(lambda ex: activity_ops.pause(ex, ex.state.activities[sched], identity="op", reason="r"))
    info = h.state.activities[sched]
    assert info.paused and info.state == ActivityState.BACKOFF
    assert h.last.out.tasks_removed  # type: ignore[union-attr]
    h.step(
        lambda ex: activity_ops.unpause(
            ex, ex.state.activities[sched], reset_attempts=False, reset_heartbeat=False
        )
    )
    assert not h.state.activities[sched].paused
    assert h.state.activities[sched].state == ActivityState.SCHEDULED
    assert [t.task_queue for t in h.last.out.tasks_added]  # type: ignore[union-attr]
    assert len(h.history) == events, "operators write no events"


def test_a_paused_running_attempt_hears_it_and_its_retry_waits() -> None:
    h, sched = _scheduled()
    h.step(lambda ex: activities.start(ex, sched, 1, identity="w", request_id="x"))
    h.step(lambda ex: activity_ops.pause(ex, ex.state.activities[sched], identity="op", reason=""))
    answer = h.step(lambda ex: activities.heartbeat(ex, ex.state.activities[sched], None))
    assert answer.paused and not answer.reset and not answer.cancel_requested
    h.step(lambda ex: activities.fail(ex, ex.state.activities[sched], _failure(), identity="w"))
    info = h.state.activities[sched]
    assert info.state == ActivityState.BACKOFF and info.attempt == 2
    retry = TimerRef(TimerKind.ACTIVITY_RETRY, sched, 2)
    h.step(lambda ex: activities.fire_timer(ex, retry), advance=2 * SECOND)
    assert h.state.activities[sched].state == ActivityState.BACKOFF, "waits for the unpause"


def test_resetting_a_running_attempt_counts_again_from_one_and_drops_its_progress() -> None:
    h, sched = _scheduled()
    h.step(lambda ex: activities.start(ex, sched, 1, identity="w", request_id="x"))
    h.step(lambda ex: activities.heartbeat(ex, ex.state.activities[sched], payloads(b"1")))
    h.step(
        lambda ex: activity_ops.reset(
            ex, ex.state.activities[sched], reset_heartbeat=True, keep_paused=False
        )
    )
    assert h.state.activities[sched].heartbeat_details is None
    answer = h.step(lambda ex: activities.heartbeat(ex, ex.state.activities[sched], payloads(b"2")))
    assert answer.reset
    assert h.state.activities[sched].heartbeat_details is None
    h.step(lambda ex: activities.fail(ex, ex.state.activities[sched], _failure(), identity="w"))
    info = h.state.activities[sched]
    assert info.attempt == 2 and not info.reset_requested


def test_an_unknown_activity_is_not_found() -> None:
    h, _ = _scheduled()
    with pytest.raises(NotFound, match="invalid activityID"):
        h.step(lambda ex: activity_ops.select(ex, "nope", ""))
