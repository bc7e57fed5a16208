"""engine/updates.py: an update's way through a speculative workflow task.

The harness also checks, at every step, that the state rebuilt from history equals the
live one: an accepted update rebuilds from its events, a rejected one leaves none.
"""

from __future__ import annotations

import pytest
from google.protobuf import any_pb2
from google.protobuf.message import Message
from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.enums.v1 import command_type_pb2 as ct
from temporalio.api.enums.v1 import failed_cause_pb2 as causes
from temporalio.api.failure.v1 import message_pb2 as failure_pb2
from temporalio.api.history.v1 import message_pb2 as history_pb2
from temporalio.api.protocol.v1 import message_pb2 as protocol_pb2
from temporalio.api.update.v1 import message_pb2 as update_pb2

from perdure.server.engine import completion, updates, workflow_task
from perdure.server.engine.command_base import BadCommand
from perdure.server.engine.execution import Execution
from perdure.server.engine.state import WorkflowTaskKind
from tests.server.engine.helpers import Harness, complete_workflow, payloads, start_timer, started
from tests.server.engine.test_children import start_child
from tests.server.engine.test_rebuild import signal


def request(update_id: str) -> update_pb2.Request:
    out = update_pb2.Request()
    out.meta.update_id = update_id
    out.input.name = "set"
    return out


def message(message_id: str, update_id: str, body: Message) -> protocol_pb2.Message:
    packed = any_pb2.Any()
    packed.Pack(body)
    return protocol_pb2.Message(id=message_id, protocol_instance_id=update_id, body=packed)


def protocol_command(message_id: str) -> command_pb2.Command:
    return command_pb2.Command(
        command_type=ct.COMMAND_TYPE_PROTOCOL_MESSAGE,
        protocol_message_command_attributes=command_pb2.ProtocolMessageCommandAttributes(
            message_id=message_id
        ),
    )


def idle() -> Harness:
    h = started()
    h.start_wft()
    h.complete_wft()
    assert h.state.workflow_task is None
    return h


def test_an_accepted_update_writes_the_speculative_task_and_its_outcome() -> None:
    h = idle()
    before = len(h.history)
    h.step(lambda ex: updates.admit(ex, request("u1")))
    wt = h.state.workflow_task
    assert wt is not None and wt.kind == WorkflowTaskKind.SPECULATIVE
    assert len(h.history) == before  # nothing written for a speculative task yet
    h.start_wft()
    accept = update_pb2.Acceptance(accepted_request_message_id="u1/request")
    response = update_pb2.Response(outcome=update_pb2.Outcome(success=payloads(b"1")))
    response.meta.update_id = "u1"
    h.complete_wft(
        protocol_command("accept"),
        protocol_command("respond"),
        messages=[message("accept", "u1", accept), message("respond", "u1", response)],
    )
    assert h.types()[before:] == [
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
        "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
    ]
    assert h.ids_are_sequential()
    assert updates.stage_of(h.state.updates["u1"]) == updates.Stage.COMPLETED


def test_a_rejected_update_leaves_no_trace_in_history() -> None:
    h = idle()
    before = list(h.history)
    h.step(lambda ex: updates.admit(ex, request("u1")))
    h.start_wft()
    rejection = update_pb2.Rejection(failure=failure_pb2.Failure(message="no"))
    result = h.complete_wft(messages=[message("reject", "u1", rejection)])
    assert h.history == before
    assert result.reset_history_event_id == h.state.last_workflow_task_started_event_id
    assert h.state.workflow_task is None
    assert updates.stage_of(h.state.updates["u1"]) == updates.Stage.COMPLETED


def test_an_update_admitted_while_a_task_ran_comes_on_a_speculative_task() -> None:
    # As Temporal decides it: speculative, and given in the completion's response, when the
    # worker asks for its next task there, whatever events the completed task wrote (after
    # commands' events: found by difftest's official-SDK profile); a normal task otherwise.
    other = started()
    other.start_wft()
    other.step(lambda ex: updates.admit(ex, request("u1")))
    other.complete_wft(start_timer("t", 5))
    assert other.state.workflow_task is not None
    assert other.state.workflow_task.kind == WorkflowTaskKind.NORMAL
    h = started()
    h.start_wft()
    h.step(lambda ex: updates.admit(ex, request("u1")))
    before = len(h.history)
    result = h.complete_wft(start_timer("t", 5), return_new_workflow_task=True)
    wt = h.state.workflow_task
    assert wt is not None and wt.kind == WorkflowTaskKind.SPECULATIVE and wt.started
    assert result.new_workflow_task is not None and result.new_workflow_task.info is wt
    assert len(h.history) == before + 2, "the completion and the timer; no task events"
    rejection = update_pb2.Rejection(failure=failure_pb2.Failure(message="no"))
    h.complete_wft(messages=[message("reject", "u1", rejection)])
    assert len(h.history) == before + 2, "a rejection leaves no trace"
    assert h.state.workflow_task is None


