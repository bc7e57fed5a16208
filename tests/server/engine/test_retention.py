"""engine/retention.py: when closed runs are deleted."""

from __future__ import annotations

from perdure.server.engine import requests, retention
from perdure.server.engine.deadlines import TimerKind, TimerRef
from perdure.server.engine.execution import Execution
from perdure.server.engine.state import ParentInfo
from tests.server.engine.helpers import SECOND, started

HOUR = 3600 * SECOND
DELETE_KEY = TimerRef(TimerKind.DELETE_EXECUTION).key("run-1")


def _delete_timers(ex: Execution) -> list[int]:
    return [row.fire_time for row in ex.out.timers_added if row.key == DELETE_KEY]


def test_a_closing_run_gets_its_deletion_timer() -> None:
    h = started()

    def close(ex: Execution) -> None:
        requests.terminate(ex, reason="r", details=None, identity="me")
        retention.schedule_deletion(ex, 24 * HOUR)

    h.step(close, advance=5 * SECOND)
    assert h.last is not None
    assert _delete_timers(h.last) == [h.state.close_time + 24 * HOUR]
    # Later transitions of the closed run do not set it again.
    h.step(lambda ex: retention.schedule_deletion(ex, 24 * HOUR))
    assert _delete_timers(h.last) == []


def test_running_runs_have_no_deletion_timer() -> None:
    h = started()
    h.step(lambda ex: retention.schedule_deletion(ex, HOUR))
    assert h.last is not None and _delete_timers(h.last) == []


def test_delete_request_terminates_first_and_its_time_wins() -> None:
    h = started()

    def delete(ex: Execution) -> None:
        retention.close_for_deletion(ex, "deleter")
        retention.delete_at(ex, ex.now + 7 * SECOND)
        retention.schedule_deletion(ex, HOUR)  # what the commit does for every close

    h.step(delete, advance=SECOND)
    assert h.types()[-1] == "WORKFLOW_EXECUTION_TERMINATED"
    attrs = h.history[-1].workflow_execution_terminated_event_attributes
    assert attrs.reason == retention.DELETE_REASON
    assert h.last is not None and _delete_timers(h.last) == [h.now + 7 * SECOND]
    # Closing an already closed run for deletion changes nothing.
    h.step(lambda ex: retention.close_for_deletion(ex, "again"))
    assert h.last.out.events == []


def test_runs_with_a_parent_wait_for_their_close_work() -> None:
    h = started()
    h.plant(lambda st: setattr(st, "parent", ParentInfo("ns", "ns-id", "parent", "parent-run", 5)))
    h.step(lambda ex: requests.terminate(ex, reason="", details=None, identity=""))
    closed_at = h.state.close_time
    assert retention.earliest_deletion(h.state) == closed_at + retention.OUTBOX_GRACE
    ref = retention.DELETE_TIMER
    h.step(lambda ex: retention.fire_deletion(ex, ref), advance=SECOND)
    assert h.last is not None
    assert h.last.out.timers_claimed == [DELETE_KEY]
    assert _delete_timers(h.last) == [closed_at + retention.OUTBOX_GRACE]
    h.state.parent = None
    assert retention.earliest_deletion(h.state) == closed_at
