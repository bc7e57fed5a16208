"""Regressions the soak found, each on the history it recorded."""

from __future__ import annotations

import json
from pathlib import Path

from chaos.workflows import WORKFLOWS

from perdure.client import WorkflowHistory
from perdure.worker import Replayer

HISTORIES = Path(__file__).with_name("histories")


async def test_workflow_cancelled_while_its_activity_waits_for_a_retry_replays() -> None:
    """A ChaosOrder (run by temporalio's worker) was cancelled while its activity waited to
    retry: one task's commands were RequestCancelActivityTask and CancelWorkflowExecution,
    and the server, the activity not being started, wrote ActivityTaskCanceled between their
    events. Perdure's Replayer took that event for the next task and reported the
    CancelWorkflowExecution command unmatched; temporalio's Replayer accepts the history."""
    text = (HISTORIES / "cancel_unstarted_activity.json").read_text()
    events = json.loads(text)["events"]
    types = [e["eventType"].removeprefix("EVENT_TYPE_") for e in events[-3:]]
    assert types == [
        "ACTIVITY_TASK_CANCEL_REQUESTED",
        "ACTIVITY_TASK_CANCELED",
        "WORKFLOW_EXECUTION_CANCELED",
    ]
    wf_id = events[0]["workflowExecutionStartedEventAttributes"].get("workflowId", "wf")
    history = WorkflowHistory.from_json(wf_id, text)
    result = await Replayer(workflows=WORKFLOWS).replay_workflow(history)
    assert result.replay_failure is None


async def test_workflow_terminated_while_its_next_task_is_scheduled_replays() -> None:
    """A ChaosOrder (run by temporalio's worker) was terminated after its timer fired and
    its next workflow task was scheduled, never started. Replaying, the timer's activation
    issues StartChildWorkflowExecution, which no task ever sent; Perdure's Replayer checked
    it against the last completed task and reported it unmatched (temporalio's Replayer
    accepts the history)."""
    text = (HISTORIES / "terminated_before_task_started.json").read_text()
    events = json.loads(text)["events"]
    types = [e["eventType"].removeprefix("EVENT_TYPE_") for e in events[-3:]]
    assert types == ["TIMER_FIRED", "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_EXECUTION_TERMINATED"]
    history = WorkflowHistory.from_json("terminated", text)
    result = await Replayer(workflows=WORKFLOWS).replay_workflow(history)
    assert result.replay_failure is None
