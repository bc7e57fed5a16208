"""engine/commands.py: what the command handlers accept and reject, as Temporal does."""

from __future__ import annotations

import pytest
from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.enums.v1 import command_type_pb2 as ct
from temporalio.api.enums.v1 import failed_cause_pb2 as causes

from perdure.server.engine.command_base import BadCommand, cause_name
from perdure.server.engine.retry import duration
from tests.server.engine.helpers import started


def _timer(nanoseconds: int | None) -> command_pb2.Command:
    attrs = command_pb2.StartTimerCommandAttributes(timer_id="t")
    if nanoseconds is not None:
        attrs.start_to_fire_timeout.CopyFrom(duration(nanoseconds))
    return command_pb2.Command(
        command_type=ct.COMMAND_TYPE_START_TIMER, start_timer_command_attributes=attrs
    )


@pytest.mark.parametrize("nanoseconds", [0, None])
def test_a_zero_timer_is_started_and_due_at_once(nanoseconds: int | None) -> None:
    h = started()
    h.start_wft()
    h.complete_wft(_timer(nanoseconds))
    assert h.types()[-1] == "TIMER_STARTED"
    assert h.last is not None
    (due,) = [t for t in h.last.out.timers_added if t.fire_time <= h.now]
    assert due.fire_time == h.now


def test_a_negative_timer_is_rejected_in_temporals_words() -> None:
    h = started()
    h.start_wft()
    with pytest.raises(BadCommand) as err:
        h.complete_wft(_timer(-1))
    assert err.value.cause == causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_START_TIMER_ATTRIBUTES
    assert err.value.text == (
        "BadStartTimerAttributes: An invalid StartToFireTimeout is set on StartTimerCommand: "
        "negative duration. TimerId=t"
    )


def test_cause_names_print_as_temporals_go_enum() -> None:
    assert cause_name(causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_START_TIMER_ATTRIBUTES) == (
        "BadStartTimerAttributes"
    )
    assert (
        cause_name(
            causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_ATTRIBUTES
        )
        == "BadRequestCancelExternalWorkflowExecutionAttributes"
    )
