"""Child workflows in the engine: the command, the parent's record, close policies."""

from __future__ import annotations

import pytest
from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.enums.v1 import command_type_pb2 as ct
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.enums.v1 import failed_cause_pb2 as causes
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.failure.v1 import message_pb2 as failure_pb2
from temporalio.api.history.v1 import message_pb2 as history_pb2

from perdure.server.engine import children, command_base, external, requests, runs
from perdure.server.engine.deadlines import TimerKind, TimerRef
from perdure.server.engine.execution import Execution
from perdure.server.engine.retry import duration
from perdure.server.engine.settings import DEFAULT_SETTINGS
from perdure.server.errors import NotFound
from tests.server.engine.helpers import SECOND, Harness, complete_workflow, payloads, started

CHILD_RUN = "00000000-0000-4000-8000-000000000001"


def start_child(workflow_id: str = "child-1", **fields: object) -> command_pb2.Command:
    attrs = command_pb2.StartChildWorkflowExecutionCommandAttributes(
        workflow_id=workflow_id,
        **fields,  # type: ignore[arg-type]
    )
    attrs.workflow_type.name = attrs.workflow_type.name or "Child"
    return command_pb2.Command(
        command_type=ct.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION,
        start_child_workflow_execution_command_attributes=attrs,
    )


def timer_kinds(ex: Execution) -> list[tuple[TimerKind, int]]:
    refs = [row.ref for row in ex.out.timers_added]
    return [(ref.kind, ref.target_id) for ref in refs]


def parent_with_child(**fields: object) -> tuple[Harness, int]:
    """A parent whose workflow task issued one START_CHILD command."""
    h = started()
    h.start_wft()
    h.complete_wft(start_child(**fields))
    initiated = next(iter(h.state.children))
    return h, initiated


def child_of(h: Harness, initiated: int, now: int | None = None) -> Harness:
    """The child run the START_CHILD step creates."""
    parent = children.Parent.of(h.state, "default")
    event = next(e for e in h.history if e.event_id == initiated)
    spec = children.child_run_spec(
        event, parent, namespace_id="ns", request_id="create-1", run_id=CHILD_RUN, now=h.now
    )
    ex = runs.create_run(spec, now or h.now, "default")
    return Harness(ex.state, ex.out.events, now or h.now)


def last_of(h: Harness, event_type: int) -> history_pb2.HistoryEvent:
    return next(e for e in reversed(h.history) if e.event_type == event_type)


def close_event(h: Harness) -> history_pb2.HistoryEvent:
    return next(e for e in h.history if e.event_id == h.state.close_event_id)


# ---------------------------------------------------------------------------- the command


def test_start_child_writes_initiated_with_temporals_defaults() -> None:
    h = started()
    h.start_wft()
    h.complete_wft(start_child())
    ex = h.last
    assert ex is not None
    event = h.history[-1]
    assert event.event_type == et.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    attrs = event.start_child_workflow_execution_initiated_event_attributes
    assert (attrs.namespace, attrs.namespace_id) == ("default", "ns")
    assert attrs.task_queue.name == "tq", "the parent's task queue"
    assert attrs.parent_close_policy == wf_enums.PARENT_CLOSE_POLICY_TERMINATE
    assert attrs.workflow_id_reuse_policy == wf_enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
    assert attrs.workflow_task_timeout.seconds == 10
    assert attrs.workflow_task_completed_event_id == event.event_id - 1
    child = h.state.children[event.event_id]
    assert child.workflow_id == "child-1" and not child.run_id and child.create_request_id
    assert (TimerKind.START_CHILD, event.event_id) in timer_kinds(ex)
    due = next(r for r in ex.out.timers_added if r.ref.kind == TimerKind.START_CHILD)
    assert due.fire_time == h.now, "due at once"


def test_start_child_timeouts_follow_temporals_overrides() -> None:
    h, _ = parent_with_child(
        workflow_execution_timeout=duration(30 * SECOND),
        workflow_run_timeout=duration(60 * SECOND),
        workflow_task_timeout=duration(200 * SECOND),
    )
    attrs = h.history[-1].start_child_workflow_execution_initiated_event_attributes
    assert attrs.workflow_execution_timeout.seconds == 30
    assert attrs.workflow_run_timeout.seconds == 30, "capped by the execution timeout"
    assert attrs.workflow_task_timeout.seconds == 30, "capped by the run timeout"