def test_an_update_after_a_task_that_started_a_child_comes_on_a_normal_task() -> None:
    # The child's started event comes back within milliseconds: on Temporal it lands while
    # the worker runs the speculative task and makes it normal (difftest regression
    # update-after-commands-normal-task); Perdure makes it normal from the start.
    h = started()
    h.start_wft()
    h.step(lambda ex: updates.admit(ex, request("u1")))
    result = h.complete_wft(start_child(), return_new_workflow_task=True)
    wt = h.state.workflow_task
    assert wt is not None and wt.kind == WorkflowTaskKind.NORMAL and wt.started
    assert result.new_workflow_task is not None


def test_a_speculative_task_becomes_normal_when_a_signal_arrives() -> None:
    h = idle()
    before = len(h.history)
    h.step(lambda ex: updates.admit(ex, request("u1")))
    h.step(signal("wake"))
    wt = h.state.workflow_task
    assert wt is not None and wt.kind == WorkflowTaskKind.NORMAL and wt.scheduled_event_written
    assert h.types()[before:] == ["WORKFLOW_EXECUTION_SIGNALED", "WORKFLOW_TASK_SCHEDULED"]


def test_an_accepted_update_of_a_closed_run_is_completed_by_the_server() -> None:
    h = idle()
    h.step(lambda ex: updates.admit(ex, request("u1")))
    h.start_wft()
    accept = update_pb2.Acceptance(accepted_request_message_id="u1/request")
    h.complete_wft(
        protocol_command("accept"),
        complete_workflow(),
        messages=[message("accept", "u1", accept)],
    )
    info = h.state.updates["u1"]
    assert not h.state.running
    assert updates.stage_of(info) == updates.Stage.ACCEPTED  # as if the run were open
    assert updates.stage_of(info, run_open=False) == updates.Stage.COMPLETED
    failure = updates.outcome(info, None, run_open=False).failure
    assert failure.message == updates.CLOSED_RUN_FAILURE_MESSAGE
    assert failure.source == "Server"
    assert failure.application_failure_info.type == "AcceptedUpdateCompletedWorkflow"
    assert failure.application_failure_info.non_retryable
    assert h.types()[-1] == "WORKFLOW_EXECUTION_COMPLETED"  # no event for the update


def test_an_update_rejected_by_the_task_that_closes_the_run_gets_its_rejection() -> None:
    """The rejection (no command) and the close arrive together: Temporal records both; the
    close must not drop the update first and then refuse the task (found by difftest)."""
    h = idle()
    h.step(lambda ex: updates.admit(ex, request("u1")))
    h.start_wft()
    rejection = update_pb2.Rejection(failure=failure_pb2.Failure(message="no handler"))
    h.complete_wft(complete_workflow(), messages=[message("reject", "u1", rejection)])
    assert not h.state.running
    assert h.types()[-1] == "WORKFLOW_EXECUTION_COMPLETED"
    info = h.state.updates["u1"]
    assert updates.stage_of(info, run_open=False) == updates.Stage.COMPLETED
    assert updates.outcome(info, None, run_open=False).failure.message == "no handler"


def test_an_update_admitted_while_the_run_continues_as_new_moves_to_the_new_run() -> None:
    h = idle()
    h.step(signal("go"))
    h.start_wft()
    h.step(lambda ex: updates.admit(ex, request("u1")))  # admitted during the task
    can = command_pb2.Command(
        command_type=ct.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION,
        continue_as_new_workflow_execution_command_attributes=(
            command_pb2.ContinueAsNewWorkflowExecutionCommandAttributes()
        ),
    )
    h.complete_wft(can)
    assert "u1" not in h.state.updates
    assert h.last is not None
    (new,) = h.last.out.new_runs
    successor = new.execution
    assert updates.stage_of(successor.state.updates["u1"]) == updates.Stage.ADMITTED
    assert "u1" in successor.out.updates_changed
    wt = successor.state.workflow_task
    assert wt is not None
    wt.started_event_id = 3
    (delivered,) = updates.request_messages(successor, wt)
    assert delivered.protocol_instance_id == "u1"


def start_delivering(h: Harness) -> list[str]:
    """Start the scheduled workflow task as a poll does: the update ids its messages carry."""
    wt = h.state.workflow_task
    assert wt is not None
    seq = wt.seq

    def start(ex: Execution) -> list[str]:
        started_task = workflow_task.start(ex, seq, identity="w", request_id="r")
        return [m.protocol_instance_id for m in updates.request_messages(ex, started_task.info)]

    return h.step(start)


