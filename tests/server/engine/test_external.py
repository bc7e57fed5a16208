"""Signals and cancellation requests to other workflows, in the engine."""

from __future__ import annotations

import pytest
from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.enums.v1 import command_type_pb2 as ct
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.enums.v1 import failed_cause_pb2 as causes
from temporalio.api.history.v1 import message_pb2 as history_pb2

from perdure.server.engine import command_base, external, requests
from perdure.server.engine.deadlines import TimerKind, TimerRef
from perdure.server.errors import NotFound
from tests.server.engine.helpers import Harness, payloads, started

TARGET_RUN = "00000000-0000-4000-8000-0000000000aa"
SENDER = external.Sender("ns", "sender", "sender-run")


def signal_external(
    workflow_id: str = "target", run_id: str = "", signal_name: str = "go", **fields: object
) -> command_pb2.Command:
    attrs = command_pb2.SignalExternalWorkflowExecutionCommandAttributes(
        signal_name=signal_name,
        input=payloads(b"1"),
        **fields,  # type: ignore[arg-type]
    )
    attrs.execution.workflow_id = workflow_id
    attrs.execution.run_id = run_id
    return command_pb2.Command(
        command_type=ct.COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION,
        signal_external_workflow_execution_command_attributes=attrs,
    )


def cancel_external(workflow_id: str = "target", **fields: object) -> command_pb2.Command:
    return command_pb2.Command(
        command_type=ct.COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION,
        request_cancel_external_workflow_execution_command_attributes=(
            command_pb2.RequestCancelExternalWorkflowExecutionCommandAttributes(
                workflow_id=workflow_id,
                **fields,  # type: ignore[arg-type]
            )
        ),
    )


def sent(command: command_pb2.Command) -> tuple[Harness, int]:
    h = started()
    h.start_wft()
    h.complete_wft(command)
    return h, h.history[-1].event_id


def test_signal_command_writes_initiated_and_a_due_row() -> None:
    h, initiated = sent(signal_external(control="c"))
    event = h.history[-1]
    assert event.event_type == et.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
    attrs = event.signal_external_workflow_execution_initiated_event_attributes
    assert (attrs.namespace, attrs.namespace_id, attrs.signal_name) == ("default", "ns", "go")
    assert attrs.input == payloads(b"1")
    info = h.state.external_signals[initiated]
    assert info.workflow_id == "target" and info.request_id
    assert h.last is not None
    rows = [r.ref for r in h.last.out.timers_added]
    assert TimerRef(TimerKind.SIGNAL_EXTERNAL, initiated) in rows


@pytest.mark.parametrize(
    ("command", "text"),
    [
        (signal_external(""), "WorkflowId is not set"),
        (signal_external(signal_name=""), "SignalName is not set"),
        (signal_external(run_id="nope"), "Invalid RunId"),
    ],
)
def test_invalid_signal_commands(command: command_pb2.Command, text: str) -> None:
    h = started()
    h.start_wft()
    with pytest.raises(command_base.BadCommand) as err:
        h.complete_wft(command)
    assert (
        err.value.cause
        == causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_SIGNAL_WORKFLOW_EXECUTION_ATTRIBUTES
    )
    assert text in err.value.message


def test_pending_signals_limit() -> None:
    h, initiated = sent(signal_external())
    info = h.state.external_signals[initiated]
    h.plant(
        lambda st: st.external_signals.update(
            {10_000 + i: info for i in range(external.MAX_PENDING_SIGNALS)}
        )
    )
    h.step(lambda ex: external.record_delivered(ex, TimerRef(TimerKind.SIGNAL_EXTERNAL, 10_000)))
    h.start_wft()
    with pytest.raises(command_base.BadCommand) as err:
        h.complete_wft(signal_external())
    assert err.value.cause == causes.WORKFLOW_TASK_FAILED_CAUSE_PENDING_SIGNALS_LIMIT_EXCEEDED