@pytest.mark.parametrize(
    ("command", "cause", "text"),
    [
        (start_child(""), "BAD_START_CHILD_EXECUTION_ATTRIBUTES", "WorkflowId is not set"),
        (
            start_child(cron_schedule="not a cron"),
            "BAD_START_CHILD_EXECUTION_ATTRIBUTES",
            "CronSchedule",
        ),
        (
            start_child(workflow_run_timeout=duration(-SECOND)),
            "BAD_START_CHILD_EXECUTION_ATTRIBUTES",
            "Invalid WorkflowRunTimeout",
        ),
    ],
)
def test_invalid_start_child_fails_the_task(
    command: command_pb2.Command, cause: str, text: str
) -> None:
    h = started()
    h.start_wft()
    with pytest.raises(command_base.BadCommand) as err:
        h.complete_wft(command)
    assert causes.WorkflowTaskFailedCause.Name(err.value.cause).endswith(cause)  # type: ignore[arg-type]
    assert text in err.value.message


def test_pending_children_limit() -> None:
    h, initiated = parent_with_child()
    template = h.state.children[initiated]
    h.plant(
        lambda st: st.children.update(
            {10_000 + i: template for i in range(DEFAULT_SETTINGS.max_pending_children)}
        )
    )
    h.step(
        lambda ex: requests.signal(
            ex, history_pb2.WorkflowExecutionSignaledEventAttributes(signal_name="s")
        )
    )
    h.start_wft()
    with pytest.raises(command_base.BadCommand) as err:
        h.complete_wft(start_child("child-2"))
    assert (
        err.value.cause == causes.WORKFLOW_TASK_FAILED_CAUSE_PENDING_CHILD_WORKFLOWS_LIMIT_EXCEEDED
    )


def test_cancel_of_a_child_started_in_the_same_task_is_refused() -> None:
    h = started()
    h.start_wft()
    cancel = command_pb2.Command(
        command_type=ct.COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION,
        request_cancel_external_workflow_execution_command_attributes=(
            command_pb2.RequestCancelExternalWorkflowExecutionCommandAttributes(
                workflow_id="child-1", child_workflow_only=True
            )
        ),
    )
    with pytest.raises(command_base.BadCommand) as err:
        h.complete_wft(start_child(), cancel)
    bad = (
        causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_ATTRIBUTES
    )
    assert err.value.cause == bad


# ---------------------------------------------------------------------------- the child run


def test_child_run_names_its_parent_and_root() -> None:
    h, initiated = parent_with_child(input=payloads(b"1"))
    c = child_of(h, initiated)
    attrs = c.history[0].workflow_execution_started_event_attributes
    assert attrs.parent_workflow_execution.workflow_id == "wf-1"
    assert attrs.parent_workflow_execution.run_id == "run-1"
    assert attrs.parent_initiated_event_id == initiated
    assert attrs.parent_workflow_namespace == "default"
    assert attrs.root_workflow_execution.workflow_id == "wf-1"
    assert attrs.root_workflow_execution.run_id == "run-1"
    assert attrs.input == payloads(b"1")
    assert c.types() == ["WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED"]
    assert children.is_child_of(c.state, children.Parent.of(h.state, "default").info(initiated))


def test_grandchild_keeps_the_root() -> None:
    h, initiated = parent_with_child()
    c = child_of(h, initiated)
    c.start_wft()
    c.complete_wft(start_child("grandchild"))
    g = child_of(c, next(iter(c.state.children)))
    root = g.history[0].workflow_execution_started_event_attributes.root_workflow_execution
    assert (root.workflow_id, root.run_id) == ("wf-1", "run-1")


# ---------------------------------------------------------------------------- the parent's record


def test_started_then_completed_while_idle() -> None:
    h, initiated = parent_with_child()
    ref = TimerRef(TimerKind.START_CHILD, initiated)
    h.step(
        lambda ex: children.record_started(
            ex, ref, run_id=CHILD_RUN, namespace_id="ns", header=None
        )
    )
    assert h.last is not None and h.last.out.timers_claimed
    assert h.types()[-2:] == ["CHILD_WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED"]
    started_id = h.history[-2].event_id
    assert h.state.children[initiated].started_event_id == started_id
    # A repeated step (after a crash) only claims its row.
    n = len(h.history)
    h.step(
        lambda ex: children.record_started(
            ex, ref, run_id=CHILD_RUN, namespace_id="ns", header=None
        )
    )
    assert len(h.history) == n

    c = child_of(h, initiated)
    c.start_wft()
    c.complete_wft(complete_workflow(b'"done"'))
    assert c.last is not None and (TimerKind.NOTIFY_PARENT, 0) in timer_kinds(c.last)
    closed = children.ChildClosed(initiated, "child-1", CHILD_RUN, CHILD_RUN, close_event(c))
    assert h.step(lambda ex: children.record_child_closed(ex, closed))
    done = h.history[-1]  # after the workflow task scheduled by the started event
    assert done.event_type == et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED
    attrs = done.child_workflow_execution_completed_event_attributes
    assert (attrs.initiated_event_id, attrs.started_event_id) == (initiated, started_id)
    assert attrs.result == payloads(b'"done"')
    assert not h.state.children
    assert not h.step(lambda ex: children.record_child_closed(ex, closed)), "once"


