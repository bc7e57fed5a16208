"""Replaying histories written by the official SDK (committed JSON exports) with our runtime."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payloads, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.update.v1 import Input, Meta, Outcome, Request

from perdure import workflow
from perdure.client import WorkflowHistory
from perdure.worker import Replayer, WorkflowReplayResults
from perdure.workflow import NondeterminismError
from tests.sdk.workflow.history_builder import HistoryBuilder, payload
from tests.sdk.workflow.scenarios import load

HISTORIES = Path(__file__).with_name("histories")
NAMES = sorted(p.stem for p in HISTORIES.glob("*.json"))


def _history(name: str) -> WorkflowHistory:
    text = (HISTORIES / f"{name}.json").read_text()
    return WorkflowHistory.from_json(_workflow_id(json.loads(text)), text)


def _workflow_id(data: dict[str, object]) -> str:
    events = data["events"]
    assert isinstance(events, list)
    return str(events[0]["workflowExecutionStartedEventAttributes"]["workflowId"])


def _replayer() -> Replayer:
    s = load("perdure")
    classes = [
        v
        for v in vars(s).values()
        if isinstance(v, type) and hasattr(v, "__temporal_workflow_definition")
    ]
    return Replayer(workflows=classes)


def test_fixture_set_covers_the_official_sdk_features() -> None:
    assert {
        "activities", "timers", "signals", "parent", "local_activities", "patches",
        "updates", "randomness", "cancel_activity", "continue_as_new", "failing",
        "local_failures",
    } <= set(NAMES)  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
async def test_official_sdk_history_replays(name: str) -> None:
    result = await _replayer().replay_workflow(_history(name))
    assert result.replay_failure is None


async def test_replay_workflows_collects_failures_by_run_id() -> None:
    histories = [_history(n) for n in NAMES]
    results = await _replayer().replay_workflows(histories, raise_on_replay_failure=False)
    assert isinstance(results, WorkflowReplayResults)
    assert results.replay_failures == {}


async def test_changed_workflow_fails_replay_naming_workflow_event_and_command() -> None:
    history = _history("activities")
    data = json.loads((HISTORIES / "activities.json").read_text())
    # Same code, but the first activity now has another type: rename it in the history.
    for event in data["events"]:
        attrs = event.get("activityTaskScheduledEventAttributes")
        if attrs and attrs["activityId"] == "1":
            attrs["activityType"]["name"] = "greet_v2"
    changed = WorkflowHistory.from_json(_workflow_id(data), json.dumps(data))
    with pytest.raises(NondeterminismError) as info:
        await _replayer().replay_workflow(changed)
    message = str(info.value)
    assert "workflow Activities" in message
    assert f"run_id={history.run_id}" in message
    assert "history event 5 ActivityTaskScheduled" in message
    assert "ScheduleActivityTask(activity_id='1', activity_type='greet')" in message


async def test_replay_failure_is_returned_when_not_raised() -> None:
    data = json.loads((HISTORIES / "timers.json").read_text())
    for event in data["events"]:
        attrs = event.get("timerStartedEventAttributes")
        if attrs:
            attrs["timerId"] = "99"
    changed = WorkflowHistory.from_json(_workflow_id(data), json.dumps(data))
    result = await _replayer().replay_workflow(changed, raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, NondeterminismError)
    assert "timer id" in str(result.replay_failure)


async def test_workflow_task_failure_during_replay_is_reported() -> None:
    data = json.loads((HISTORIES / "activities.json").read_text())
    data["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"] = "Nope"
    changed = WorkflowHistory.from_json(_workflow_id(data), json.dumps(data))
    result = await _replayer().replay_workflow(changed, raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, RuntimeError)
    assert "not registered" in str(result.replay_failure)


@workflow.defn(name="LocalFirst")
class LocalFirst:
    @workflow.run
    async def run(self) -> int:
        got: int = await workflow.execute_local_activity(
            "bump", 1, start_to_close_timeout=timedelta(seconds=5)
        )
        return got


async def test_a_run_ended_while_its_local_activity_ran_replays() -> None:
    """Terminated while its first task's local activity ran (found by the chaos soak,
    disk-full): history has no marker and no completed task, so the Replayer must not try
    to run the local activity (it has no activity worker), as temporalio's does not."""
    builder = HistoryBuilder("LocalFirst")
    builder.task_scheduled_started()
    builder.add(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED, reason="chaos")
    history = WorkflowHistory("wf-1", builder.events)
    result = await Replayer(workflows=[LocalFirst]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is None


@workflow.defn(name="CancelsUnstartedChild")
class CancelsUnstartedChild:
    @workflow.run
    async def run(self, cancellation_type: str) -> str:
        result: str = await workflow.execute_child_workflow(
            "Child",
            id="child-1",
            cancellation_type=workflow.ChildWorkflowCancellationType[cancellation_type],
        )
        return result


def _cancelled_before_child_started(request_recorded: bool) -> list[HistoryEvent]:
    """The parent is cancelled after its child was initiated, before the child started."""
    builder = HistoryBuilder("CancelsUnstartedChild")
    completed = builder.full_task()
    builder.add(
        EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
        workflow_id="child-1",
        workflow_type=WorkflowType(name="Child"),
        workflow_task_completed_event_id=completed,
    )
    builder.add(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED)
    completed = builder.full_task()
    if request_recorded:
        builder.add(
            EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
            workflow_execution=WorkflowExecution(workflow_id="child-1"),
            child_workflow_only=True,
            workflow_task_completed_event_id=completed,
        )
    builder.add(
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        workflow_task_completed_event_id=completed,
    )
    return builder.events


@pytest.mark.parametrize(
    ("cancellation_type", "request_recorded"),
    [
        ("TRY_CANCEL", True),
        ("WAIT_CANCELLATION_COMPLETED", True),
        ("WAIT_CANCELLATION_REQUESTED", True),
        ("ABANDON", False),
    ],
)
async def test_cancelling_an_initiated_child_requests_its_cancel_at_once(
    cancellation_type: str, request_recorded: bool
) -> None:
    """Found by the chaos soak: a parent cancelled while its child was initiated but not yet
    started. temporalio's worker sends RequestCancelExternal in the same task as the
    parent's CancelWorkflowExecution (unless the child is abandoned); Perdure's worker sent
    none, so temporalio's Replayer failed on the histories it wrote. Each history here was
    checked with temporalio's Replayer: it accepts the one given and rejects the other."""
    for recorded in (request_recorded, not request_recorded):
        events = _cancelled_before_child_started(recorded)
        started = events[0].workflow_execution_started_event_attributes
        started.input.CopyFrom(Payloads(payloads=[payload(cancellation_type)]))
        result = await Replayer(workflows=[CancelsUnstartedChild]).replay_workflow(
            WorkflowHistory("wf-1", events), raise_on_replay_failure=False
        )
        if recorded == request_recorded:
            assert result.replay_failure is None
        else:
            assert isinstance(result.replay_failure, NondeterminismError)


@workflow.defn(name="AdmittedUpdate")
class AdmittedUpdate:
    def __init__(self) -> None:
        self.got: list[int] = []

    @workflow.update(name="upd")
    def upd(self, value: int) -> int:
        self.got.append(value)
        return value * 10

    @workflow.run
    async def run(self) -> list[int]:
        await workflow.wait_condition(lambda: bool(self.got))
        return self.got


async def test_an_update_admitted_by_its_event_replays() -> None:
    """Found by difftest's Perdure-SDK profile: an update a reset reapplied comes by its
    UpdateAdmitted event, not by a message, and its acceptance carries no request.
    Perdure's worker ignored the event (the update was never run) and took the request-less
    acceptance for an update of its own; temporalio's core runs the admitted request."""
    builder = HistoryBuilder("AdmittedUpdate")
    builder.full_task()
    meta = Meta(update_id="u1", identity="client")
    request = Request(meta=meta, input=Input(name="upd", args=Payloads(payloads=[payload(4)])))
    admitted = builder.add(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED, request=request)
    completed = builder.full_task()
    accepted = builder.add(
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
        protocol_instance_id="u1",
        accepted_request_message_id="u1/request",
        accepted_request_sequencing_event_id=admitted.event_id,
    )
    builder.add(
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
        meta=meta,
        accepted_event_id=accepted.event_id,
        outcome=Outcome(success=Payloads(payloads=[payload(40)])),
    )
    builder.add(
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        result=Payloads(payloads=[payload([4])]),
        workflow_task_completed_event_id=completed,
    )
    result = await Replayer(workflows=[AdmittedUpdate]).replay_workflow(
        WorkflowHistory("wf-1", builder.events), raise_on_replay_failure=False
    )
    assert result.replay_failure is None
