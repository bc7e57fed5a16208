"""engine/rebuild.py: the state rebuilt from the events the engine wrote equals the live one.

Every engine test checks it at each step (tests/server/engine/helpers.py); these scenarios
go through every kind of pending work on purpose: the workflow task, activities, timers,
children, external requests, signals, cancellation, search attributes, memo, counters and
the run's config.
"""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.enums.v1 import command_type_pb2 as ct
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.enums.v1 import failed_cause_pb2 as causes
from temporalio.api.failure.v1 import message_pb2 as failure_pb2
from temporalio.api.history.v1 import message_pb2 as history_pb2
from temporalio.api.taskqueue.v1 import message_pb2 as tq_pb2

from perdure.server.engine import activities, children, commands, external, requests, workflow_task
from perdure.server.engine.apply import HistoryMismatch
from perdure.server.engine.deadlines import TimerKind, TimerRef
from perdure.server.engine.rebuild import rebuild
from perdure.server.engine.retry import duration
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
from tests.server.engine.test_external import cancel_external, signal_external


def check(h: Harness) -> None:
    """The harness checks every step already; this names the points the scenarios care about."""
    assert_rebuilds(h.state, h.history)
    assert sum(e.ByteSize() for e in h.history) == h.state.history_size_bytes


def signal(name: str, request_id: str = "") -> Any:
    attrs = history_pb2.WorkflowExecutionSignaledEventAttributes(
        signal_name=name, input=payloads(b'"x"'), identity="client", request_id=request_id
    )
    return lambda ex: requests.signal(ex, attrs)


def activity_id(h: Harness, name: str) -> int:
    return next(s for s, a in h.state.activities.items() if a.activity_id == name)


def timer_started_id(h: Harness, timer_id: str) -> int:
    return h.state.timers[timer_id].started_event_id


def upsert(**values: bytes) -> command_pb2.Command:
    attrs = command_pb2.UpsertWorkflowSearchAttributesCommandAttributes()
    for key, data in values.items():
        attrs.search_attributes.indexed_fields[key].CopyFrom(
            common_pb2.Payload(metadata={"encoding": b"json/plain"}, data=data)
        )
    return command_pb2.Command(
        command_type=ct.COMMAND_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        upsert_workflow_search_attributes_command_attributes=attrs,
    )


def cancel_activity(scheduled_event_id: int) -> command_pb2.Command:
    return command_pb2.Command(
        command_type=ct.COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK,
        request_cancel_activity_task_command_attributes=(
            command_pb2.RequestCancelActivityTaskCommandAttributes(
                scheduled_event_id=scheduled_event_id
            )
        ),
    )


def cancel_timer(timer_id: str) -> command_pb2.Command:
    return command_pb2.Command(
        command_type=ct.COMMAND_TYPE_CANCEL_TIMER,
        cancel_timer_command_attributes=command_pb2.CancelTimerCommandAttributes(timer_id=timer_id),
    )


def test_activities_timers_signals_and_cancellation() -> None:
    h = started(
        workflow_run_timeout=duration(3600 * SECOND),
        memo=common_pb2.Memo(fields={"m": common_pb2.Payload(data=b"1")}),
    )
    check(h)
    h.start_wft()
    check(h)
    retry = common_pb2.RetryPolicy(initial_interval=duration(SECOND), maximum_attempts=3)
    h.complete_wft(
        schedule_activity("1", retry_policy=retry, heartbeat_timeout=duration(5 * SECOND)),
        schedule_activity("2", schedule_to_close_timeout=duration(60 * SECOND)),
        start_timer("t1", 5),
        start_timer("t2", 60),
        upsert(CustomKeywordField=b'"a"'),
    )
    check(h)
    h.step(signal("sig", "req-1"), advance=SECOND)
    check(h)
    first = activity_id(h, "1")
    h.step(lambda ex: activities.start(ex, first, 1, identity="w", request_id="r1"))
    check(h)
    failure = failure_pb2.Failure(message="boom")
    h.step(
        lambda ex: activities.fail(ex, ex.state.activities[first], failure, identity="w"),
        advance=SECOND,
    )
    check(h)  # a retried attempt leaves no event: still the same pending activity
    h.step(lambda ex: activities.fire_timer(ex, TimerRef(TimerKind.ACTIVITY_RETRY, first, 2)))
    h.step(lambda ex: activities.start(ex, first, 2, identity="w", request_id="r2"))
    check(h)
    h.step(
        lambda ex: activities.complete(ex, ex.state.activities[first], payloads(b"1"), "w"),
        advance=SECOND,
    )
    check(h)
    t1 = timer_started_id(h, "t1")
    h.step(lambda ex: commands.fire_user_timer(ex, TimerRef(TimerKind.USER_TIMER, t1)), advance=3)
    check(h)
    second = activity_id(h, "2")
    h.step(lambda ex: activities.start(ex, second, 1, identity="w", request_id="r3"))
    h.start_wft()
    h.step(signal("during-task", "req-2"))  # buffered while the task runs
    h.complete_wft(cancel_activity(second), cancel_timer("t2"), upsert(B=b"true"))
    check(h)  # the started activity waits for its worker to confirm the cancellation
    assert h.state.activities[second].cancel_requested
    h.step(lambda ex: activities.cancel_completed(ex, ex.state.activities[second], None, "w"))
    check(h)
    h.step(
        lambda ex: requests.request_cancel(ex, request_id="c", identity="client"), advance=SECOND
    )
    check(h)
    h.start_wft()
    h.now += SECOND
    h.complete_wft(complete_workflow(b'"done"'))
    assert not h.state.running
    check(h)