def test_a_task_the_server_fails_aborts_the_updates_it_delivered() -> None:
    # As Temporal (AbortReasonWorkflowTaskFailed): an update delivered to a task the server
    # fails is aborted (FAILED_PRECONDITION for its callers), not delivered again; one
    # admitted while the task ran waits for the next task (found by difftest).
    h = started()
    h.step(lambda ex: updates.admit(ex, request("u1")))  # before any worker polled
    assert start_delivering(h) == ["u1"]
    h.step(lambda ex: updates.admit(ex, request("u2")))  # while the task runs
    h.step(signal("a"))
    wt = h.state.workflow_task
    assert wt is not None
    token = h.wft_token()
    accept = update_pb2.Acceptance(accepted_request_message_id="u1/request")
    with pytest.raises(BadCommand) as refused:
        h.complete_wft(
            protocol_command("accept"),
            complete_workflow(),
            messages=[message("accept", "u1", accept)],
        )
    assert refused.value.cause == causes.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND
    h.step(lambda ex: completion.fail_for_bad_command(ex, token, refused.value, identity="w"))
    assert h.last is not None and "u1" in h.last.out.updates_changed
    u1, u2 = h.state.updates["u1"], h.state.updates["u2"]
    assert u1.aborted == updates.TASK_FAILED_MESSAGE and not u1.accepted_event_id
    assert not u2.aborted
    assert [u.update_id for u in h.step(updates.undelivered)] == ["u2"]
    assert start_delivering(h) == ["u2"]
    # The same id sent again is a new update.
    h.step(lambda ex: updates.admit(ex, request("u1")))
    assert not h.state.updates["u1"].aborted


def test_a_task_the_worker_fails_aborts_nothing() -> None:
    h = started()
    h.step(lambda ex: updates.admit(ex, request("u1")))
    assert start_delivering(h) == ["u1"]
    wt = h.state.workflow_task
    assert wt is not None
    h.step(
        lambda ex: workflow_task.fail(
            ex, wt, cause=causes.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE
        )
    )
    assert not h.state.updates["u1"].aborted
    assert start_delivering(h) == ["u1"]


def test_a_speculative_task_the_server_fails_is_recorded_with_its_failure() -> None:
    # As Temporal: the task delivering an update to an idle run is speculative; a signal
    # arrives while it runs, so its completion is refused (UNHANDLED_COMMAND).
    h = idle()
    before = len(h.history)
    h.step(lambda ex: updates.admit(ex, request("u1")))
    assert start_delivering(h) == ["u1"]
    h.step(signal("a"))
    wt = h.state.workflow_task
    assert wt is not None and wt.kind == WorkflowTaskKind.SPECULATIVE
    token = h.wft_token()
    with pytest.raises(BadCommand) as refused:
        h.complete_wft(complete_workflow())
    h.step(lambda ex: completion.fail_for_bad_command(ex, token, refused.value, identity="w"))
    assert h.types()[before:] == [
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_FAILED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    assert h.ids_are_sequential()
    assert h.state.updates["u1"].aborted == updates.TASK_FAILED_MESSAGE


def _started_event(h: Harness, at: int) -> history_pb2.WorkflowTaskStartedEventAttributes:
    """The first WorkflowTaskStarted event from history index `at` on."""
    events = [e for e in h.history[at:] if e.HasField("workflow_task_started_event_attributes")]
    return events[0].workflow_task_started_event_attributes


def test_the_normal_task_after_a_child_start_names_no_worker_as_temporal_s_conversion() -> None:
    # Temporal starts that task speculative and writes it when the child's started event
    # lands, without the worker's identity and build (difftest's Perdure-SDK profile).
    h = started()
    h.start_wft()
    h.step(lambda ex: updates.admit(ex, request("u1")))
    before = len(h.history)
    h.complete_wft(
        start_child(),
        return_new_workflow_task=True,
        worker_version_stamp=common_pb2.WorkerVersionStamp(build_id="b1"),
    )
    attrs = _started_event(h, before)
    assert attrs.identity == "" and not attrs.HasField("worker_version")


def test_a_speculative_task_an_event_reaches_while_it_runs_names_no_worker() -> None:
    h = idle()
    h.step(lambda ex: updates.admit(ex, request("u1")))
    before = len(h.history)
    h.start_wft(build_id="b1")
    h.step(signal("wake"))
    rejection = update_pb2.Rejection(failure=failure_pb2.Failure(message="no"))
    h.complete_wft(messages=[message("reject", "u1", rejection)])
    assert h.types()[before:before + 3] == [
        "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_COMPLETED"
    ]  # fmt: skip
    attrs = _started_event(h, before)
    assert attrs.identity == "" and not attrs.HasField("worker_version")


def test_a_speculative_task_that_accepts_names_its_worker() -> None:
    h = idle()
    h.step(lambda ex: updates.admit(ex, request("u1")))
    before = len(h.history)
    h.start_wft(build_id="b1")
    accept = update_pb2.Acceptance(accepted_request_message_id="u1/request")
    h.complete_wft(protocol_command("accept"), messages=[message("accept", "u1", accept)])
    attrs = _started_event(h, before)
    assert attrs.worker_version.build_id == "b1"
