"""Pause, unpause, reset and new options for pending activities of a run (named by
activity id, by type, or all), each in one commit: what PauseActivity, UnpauseActivity,
ResetActivity, UpdateActivityOptions and their `...ActivityExecution` forms do.

The transitions are engine/activity_ops.py's; none writes a history event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from temporalio.api.activity.v1 import message_pb2 as activity_pb2

from perdure.server.engine import activity_ops
from perdure.server.engine.execution import Execution
from perdure.server.engine.state import ActivityInfo
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace


@dataclass(frozen=True, slots=True)
class ActivityTarget:
    """Which pending activities of which run an operator request names."""

    workflow_id: str
    run_id: str = ""
    activity_id: str = ""
    activity_type: str = ""
    match_all: bool = False


async def pause_activity(
    history: HistoryService, ns: Namespace, target: ActivityTarget, *, identity: str, reason: str
) -> None:
    def pause(ex: Execution) -> None:
        for info in _select(ex, target):
            activity_ops.pause(ex, info, identity=identity, reason=reason)

    await history.update(ns, target.workflow_id, target.run_id, pause)


async def unpause_activity(
    history: HistoryService,
    ns: Namespace,
    target: ActivityTarget,
    *,
    reset_attempts: bool = False,
    reset_heartbeat: bool = False,
) -> None:
    def unpause(ex: Execution) -> None:
        for info in _select(ex, target):
            activity_ops.unpause(
                ex, info, reset_attempts=reset_attempts, reset_heartbeat=reset_heartbeat
            )

    await history.update(ns, target.workflow_id, target.run_id, unpause)


async def reset_activity(
    history: HistoryService,
    ns: Namespace,
    target: ActivityTarget,
    *,
    reset_heartbeat: bool,
    keep_paused: bool,
) -> None:
    def reset(ex: Execution) -> None:
        for info in _select(ex, target):
            activity_ops.reset(ex, info, reset_heartbeat=reset_heartbeat, keep_paused=keep_paused)

    await history.update(ns, target.workflow_id, target.run_id, reset)


async def update_activity_options(
    history: HistoryService,
    ns: Namespace,
    target: ActivityTarget,
    options: activity_pb2.ActivityOptions,
    paths: Sequence[str],
) -> activity_pb2.ActivityOptions | None:
    """The options of the (first) activity changed, None when none matched."""

    def update(ex: Execution) -> activity_pb2.ActivityOptions | None:
        changed = _select(ex, target)
        for info in changed:
            activity_ops.update_options(ex, info, options, paths)
        return activity_ops.options(changed[0]) if changed else None

    return await history.update(ns, target.workflow_id, target.run_id, update)


def _select(ex: Execution, target: ActivityTarget) -> list[ActivityInfo]:
    return activity_ops.select(ex, target.activity_id, target.activity_type, target.match_all)
