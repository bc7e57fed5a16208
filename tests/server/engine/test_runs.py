"""Chains of runs: continue-as-new, cron and retry successors, and what they carry."""

from __future__ import annotations

from collections.abc import Callable

from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.enums.v1 import command_type_pb2 as ct
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.failure.v1 import message_pb2 as failure_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import commands, completion, requests, runs
from perdure.server.engine.deadlines import TimerKind, TimerRef
from perdure.server.engine.describe import describe
from perdure.server.engine.execution import Execution
from perdure.server.engine.retry import duration
from perdure.server.engine.tokens import WorkflowTaskToken
from tests.server.engine.helpers import (
    SECOND,
    Harness,
    assert_rebuilds,
    complete_workflow,
    payloads,
    start_timer,
    started,
)


def with_start(h: Harness, fn: Callable[[Execution], object]) -> Callable[[Execution], object]:
    """The shell loads the started event of runs that may repeat: do the same."""
    start = h.history[0].workflow_execution_started_event_attributes

    def step(ex: Execution) -> object:
        ex.start_attributes = start
        return fn(ex)

    return step


def successor(h: Harness) -> Harness:
    assert h.last is not None and h.last.out.new_runs, "no successor run"
    new = h.last.out.new_runs[0].execution
    assert new.state.run_id == h.state.new_execution_run_id
    return Harness(new.state, new.out.events, h.now)


def fail_workflow(message: str) -> command_pb2.Command:
    return command_pb2.Command(
        command_type=ct.COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION,
        fail_workflow_execution_command_attributes=command_pb2.FailWorkflowExecutionCommandAttributes(
            failure=failure_pb2.Failure(message=message)
        ),
    )


def continue_as_new(**fields: object) -> command_pb2.Command:
    attrs = command_pb2.ContinueAsNewWorkflowExecutionCommandAttributes(**fields)  # type: ignore[arg-type]
    return command_pb2.Command(
        command_type=ct.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION,
        continue_as_new_workflow_execution_command_attributes=attrs,
    )


def complete_run(h: Harness, command: command_pb2.Command) -> None:
    h.start_wft()
    h.step(with_start(h, lambda ex: _complete(h, ex, command)))


def _complete(h: Harness, ex: Execution, command: command_pb2.Command) -> object:
    wt = ex.state.workflow_task
    assert wt is not None
    token = WorkflowTaskToken(
        ex.state.namespace_id,
        ex.state.workflow_id,
        ex.state.run_id,
        seq=wt.seq,
        attempt=wt.attempt,
        started_event_id=wt.started_event_id,
    )
    request = rr.RespondWorkflowTaskCompletedRequest(commands=[command], identity="w")
    return completion.complete(ex, token, request, new_id=h.new_id)


def timer_kinds(ex: Execution | None) -> list[TimerKind]:
    assert ex is not None
    return [row.ref.kind for row in ex.out.timers_added]


# ---------------------------------------------------------------------------- continue-as-new


def test_continue_as_new_links_both_ways_and_waits_its_backoff() -> None:
    h = started()
    h.start_wft()
    h.complete_wft(continue_as_new(input=payloads(b"2"), backoff_start_interval=duration(SECOND)))
    close = h.history[-1].workflow_execution_continued_as_new_event_attributes
    nxt = successor(h)
    attrs = nxt.history[0].workflow_execution_started_event_attributes
    assert close.new_execution_run_id == nxt.state.run_id
    assert attrs.continued_execution_run_id == "run-1"
    assert attrs.first_execution_run_id == "run-1"
    assert attrs.workflow_type.name == "Flow" and attrs.task_queue.name == "tq", "defaults"
    assert attrs.first_workflow_task_backoff.seconds == 1
    assert nxt.types() == ["WORKFLOW_EXECUTION_STARTED"], "no workflow task before the backoff"
    assert TimerKind.WORKFLOW_BACKOFF in timer_kinds(h.last.out.new_runs[0].execution)  # type: ignore[union-attr]
    nxt.step(lambda ex: runs.fire_backoff(ex, TimerRef(TimerKind.WORKFLOW_BACKOFF)), advance=SECOND)
    assert nxt.types() == ["WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED"]


def test_continue_as_new_takes_memo_and_search_attributes_from_the_command_only() -> None:
    # As on Temporal: the new run's memo and search attributes are the command's (SDKs put
    # the start ones there); nothing is inherited by the server.
    memo = common_pb2.Memo()
    memo.fields["k"].CopyFrom(payloads(b'"v"').payloads[0])
    sa = common_pb2.SearchAttributes()
    sa.indexed_fields["CustomKeywordField"].CopyFrom(payloads(b'"x"').payloads[0])
    h = started(
        memo=memo,
        search_attributes=sa,
        retry_policy=common_pb2.RetryPolicy(maximum_attempts=4),
    )
    h.start_wft()
    h.complete_wft(continue_as_new())
    nxt = successor(h)
    assert not nxt.state.memo.fields
    assert not nxt.state.search_attributes.indexed_fields
    assert nxt.state.retry_policy is not None and nxt.state.retry_policy.maximum_attempts == 4
    # What the command sets wins.
    other = common_pb2.Memo()
    other.fields["k"].CopyFrom(payloads(b'"w"').payloads[0])
    nxt.start_wft()
    nxt.complete_wft(continue_as_new(memo=other))
    assert successor(nxt).state.memo == other


