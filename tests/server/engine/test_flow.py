"""The main paths through the engine, driven without a server."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import failed_cause_pb2 as causes
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.failure.v1 import message_pb2 as failure_pb2
from temporalio.api.history.v1 import message_pb2 as history_pb2

from perdure.server.engine import (
    activities,
    codec,
    command_base,
    commands,
    requests,
    workflow_task,
)
from perdure.server.engine.deadlines import TimerKind, TimerRef
from perdure.server.engine.describe import describe
from perdure.server.engine.execution import Execution
from perdure.server.engine.retry import duration
from perdure.server.engine.settings import EngineSettings
from perdure.server.engine.state import ActivityState, ExecutionState
from perdure.server.engine.tokens import ActivityTaskToken
from perdure.server.errors import NotFound
from tests.server.engine.helpers import (
    SECOND,
    Harness,
    complete_workflow,
    payloads,
    schedule_activity,
    start_timer,
    started,
)


def _activity_token(h: Harness, sched: int) -> ActivityTaskToken:
    info = h.state.activities[sched]
    return ActivityTaskToken(
        "ns", "wf-1", "run-1", scheduled_event_id=sched, attempt=info.attempt, activity_id=""
    )


def test_one_activity_workflow_writes_temporals_history() -> None:
    h = started()
    assert h.types() == ["WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED"]
    h.start_wft()
    h.complete_wft(schedule_activity())
    sched = next(iter(h.state.activities))
    h.step(lambda ex: activities.start(ex, sched, 1, identity="a", request_id="x"))
    h.step(lambda ex: activities.complete(ex, ex.state.activities[sched], payloads(b"1"), "a"))
    h.start_wft()
    h.complete_wft(complete_workflow())
    assert h.types() == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "ACTIVITY_TASK_SCHEDULED",
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_COMPLETED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    assert h.ids_are_sequential()
    assert h.state.status == wf_enums.WORKFLOW_EXECUTION_STATUS_COMPLETED
    completed = h.history[6].activity_task_completed_event_attributes
    assert (completed.scheduled_event_id, completed.started_event_id) == (5, 6)


def test_activity_scheduled_event_gets_temporals_defaults() -> None:
    h = started()
    h.start_wft()
    h.complete_wft(schedule_activity())
    attrs = h.history[-1].activity_task_scheduled_event_attributes
    assert attrs.retry_policy.initial_interval.seconds == 1
    assert attrs.retry_policy.backoff_coefficient == 2.0
    assert attrs.retry_policy.maximum_interval.seconds == 100
    assert attrs.schedule_to_close_timeout.seconds == 0


def test_events_during_a_running_task_are_buffered_then_written_after_it() -> None:
    h = started()
    h.start_wft()
    h.complete_wft(schedule_activity())
    sched = next(iter(h.state.activities))
    h.step(lambda ex: activities.start(ex, sched, 1, identity="a", request_id="x"))
    # A signal makes a new workflow task; while it runs the activity completes.
    signal = history_pb2.WorkflowExecutionSignaledEventAttributes(signal_name="s")
    h.step(lambda ex: requests.signal(ex, signal))
    h.start_wft()
    before = len(h.history)
    h.step(lambda ex: activities.complete(ex, ex.state.activities[sched], None, "a"))
    assert len(h.history) == before, "buffered, not written"
    h.complete_wft()
    assert h.types()[-4:] == [
        "WORKFLOW_TASK_COMPLETED",
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_COMPLETED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    started_id = h.history[-3].event_id
    assert h.history[-2].activity_task_completed_event_attributes.started_event_id == started_id
    assert h.ids_are_sequential()


def test_activity_failure_is_retried_by_the_server_without_events() -> None:
    h = started()
    h.start_wft()
    h.complete_wft(schedule_activity())
    sched = next(iter(h.state.activities))
    h.step(lambda ex: activities.start(ex, sched, 1, identity="a", request_id="x"))
    before = len(h.history)
    failure = failure_pb2.Failure(message="boom")
    failure.application_failure_info.type = "Boom"
    h.step(lambda ex: activities.fail(ex, ex.state.activities[sched], failure, identity="a"))
    info = h.state.activities[sched]
    assert len(h.history) == before
    assert (info.attempt, info.state) == (2, ActivityState.BACKOFF)
    retry_timer = h.last.out.timers_added[-1]  # type: ignore[union-attr]
    assert retry_timer.fire_time == h.now + SECOND
    h.step(lambda ex: activities.fire_timer(ex, TimerRef(TimerKind.ACTIVITY_RETRY, sched, 2)))
    assert h.state.activities[sched].state == ActivityState.SCHEDULED
    h.step(lambda ex: activities.start(ex, sched, 2, identity="a", request_id="y"))
    h.step(lambda ex: activities.complete(ex, ex.state.activities[sched], None, "a"))
    started_attrs = h.history[-3].activity_task_started_event_attributes
    assert started_attrs.attempt == 2
    assert started_attrs.last_failure.message == "boom"


def test_non_retryable_failure_closes_the_activity() -> None:
    h = started()
    h.start_wft()
    h.complete_wft(schedule_activity())
    sched = next(iter(h.state.activities))
    h.step(lambda ex: activities.start(ex, sched, 1, identity="a", request_id="x"))
    failure = failure_pb2.Failure(message="no")
    failure.application_failure_info.non_retryable = True
    h.step(lambda ex: activities.fail(ex, ex.state.activities[sched], failure, identity="a"))
    assert h.types()[-3:] == [
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_FAILED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    assert (
        h.history[-2].activity_task_failed_event_attributes.retry_state
        == wf_enums.RETRY_STATE_NON_RETRYABLE_FAILURE
    )


def test_heartbeat_timeout_rearms_while_heartbeats_arrive() -> None:
    h = started()
    h.start_wft()
    h.complete_wft(schedule_activity(heartbeat_timeout=duration(2 * SECOND)))
    sched = next(iter(h.state.activities))
    h.step(lambda ex: activities.start(ex, sched, 1, identity="a", request_id="x"))
    h.step(lambda ex: activities.heartbeat(ex, ex.state.activities[sched], None), advance=SECOND)
    ref = TimerRef(TimerKind.ACTIVITY_HEARTBEAT, sched, 1)
    h.step(lambda ex: activities.fire_timer(ex, ref), advance=SECOND)
    assert h.state.activities[sched].state == ActivityState.STARTED
    assert h.last.out.timers_added[0].fire_time == h.now + SECOND  # type: ignore[union-attr]
    h.step(lambda ex: activities.fire_timer(ex, ref), advance=SECOND)
    assert h.state.activities[sched].attempt == 2, "timed out, retried"


def test_invalid_command_fails_the_task_with_temporals_cause() -> None:
    h = started()
    h.start_wft()
    with pytest.raises(command_base.BadCommand) as err:
        h.complete_wft(schedule_activity(start_to_close=0))
    assert err.value.cause == causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES
    assert "StartToClose" in err.value.message


def test_complete_with_unseen_signal_fails_with_unhandled_command() -> None:
    h = started()
    h.start_wft()
    signal = history_pb2.WorkflowExecutionSignaledEventAttributes(signal_name="s")
    h.step(lambda ex: requests.signal(ex, signal))
    with pytest.raises(command_base.BadCommand) as err:
        h.complete_wft(complete_workflow())
    assert err.value.cause == causes.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND


def test_failed_task_retries_transiently_and_keeps_ids() -> None:
    h = started()
    h.start_wft()
    wt = h.state.workflow_task
    assert wt is not None
    h.step(
        lambda ex: workflow_task.fail(
            ex,
            ex.state.workflow_task,
            cause=causes.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,  # type: ignore[arg-type]
        )
    )
    assert h.types()[-1] == "WORKFLOW_TASK_FAILED"
    n = len(h.history)
    first = h.start_wft()
    assert [e.event_id for e in first.transient_events] == [n + 1, n + 2]
    assert first.info.attempt == 2
    # Attempt 2 times out: nothing written, attempt 3 shows the same ids.
    seq = first.info.seq
    h.step(
        lambda ex: workflow_task.time_out(ex, TimerRef(TimerKind.WORKFLOW_TASK_START_TO_CLOSE, seq))
    )
    assert len(h.history) == n
    third = h.start_wft()
    assert third.info.attempt == 3
    assert [e.event_id for e in third.transient_events] == [n + 1, n + 2]
    h.complete_wft(complete_workflow())
    assert h.types()[n:] == [
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    assert h.ids_are_sequential()


def test_stale_completion_is_not_found() -> None:
    h = started()
    h.start_wft()
    h.complete_wft()
    with pytest.raises(NotFound):
        h.step(lambda ex: workflow_task.require_started(ex, 1, 3))


def test_timer_fires_into_a_new_workflow_task() -> None:
    h = started()
    h.start_wft()
    h.complete_wft(start_timer("t1", 1.5))
    started_id = h.state.timers["t1"].started_event_id
    h.step(lambda ex: commands.fire_user_timer(ex, TimerRef(TimerKind.USER_TIMER, started_id)))
    assert h.types()[-2:] == ["TIMER_FIRED", "WORKFLOW_TASK_SCHEDULED"]
    assert not h.state.timers


def test_terminate_closes_and_cleans_up() -> None:
    h = started()
    h.start_wft()
    h.complete_wft(schedule_activity(), start_timer("t", 60))
    h.step(lambda ex: requests.terminate(ex, reason="stop", details=None, identity="me"))
    assert h.types()[-1] == "WORKFLOW_EXECUTION_TERMINATED"
    assert h.state.status == wf_enums.WORKFLOW_EXECUTION_STATUS_TERMINATED
    assert not h.state.timers
    # As on Temporal, describe still lists the activity pending at the close (its task and
    # deadlines are gone).
    assert [a.activity_id for a in describe(h.state).pending_activities] == ["1"]
    out = h.last.out  # type: ignore[union-attr]
    assert any("/a/" in key for key in out.tasks_removed)


def _start_with(
    h: Harness, settings: EngineSettings
) -> history_pb2.WorkflowTaskStartedEventAttributes:
    """Start the pending workflow task under `settings`; its started event's attributes."""
    state = codec.decode(ExecutionState, codec.encode(h.state))  # h's state stays as it is
    wt = state.workflow_task
    assert wt is not None
    ex = Execution(state, h.now, "default", settings=settings)
    workflow_task.start(ex, wt.seq, identity="w", request_id="r")
    return ex.out.events[-1].workflow_task_started_event_attributes


def test_workflow_task_started_suggests_continue_as_new_past_the_thresholds() -> None:
    h = started()
    h.start_wft()
    h.complete_wft()
    wake = history_pb2.WorkflowExecutionSignaledEventAttributes(signal_name="wake")
    h.step(lambda ex: requests.signal(ex, wake))
    before = len(h.history)  # the events before the next started one
    assert before == h.state.next_event_id - 1
    size = h.state.history_size_bytes
    loose = EngineSettings(
        suggest_continue_as_new_events=before + 1, suggest_continue_as_new_bytes=size + 1
    )
    attrs = _start_with(h, loose)
    assert not attrs.suggest_continue_as_new and not attrs.suggest_continue_as_new_reasons
    tight = EngineSettings(
        suggest_continue_as_new_events=before, suggest_continue_as_new_bytes=size
    )
    attrs = _start_with(h, tight)
    assert attrs.suggest_continue_as_new
    assert list(attrs.suggest_continue_as_new_reasons) == [
        wf_enums.SUGGEST_CONTINUE_AS_NEW_REASON_HISTORY_SIZE_TOO_LARGE,
        wf_enums.SUGGEST_CONTINUE_AS_NEW_REASON_TOO_MANY_HISTORY_EVENTS,
    ]
