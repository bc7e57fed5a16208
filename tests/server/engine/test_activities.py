"""engine/activities.py: activity timeout normalisation, case by case (Temporal's rules)."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums

from perdure.server.engine import activities
from perdure.server.engine.activities import ActivityTimeouts, normalized_timeouts
from perdure.server.engine.deadlines import TimerKind, TimerRef, first_of_equal
from perdure.server.engine.retry import SECOND, duration
from tests.server.engine.helpers import schedule_activity, started

S = 1_000_000_000


def timeouts(
    schedule_to_close: int = 0,
    schedule_to_start: int = 0,
    start_to_close: int = 0,
    heartbeat: int = 0,
) -> ActivityTimeouts:
    """Seconds -> ActivityTimeouts in nanoseconds."""
    return ActivityTimeouts(
        schedule_to_close * S, schedule_to_start * S, start_to_close * S, heartbeat * S
    )


CASES = [
    # (what the command asks, run timeout in s, what the activity gets)
    pytest.param(
        timeouts(start_to_close=10), 0, timeouts(start_to_close=10), id="start-to-close only"
    ),
    pytest.param(
        timeouts(start_to_close=10),
        60,
        timeouts(60, 60, 10),
        id="the run timeout stands in for schedule-to-close and schedule-to-start",
    ),
    pytest.param(
        timeouts(start_to_close=10, schedule_to_start=3),
        0,
        timeouts(0, 3, 10),
        id="schedule-to-start kept",
    ),
    pytest.param(
        timeouts(schedule_to_close=30), 0, timeouts(30, 30, 30), id="schedule-to-close fills in"
    ),
    pytest.param(
        timeouts(schedule_to_close=30, schedule_to_start=5, start_to_close=50),
        0,
        timeouts(30, 5, 30),
        id="schedule-to-close bounds start-to-close",
    ),
    pytest.param(
        timeouts(schedule_to_close=100), 60, timeouts(60, 60, 60), id="the run timeout bounds all"
    ),
    pytest.param(
        timeouts(start_to_close=90), 60, timeouts(60, 60, 60), id="start-to-close beyond the run"
    ),
    pytest.param(
        timeouts(start_to_close=10, schedule_to_start=120),
        60,
        timeouts(60, 60, 10),
        id="schedule-to-start beyond the run",
    ),
    pytest.param(
        timeouts(start_to_close=10, heartbeat=20),
        0,
        timeouts(0, 0, 10, 10),
        id="heartbeat bounded by start-to-close",
    ),
    pytest.param(
        timeouts(schedule_to_close=30, heartbeat=5),
        0,
        timeouts(30, 30, 30, 5),
        id="heartbeat kept",
    ),
    pytest.param(timeouts(), 60, None, id="neither start-to-close nor schedule-to-close"),
    pytest.param(
        timeouts(schedule_to_start=5, heartbeat=1), 0, None, id="schedule-to-start is not enough"
    ),
]


@pytest.mark.parametrize(("requested", "run_timeout", "expected"), CASES)
def test_activity_timeouts_are_normalised(
    requested: ActivityTimeouts, run_timeout: int, expected: ActivityTimeouts | None
) -> None:
    assert normalized_timeouts(requested, run_timeout * S) == expected


def test_equal_deadlines_of_an_activity_that_never_started_report_schedule_to_start() -> None:
    assert (
        first_of_equal([TimerKind.ACTIVITY_SCHEDULE_TO_CLOSE, TimerKind.ACTIVITY_SCHEDULE_TO_START])
        == TimerKind.ACTIVITY_SCHEDULE_TO_START
    )
    h = started()
    h.start_wft()
    h.complete_wft(
        schedule_activity("1", start_to_close=0, schedule_to_close_timeout=duration(2 * SECOND))
    )
    (sched,) = h.state.activities
    h.step(
        lambda ex: activities.fire_timer(ex, TimerRef(TimerKind.ACTIVITY_SCHEDULE_TO_CLOSE, sched)),
        advance=2 * SECOND,
    )
    event = h.history[-2]
    assert h.types()[-2:] == ["ACTIVITY_TASK_TIMED_OUT", "WORKFLOW_TASK_SCHEDULED"]
    attrs = event.activity_task_timed_out_event_attributes
    assert (
        attrs.failure.timeout_failure_info.timeout_type == wf_enums.TIMEOUT_TYPE_SCHEDULE_TO_START
    )
    assert attrs.retry_state == wf_enums.RETRY_STATE_TIMEOUT


def test_equal_deadlines_of_a_running_attempt_report_start_to_close() -> None:
    h = started()
    h.start_wft()
    h.complete_wft(
        schedule_activity(
            "1", start_to_close=2 * SECOND, schedule_to_close_timeout=duration(2 * SECOND)
        )
    )
    (sched,) = h.state.activities
    h.step(lambda ex: activities.start(ex, sched, 1, identity="w", request_id="r"))
    h.step(
        lambda ex: activities.fire_timer(ex, TimerRef(TimerKind.ACTIVITY_SCHEDULE_TO_CLOSE, sched)),
        advance=2 * SECOND,
    )
    timed_out = next(
        e for e in h.history if e.HasField("activity_task_timed_out_event_attributes")
    ).activity_task_timed_out_event_attributes
    assert timed_out.failure.timeout_failure_info.timeout_type == (
        wf_enums.TIMEOUT_TYPE_START_TO_CLOSE
    )
    assert timed_out.retry_state == wf_enums.RETRY_STATE_TIMEOUT
