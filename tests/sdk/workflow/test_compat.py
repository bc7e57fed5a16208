"""Scheduling parity with the official SDK on hand-built histories.

When several things resolve in one activation, the order in which workflow coroutines
resume decides the order of their commands. Both SDKs must agree, or a history written by
one fails to replay in the other. For each history we let the official SDK's Replayer
decide which command order is right and require ours to agree.
"""

from __future__ import annotations

from typing import Any

import pytest
import temporalio.client
import temporalio.worker

from perdure.client import WorkflowHistory
from perdure.worker import Replayer
from tests.sdk.workflow.history_builder import HistoryBuilder
from tests.sdk.workflow.scenarios import load

S = load("perdure")
T = load("temporalio")


def _interleave(first_job: str, second_command: str) -> HistoryBuilder:
    """Activity "a" and a 5s timer resolve in one task; then two activities are scheduled."""
    b = HistoryBuilder("Interleave")
    b.full_task()
    scheduled = b.activity_scheduled("1", "greet")
    timer = b.timer_started("1", 5)
    if first_job == "activity":
        b.activity_completed(scheduled, "hello a")
        b.timer_fired("1", timer)
    else:
        b.timer_fired("1", timer)
        b.activity_completed(scheduled, "hello a")
    b.full_task()
    other = "after_timer" if second_command == "after_activity" else "after_activity"
    b.activity_scheduled("2", second_command)  # whichever coroutine resumed first got seq 2
    b.activity_scheduled("3", other)
    return b


async def _official_accepts(b: HistoryBuilder) -> bool:
    replayer = temporalio.worker.Replayer(
        workflows=[T.Interleave, T.SignalInterleave],
        workflow_runner=temporalio.worker.UnsandboxedWorkflowRunner(),
    )
    history = temporalio.client.WorkflowHistory("wf-1", list(b.events))
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    return result.replay_failure is None


async def _we_accept(b: HistoryBuilder) -> bool:
    result = await Replayer(workflows=[S.Interleave, S.SignalInterleave]).replay_workflow(
        WorkflowHistory("wf-1", list(b.events)), raise_on_replay_failure=False
    )
    return result.replay_failure is None


@pytest.mark.parametrize("first_job", ["activity", "timer"])
async def test_resume_order_matches_the_official_sdk(first_job: str) -> None:
    verdicts: dict[str, Any] = {}
    for second in ("after_activity", "after_timer"):
        b = _interleave(first_job, second)
        verdicts[second] = (await _official_accepts(b), await _we_accept(b))
    official = {k: v[0] for k, v in verdicts.items()}
    ours = {k: v[1] for k, v in verdicts.items()}
    assert sum(official.values()) == 1, official  # exactly one order is right
    assert ours == official


def _signal_interleave(signal_first: bool, second_command: str) -> HistoryBuilder:
    """Activity "a" completes and a signal arrives in one task; both sides schedule next."""
    b = HistoryBuilder("SignalInterleave")
    b.full_task()
    scheduled = b.activity_scheduled("1", "greet")
    if signal_first:
        b.signaled("poke")
        b.activity_completed(scheduled, "hello a")
    else:
        b.activity_completed(scheduled, "hello a")
        b.signaled("poke")
    b.full_task()
    other = "from_signal" if second_command == "after_activity" else "after_activity"
    b.activity_scheduled("2", second_command)
    b.activity_scheduled("3", other)
    return b


@pytest.mark.parametrize("signal_first", [True, False])
async def test_signal_and_resolution_order_matches_the_official_sdk(signal_first: bool) -> None:
    official, ours = {}, {}
    for second in ("after_activity", "from_signal"):
        b = _signal_interleave(signal_first, second)
        official[second], ours[second] = await _official_accepts(b), await _we_accept(b)
    assert sum(official.values()) == 1, official
    assert ours == official