def test_workflow_task_failures_timeouts_and_stickiness() -> None:
    h = started()
    h.start_wft()
    sticky = tq_pb2.StickyExecutionAttributes(
        worker_task_queue=tq_pb2.TaskQueue(name="sticky-q"),
        schedule_to_start_timeout=duration(5 * SECOND),
    )
    h.complete_wft(start_timer("t", 1), sticky_attributes=sticky)
    check(h)
    t = timer_started_id(h, "t")
    h.step(lambda ex: commands.fire_user_timer(ex, TimerRef(TimerKind.USER_TIMER, t)), advance=1)
    check(h)  # the next task is on the sticky queue
    assert h.state.workflow_task is not None and h.state.workflow_task.sticky
    h.start_wft()
    wt = h.state.workflow_task
    assert wt is not None
    h.step(
        lambda ex: workflow_task.fail(
            ex, wt, cause=causes.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE
        )
    )
    check(h)  # the retry is transient: not in history, not in the rebuilt state
    h.start_wft()
    wt = h.state.workflow_task
    assert wt is not None and wt.attempt == 2
    h.step(
        lambda ex: workflow_task.time_out(
            ex, TimerRef(TimerKind.WORKFLOW_TASK_START_TO_CLOSE, wt.seq)
        ),
        advance=10 * SECOND,
    )
    check(h)
    h.step(signal("wake"))  # a new event: the next attempt is recorded again
    h.start_wft()
    check(h)
    h.complete_wft(complete_workflow())
    check(h)


def test_children_and_external_requests() -> None:
    h = started()
    h.start_wft()
    h.complete_wft(
        start_child("child-1"),
        start_child("child-2"),
        signal_external("target", signal_name="ping"),
        cancel_external("other"),
    )
    check(h)
    one, two = sorted(h.state.children)
    sig = next(iter(h.state.external_signals))
    can = next(iter(h.state.external_cancels))
    h.step(
        lambda ex: children.record_started(
            ex,
            TimerRef(TimerKind.START_CHILD, one),
            run_id="child-run-1",
            namespace_id="ns",
            header=None,
        )
    )
    check(h)
    h.step(
        lambda ex: children.record_start_failed(
            ex,
            TimerRef(TimerKind.START_CHILD, two),
            cause=1,
            initiated=next(
                e for e in h.history if e.event_id == two
            ).start_child_workflow_execution_initiated_event_attributes,
        )
    )
    check(h)
    h.step(lambda ex: external.record_delivered(ex, TimerRef(TimerKind.SIGNAL_EXTERNAL, sig)))
    check(h)
    h.step(
        lambda ex: external.record_failed(
            ex,
            TimerRef(TimerKind.CANCEL_EXTERNAL, can),
            cause=1,
            workflow_task_completed_event_id=4,
        )
    )
    check(h)
    close = history_pb2.HistoryEvent(
        event_id=9,
        event_type=et.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        workflow_execution_completed_event_attributes=(
            history_pb2.WorkflowExecutionCompletedEventAttributes(result=payloads(b"2"))
        ),
    )
    closed = children.ChildClosed(one, "child-1", "child-run-1", "child-run-1", close)
    h.step(lambda ex: children.record_child_closed(ex, closed))
    check(h)
    assert not h.state.children and not h.state.external_signals


def test_a_history_that_the_engine_could_not_have_written_is_refused() -> None:
    h = started()
    h.start_wft()
    events = list(h.history)
    with pytest.raises(HistoryMismatch):
        rebuild(events[1:], namespace_id="ns", workflow_id="wf-1", run_id="run-1")
    with pytest.raises(HistoryMismatch):
        rebuild([events[0], events[2]], namespace_id="ns", workflow_id="wf-1", run_id="run-1")


def test_reapplied_update_admission_and_unused_execution() -> None:
    """Updates rebuild from their admitted/accepted/completed events."""
    h = started()
    admitted = history_pb2.HistoryEvent(
        event_id=h.state.next_event_id,
        event_type=et.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED,
    )
    admitted.workflow_execution_update_admitted_event_attributes.request.meta.update_id = "u1"
    accepted = history_pb2.HistoryEvent(
        event_id=admitted.event_id + 1,
        event_type=et.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    )
    accepted.workflow_execution_update_accepted_event_attributes.protocol_instance_id = "u1"
    st = rebuild(
        [*h.history, admitted, accepted], namespace_id="ns", workflow_id="wf-1", run_id="r"
    )
    assert st.updates["u1"].accepted_event_id == accepted.event_id
    assert st.run_id == "r" and st.root_run_id == "r"
