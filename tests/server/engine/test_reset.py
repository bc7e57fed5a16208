"""engine/reset.py: the reset run's events, rebuilt state, task rows and deadlines."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.enums.v1 import reset_pb2 as reset_enums
from temporalio.api.enums.v1 import update_pb2 as update_enums
from temporalio.api.history.v1 import message_pb2 as history_pb2
from temporalio.api.update.v1 import message_pb2 as update_pb2

from perdure.server.engine import activities, requests, reset, updates
from perdure.server.engine.deadlines import TimerKind, TimerRef, activity_task_key
from perdure.server.engine.execution import Execution
from perdure.server.engine.retry import duration
from perdure.server.errors import InvalidArgument
from tests.server.engine.helpers import (
    SECOND,
    Harness,
    assert_rebuilds,
    complete_workflow,
    payloads,
    schedule_activity,
    start_timer,
    started,
)
from tests.server.engine.test_children import start_child
from tests.server.engine.test_updates import message, protocol_command
from tests.server.engine.test_updates import request as update_request

NEW_RUN = "run-2"


def signal(name: str, request_id: str) -> Callable[[Execution], None]:
    attrs = history_pb2.WorkflowExecutionSignaledEventAttributes(
        signal_name=name, input=payloads(b"1"), request_id=request_id
    )
    return lambda ex: requests.signal(ex, attrs)


def base_run() -> tuple[Harness, int]:
    """Activity, timer and child pending at the second task; later a signal and the end."""
    h = started(workflow_run_timeout=duration(3600 * SECOND))
    h.start_wft()
    h.complete_wft(
        schedule_activity("1", schedule_to_close_timeout=duration(600 * SECOND)),
        start_timer("t", 30),
        start_child("kid"),
    )
    h.step(signal("before", "s1"), advance=SECOND)
    h.start_wft()
    h.complete_wft()
    finish = h.history[-1].event_id
    sched = next(iter(h.state.activities))
    h.step(lambda ex: activities.start(ex, sched, 1, identity="w", request_id="r"))
    h.step(lambda ex: activities.complete(ex, ex.state.activities[sched], None, "w"))
    h.step(signal("after", "s2"), advance=SECOND)
    h.start_wft()
    h.complete_wft(complete_workflow())
    assert not h.state.running
    return h, finish


def test_reset_run_repeats_history_then_fails_the_task_and_reapplies_signals() -> None:
    h, finish = base_run()
    now = h.now + 5 * SECOND
    prefix = reset.reset_prefix(h.history, finish, now)
    assert [e.event_id for e in prefix] == list(range(1, finish))
    later = [e for e in h.history if e.event_id >= finish]
    signals = reset.to_reapply(later, reset_enums.RESET_REAPPLY_TYPE_UNSPECIFIED, [])
    assert [s.signal_name for s in signals] == ["after"]  # type: ignore[union-attr]
    ids = iter(["c1", "c2"])
    ex = reset.create_reset_run(
        h.state, prefix, signals, new_run_id=NEW_RUN, request_id="reset-1", reason="why",
        now=now, namespace="default", new_id=lambda: next(ids),
    )  # fmt: skip
    st = ex.state
    assert_rebuilds(st, ex.out.events)
    types = [e.event_type for e in ex.out.events]
    assert ex.out.events[: len(prefix)] == prefix
    assert types[len(prefix) :] == [
        et.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        et.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
        et.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    ]
    failed = ex.out.events[len(prefix)].workflow_task_failed_event_attributes
    assert (failed.base_run_id, failed.new_run_id, failed.failure.message) == (
        "run-1",
        NEW_RUN,
        "why",
    )
    assert [e.event_id for e in ex.out.events] == list(range(1, st.next_event_id))
    # The rebuilt state: what was pending at the reset point, as a new run started now.
    assert st.run_id == NEW_RUN and st.first_execution_run_id == "run-1"
    assert st.running and st.start_time == now and st.original_start_time == h.state.start_time
    assert st.signal_count == 2 and st.signal_request_ids == ["s1", "s2"]
    assert st.request_ids["reset-1"] == finish
    assert st.run_expiration_time == now + 3600 * SECOND
    (sched,) = st.activities
    (initiated,) = st.children
    # Request ids history does not hold come from the base run (the child's start).
    assert st.children[initiated].create_request_id == h.state.children[initiated].create_request_id
    # Task rows and deadlines for all of it.
    assert {row.key for row in ex.out.tasks_added} == {
        activity_task_key(NEW_RUN, sched, 1),
        f"{NEW_RUN}/w/{st.workflow_task.seq}",  # type: ignore[union-attr]
    }
    timers = {row.ref: row.fire_time for row in ex.out.timers_added}
    activity = st.activities[sched]
    assert timers == {
        TimerRef(TimerKind.ACTIVITY_SCHEDULE_TO_CLOSE, sched): activity.first_scheduled_time
        + 600 * SECOND,
        TimerRef(TimerKind.USER_TIMER, st.timers["t"].started_event_id): st.timers["t"].expiry_time,
        TimerRef(TimerKind.ACTIVITY_SCHEDULE_TO_START, sched, 1): now
        + activity.schedule_to_start_timeout,
        TimerRef(TimerKind.START_CHILD, initiated): now,
        TimerRef(TimerKind.WORKFLOW_RUN_TIMEOUT): now + 3600 * SECOND,
    }
    assert all(row.run_id == NEW_RUN for row in ex.out.timers_added)


def test_reapply_can_be_turned_off() -> None:
    h, finish = base_run()
    later = [e for e in h.history if e.event_id >= finish]
    none = reset_enums.RESET_REAPPLY_TYPE_NONE
    assert reset.to_reapply(later, none, []) == []
    exclude = [reset_enums.RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL]
    assert reset.to_reapply(later, reset_enums.RESET_REAPPLY_TYPE_SIGNAL, exclude) == []


def test_reset_points_must_end_a_workflow_task() -> None:
    h, finish = base_run()
    for bad in (0, 1, h.state.next_event_id):
        with pytest.raises(InvalidArgument, match="must be > 1"):
            reset.reset_prefix(h.history, bad, h.now)
    with pytest.raises(InvalidArgument, match="must be WorkflowTaskStarted"):
        reset.reset_prefix(h.history, finish + 1, h.now)  # after WorkflowTaskCompleted


def test_the_running_run_is_terminated_and_linked() -> None:
    h = started()
    h.start_wft()
    h.step(signal("buffered", "b1"))
    assert [e.event_type for e in reset.buffered_signals(h.state)] == [
        et.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]

    def replace(ex: Execution) -> None:
        reset.replace_run(ex, "because")
        reset.link(ex, NEW_RUN)

    h.step(replace)
    assert not h.state.running and h.state.reset_run_id == NEW_RUN
    closing = h.history[-1].workflow_execution_terminated_event_attributes
    assert (closing.reason, closing.identity) == ("because", reset.RESETTER_IDENTITY)


def test_updates_accepted_after_the_reset_point_come_back_admitted() -> None:
    # As Temporal (found by difftest): an UpdateAdmitted event with the request, which the
    # worker reads from history (no protocol message); its acceptance does not repeat it.
    h = started()
    h.start_wft()
    h.complete_wft()
    finish = h.history[-1].event_id
    h.step(lambda ex: updates.admit(ex, update_request("u1")))
    h.start_wft()
    accept = update_pb2.Acceptance(accepted_request_message_id="u1/request")
    h.complete_wft(protocol_command("accept"), messages=[message("accept", "u1", accept)])
    later = [e for e in h.history if e.event_id >= finish]
    reapplied = reset.to_reapply(later, reset_enums.RESET_REAPPLY_TYPE_UNSPECIFIED, [])
    assert reset.to_reapply(later, reset_enums.RESET_REAPPLY_TYPE_SIGNAL, []) == []
    prefix = reset.reset_prefix(h.history, finish, h.now)
    ex = reset.create_reset_run(
        h.state, prefix, reapplied, new_run_id=NEW_RUN, request_id="reset-1", reason="why",
        now=h.now, namespace="default", new_id=lambda: "id",
    )  # fmt: skip
    admitted = ex.out.events[len(prefix) + 1]
    assert admitted.event_type == et.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED
    attrs = admitted.workflow_execution_update_admitted_event_attributes
    assert attrs.request.meta.update_id == "u1"
    assert attrs.origin == update_enums.UPDATE_ADMITTED_EVENT_ORIGIN_REAPPLY
    assert_rebuilds(ex.state, ex.out.events)
    wt = ex.state.workflow_task
    assert wt is not None
    assert updates.request_messages(ex, wt) == [], "the request is in history"


def test_an_acceptance_after_its_admitted_event_is_not_reapplied_again() -> None:
    # Found by difftest: a second reset reapplied such an acceptance as an update with no
    # request, which the official SDK's worker fails on ("Failed to create protocol message").
    admitted = history_pb2.HistoryEvent(event_type=et.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED)
    admitted.workflow_execution_update_admitted_event_attributes.request.meta.update_id = "u1"
    accepted = history_pb2.HistoryEvent(event_type=et.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
    accepted.workflow_execution_update_accepted_event_attributes.protocol_instance_id = "u1"
    reapplied = reset.to_reapply(
        [admitted, accepted], reset_enums.RESET_REAPPLY_TYPE_UNSPECIFIED, []
    )
    assert len(reapplied) == 1