def test_a_repeated_delivery_signals_once() -> None:
    h, initiated = sent(signal_external())
    attrs = h.history[-1].signal_external_workflow_execution_initiated_event_attributes
    request_id = h.state.external_signals[initiated].request_id
    target = started()
    for _ in range(2):
        target.step(
            lambda ex: external.deliver_signal(
                ex, sender=SENDER, initiated=attrs, request_id=request_id
            )
        )
    signals = [
        e for e in target.history if e.event_type == et.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    assert len(signals) == 1
    signaled = signals[0].workflow_execution_signaled_event_attributes
    assert signaled.signal_name == "go" and signaled.input == payloads(b"1")
    assert signaled.external_workflow_execution.workflow_id == "sender"
    assert signaled.identity == "history-service"


def test_child_workflow_only_requests_come_from_the_parent() -> None:
    attrs = history_pb2.SignalExternalWorkflowExecutionInitiatedEventAttributes(
        signal_name="go", child_workflow_only=True
    )
    target = started()
    with pytest.raises(NotFound, match="parent"):
        target.step(
            lambda ex: external.deliver_signal(ex, sender=SENDER, initiated=attrs, request_id="r")
        )


def test_closed_target_is_not_found() -> None:
    target = started()
    target.step(lambda ex: requests.terminate(ex, reason="", details=None, identity=""))
    with pytest.raises(NotFound):
        target.step(
            lambda ex: external.deliver_cancel(
                ex,
                sender=SENDER,
                initiated_event_id=5,
                request_id="r",
                reason="why",
                child_workflow_only=False,
            )
        )


def test_sender_records_delivery_once() -> None:
    h, initiated = sent(signal_external())
    ref = TimerRef(TimerKind.SIGNAL_EXTERNAL, initiated)
    h.step(lambda ex: external.record_delivered(ex, ref))
    assert h.types()[-2:] == ["EXTERNAL_WORKFLOW_EXECUTION_SIGNALED", "WORKFLOW_TASK_SCHEDULED"]
    attrs = h.history[-2].external_workflow_execution_signaled_event_attributes
    assert attrs.initiated_event_id == initiated
    assert attrs.workflow_execution.workflow_id == "target"
    assert not h.state.external_signals
    n = len(h.history)
    h.step(lambda ex: external.record_delivered(ex, ref))
    assert len(h.history) == n
    assert h.last is not None and h.last.out.timers_claimed, "the repeat only claims its row"


def test_cancel_request_and_its_failure() -> None:
    h, initiated = sent(cancel_external(run_id=TARGET_RUN, reason="why"))
    attrs = h.history[-1].request_cancel_external_workflow_execution_initiated_event_attributes
    assert attrs.workflow_execution.run_id == TARGET_RUN and attrs.reason == "why"
    ref = TimerRef(TimerKind.CANCEL_EXTERNAL, initiated)
    cause = (
        causes.CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND
    )
    h.step(
        lambda ex: external.record_failed(
            ex, ref, cause=cause, workflow_task_completed_event_id=initiated - 1
        )
    )
    failed = h.history[-2].request_cancel_external_workflow_execution_failed_event_attributes
    assert failed.cause == cause and failed.initiated_event_id == initiated
    assert failed.workflow_task_completed_event_id == initiated - 1
    assert not h.state.external_cancels


def test_cancel_reaches_the_target_with_its_sender() -> None:
    target = started()
    for _ in range(2):
        target.step(
            lambda ex: external.deliver_cancel(
                ex,
                sender=SENDER,
                initiated_event_id=5,
                request_id="r",
                reason="why",
                child_workflow_only=False,
            )
        )
    requested = [
        e
        for e in target.history
        if e.event_type == et.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED
    ]
    assert len(requested) == 1
    attrs = requested[0].workflow_execution_cancel_requested_event_attributes
    assert attrs.cause == "why" and attrs.external_initiated_event_id == 5
    assert attrs.external_workflow_execution.run_id == "sender-run"