def test_started_and_closed_while_the_parent_task_runs_are_buffered_and_rewired() -> None:
    h, initiated = parent_with_child()
    h.step(
        lambda ex: requests.signal(
            ex, history_pb2.WorkflowExecutionSignaledEventAttributes(signal_name="s")
        )
    )
    h.start_wft()
    ref = TimerRef(TimerKind.START_CHILD, initiated)
    h.step(
        lambda ex: children.record_started(
            ex, ref, run_id=CHILD_RUN, namespace_id="ns", header=None
        )
    )
    c = child_of(h, initiated)
    c.start_wft()
    failure = failure_pb2.Failure(message="boom")
    fail = command_pb2.Command(
        command_type=ct.COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION,
        fail_workflow_execution_command_attributes=command_pb2.FailWorkflowExecutionCommandAttributes(
            failure=failure
        ),
    )
    c.complete_wft(fail)
    closed = children.ChildClosed(initiated, "child-1", CHILD_RUN, CHILD_RUN, close_event(c))
    n = len(h.history)
    h.step(lambda ex: children.record_child_closed(ex, closed))
    assert len(h.history) == n, "buffered"
    h.complete_wft()
    assert h.types()[-4:] == [
        "WORKFLOW_TASK_COMPLETED",
        "CHILD_WORKFLOW_EXECUTION_STARTED",
        "CHILD_WORKFLOW_EXECUTION_FAILED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    attrs = h.history[-2].child_workflow_execution_failed_event_attributes
    assert attrs.started_event_id == h.history[-3].event_id
    assert attrs.failure.message == "boom"
    assert attrs.retry_state == wf_enums.RETRY_STATE_RETRY_POLICY_NOT_SET
    assert h.ids_are_sequential()


def test_started_event_flushed_later_is_remembered_for_the_close_event() -> None:
    h, initiated = parent_with_child()
    h.step(
        lambda ex: requests.signal(
            ex, history_pb2.WorkflowExecutionSignaledEventAttributes(signal_name="s")
        )
    )
    h.start_wft()
    ref = TimerRef(TimerKind.START_CHILD, initiated)
    h.step(
        lambda ex: children.record_started(
            ex, ref, run_id=CHILD_RUN, namespace_id="ns", header=None
        )
    )
    h.complete_wft()
    started_id = next(
        e.event_id
        for e in h.history
        if e.event_type == et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    )
    assert h.state.children[initiated].started_event_id == started_id
    c = child_of(h, initiated)
    c.step(lambda ex: requests.terminate(ex, reason="r", details=None, identity="me"))
    closed = children.ChildClosed(initiated, "child-1", CHILD_RUN, CHILD_RUN, close_event(c))
    h.step(lambda ex: children.record_child_closed(ex, closed))
    terminated = last_of(h, et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED)
    assert terminated.child_workflow_execution_terminated_event_attributes.started_event_id == (
        started_id
    )


def test_child_that_ends_before_its_start_is_recorded() -> None:
    h, initiated = parent_with_child()
    c = child_of(h, initiated)
    c.step(lambda ex: requests.terminate(ex, reason="r", details=None, identity="me"))
    closed = children.ChildClosed(initiated, "child-1", CHILD_RUN, CHILD_RUN, close_event(c))
    h.step(lambda ex: children.record_child_closed(ex, closed))
    assert h.types()[-3:] == [
        "CHILD_WORKFLOW_EXECUTION_STARTED",
        "CHILD_WORKFLOW_EXECUTION_TERMINATED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    # The start step, repeated late, finds the child recorded and only claims its row.
    n = len(h.history)
    ref = TimerRef(TimerKind.START_CHILD, initiated)
    h.step(
        lambda ex: children.record_started(
            ex, ref, run_id=CHILD_RUN, namespace_id="ns", header=None
        )
    )
    assert len(h.history) == n


def test_start_failed_removes_the_child() -> None:
    h, initiated = parent_with_child()
    attrs = h.history[-1].start_child_workflow_execution_initiated_event_attributes
    cause = causes.START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_WORKFLOW_ALREADY_EXISTS
    ref = TimerRef(TimerKind.START_CHILD, initiated)
    h.step(lambda ex: children.record_start_failed(ex, ref, cause=cause, initiated=attrs))
    failed = h.history[-2].start_child_workflow_execution_failed_event_attributes
    assert failed.cause == cause and failed.initiated_event_id == initiated
    assert failed.workflow_id == "child-1" and failed.workflow_type.name == "Child"
    assert not h.state.children


def test_child_that_continues_as_new_notifies_only_from_its_last_run() -> None:
    h, initiated = parent_with_child()
    c = child_of(h, initiated)
    c.start_wft()
    can = command_pb2.Command(
        command_type=ct.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION,
        continue_as_new_workflow_execution_command_attributes=(
            command_pb2.ContinueAsNewWorkflowExecutionCommandAttributes()
        ),
    )
    c.complete_wft(can)
    assert c.last is not None
    assert (TimerKind.NOTIFY_PARENT, 0) not in timer_kinds(c.last)
    successor = c.last.out.new_runs[0].execution
    assert successor.state.parent is not None
    assert successor.state.parent.initiated_event_id == initiated
    last = Harness(successor.state, successor.out.events, c.now)
    last.start_wft()
    last.complete_wft(complete_workflow())
    assert last.last is not None and (TimerKind.NOTIFY_PARENT, 0) in timer_kinds(last.last)
    closed = children.ChildClosed(
        initiated, "child-1", last.state.run_id, CHILD_RUN, close_event(last)
    )
    h.step(lambda ex: children.record_child_closed(ex, closed))
    attrs = h.history[-2].child_workflow_execution_completed_event_attributes
    assert attrs.workflow_execution.run_id == last.state.run_id, "names the last run"


# ---------------------------------------------------------------------------- close policies


@pytest.mark.parametrize(
    ("policy", "applies"),
    [
        (wf_enums.PARENT_CLOSE_POLICY_TERMINATE, True),
        (wf_enums.PARENT_CLOSE_POLICY_REQUEST_CANCEL, True),
        (wf_enums.PARENT_CLOSE_POLICY_ABANDON, False),
    ],
)
def test_parent_close_schedules_its_policy_for_started_children(policy: int, applies: bool) -> None:
    h, initiated = parent_with_child(parent_close_policy=policy)
    ref = TimerRef(TimerKind.START_CHILD, initiated)
    h.step(
        lambda ex: children.record_started(
            ex, ref, run_id=CHILD_RUN, namespace_id="ns", header=None
        )
    )
    h.start_wft()
    h.complete_wft(complete_workflow())
    assert h.last is not None
    assert ((TimerKind.APPLY_PARENT_CLOSE_POLICY, initiated) in timer_kinds(h.last)) == applies


def test_child_started_after_its_parent_closed_still_gets_the_policy() -> None:
    h, initiated = parent_with_child()
    h.step(lambda ex: requests.terminate(ex, reason="r", details=None, identity="me"))
    ref = TimerRef(TimerKind.START_CHILD, initiated)
    h.step(
        lambda ex: children.record_started(
            ex, ref, run_id=CHILD_RUN, namespace_id="ns", header=None
        )
    )
    assert h.last is not None and not h.last.out.events
    assert (TimerKind.APPLY_PARENT_CLOSE_POLICY, initiated) in timer_kinds(h.last)


def test_close_policies_act_only_on_the_parents_own_child() -> None:
    h, initiated = parent_with_child()
    parent = external.Sender("ns", "wf-1", "run-1")
    stranger = external.Sender("ns", "wf-1", "other-run")
    c = child_of(h, initiated)
    with pytest.raises(NotFound):
        c.step(
            lambda ex: external.apply_close_policy(
                ex, parent=stranger, policy=wf_enums.PARENT_CLOSE_POLICY_TERMINATE
            )
        )
    c.step(
        lambda ex: external.apply_close_policy(
            ex, parent=parent, policy=wf_enums.PARENT_CLOSE_POLICY_REQUEST_CANCEL
        )
    )
    requested = last_of(
        c, et.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED
    ).workflow_execution_cancel_requested_event_attributes
    assert requested.identity == "history-service"
    assert requested.external_workflow_execution.run_id == "run-1"
    c.step(
        lambda ex: external.apply_close_policy(
            ex, parent=parent, policy=wf_enums.PARENT_CLOSE_POLICY_TERMINATE
        )
    )
    terminated = c.history[-1].workflow_execution_terminated_event_attributes
    assert terminated.reason == "by parent close policy"
    assert c.state.status == wf_enums.WORKFLOW_EXECUTION_STATUS_TERMINATED