def test_the_first_task_of_each_build_is_an_auto_reset_point_the_chain_carries() -> None:
    # As on Temporal: one point per build id, at its first completed task, handed on to the
    # run that continues the chain (and shown by describe).
    stamp = {"worker_version_stamp": common_pb2.WorkerVersionStamp(build_id="b1")}
    h = started()
    h.start_wft()
    h.complete_wft(start_timer("t", 1), **stamp)
    h.step(lambda ex: commands.fire_user_timer(ex, TimerRef(TimerKind.USER_TIMER, 5)))
    h.start_wft()
    h.complete_wft(continue_as_new(), **stamp)
    (point,) = h.state.auto_reset_points.points
    assert (point.build_id, point.run_id, point.first_workflow_task_completed_id) == (
        "b1",
        "run-1",
        4,
    )
    assert point.resettable
    assert describe(h.state).workflow_execution_info.auto_reset_points == h.state.auto_reset_points
    nxt = successor(h)
    attrs = nxt.history[0].workflow_execution_started_event_attributes
    assert attrs.prev_auto_reset_points == h.state.auto_reset_points
    nxt.start_wft()
    nxt.complete_wft(
        complete_workflow(), worker_version_stamp=common_pb2.WorkerVersionStamp(build_id="b2")
    )
    assert [(p.build_id, p.run_id) for p in nxt.state.auto_reset_points.points] == [
        ("b1", "run-1"),
        ("b2", nxt.state.run_id),
    ]
    assert_rebuilds(nxt.state, nxt.history)


# ---------------------------------------------------------------------------- cron


def test_cron_runs_repeat_and_carry_results_and_failures() -> None:
    h = started(cron_schedule="@every 10s")
    first = h.history[0].workflow_execution_started_event_attributes
    assert first.first_workflow_task_backoff.ToNanoseconds() == 10 * SECOND, "waits its schedule"
    h.step(
        lambda ex: runs.fire_backoff(ex, TimerRef(TimerKind.WORKFLOW_BACKOFF)), advance=10 * SECOND
    )
    complete_run(h, complete_workflow(b"1"))
    close = h.history[-1].workflow_execution_completed_event_attributes
    second = successor(h)
    assert close.new_execution_run_id == second.state.run_id
    attrs = second.history[0].workflow_execution_started_event_attributes
    assert attrs.initiator == wf_enums.CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE
    assert attrs.last_completion_result == payloads(b"1")
    assert attrs.cron_schedule == "@every 10s"
    assert 0 < attrs.first_workflow_task_backoff.ToNanoseconds() <= 10 * SECOND
    # The second run fails: the third still gets the first one's result, and the failure.
    second.step(lambda ex: runs.fire_backoff(ex, TimerRef(TimerKind.WORKFLOW_BACKOFF)))
    complete_run(second, fail_workflow("boom"))
    third = successor(second)
    attrs = third.history[0].workflow_execution_started_event_attributes
    assert attrs.last_completion_result == payloads(b"1")
    assert attrs.continued_failure.message == "boom"
    assert attrs.first_execution_run_id == "run-1"


def test_terminate_and_cancel_end_a_cron_chain() -> None:
    h = started(cron_schedule="@every 10s")
    h.step(with_start(h, lambda ex: requests.terminate(ex, reason="r", details=None, identity="")))
    assert h.last is not None and not h.last.out.new_runs
    h = started(cron_schedule="@every 10s")
    h.step(lambda ex: runs.fire_backoff(ex, TimerRef(TimerKind.WORKFLOW_BACKOFF)))
    cancel = command_pb2.Command(
        command_type=ct.COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION,
        cancel_workflow_execution_command_attributes=(
            command_pb2.CancelWorkflowExecutionCommandAttributes()
        ),
    )
    complete_run(h, cancel)
    assert h.state.status == wf_enums.WORKFLOW_EXECUTION_STATUS_CANCELED
    assert h.last is not None and not h.last.out.new_runs


def test_retry_run_carries_the_previous_result_and_failure() -> None:
    h = started(retry_policy=common_pb2.RetryPolicy(maximum_attempts=3))
    complete_run(h, fail_workflow("first"))
    retry = successor(h)
    attrs = retry.history[0].workflow_execution_started_event_attributes
    assert attrs.attempt == 2
    assert attrs.initiator == wf_enums.CONTINUE_AS_NEW_INITIATOR_RETRY
    assert attrs.continued_failure.message == "first"
    assert retry.state.last_failure is not None and retry.state.last_failure.message == "first"
