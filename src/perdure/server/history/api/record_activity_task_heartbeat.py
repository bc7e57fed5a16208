"""RecordActivityTaskHeartbeat (and ById): a running attempt reports progress.

The heartbeat keeps its details (a retry sees them) and pushes its heartbeat deadline
back; the answer tells the worker whether the workflow asked to cancel the activity, or
an operator paused or reset it.
"""

from __future__ import annotations

from temporalio.api.common.v1 import message_pb2 as common_pb2

from perdure.server.engine import activities
from perdure.server.engine.execution import Execution
from perdure.server.engine.state import ActivityInfo
from perdure.server.history.api.started_activity import StartedActivity, update_started_activity
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace


async def record_activity_task_heartbeat(
    history: HistoryService,
    ns: Namespace,
    target: StartedActivity,
    details: common_pb2.Payloads | None,
) -> activities.HeartbeatAnswer:
    """Record the heartbeat; the answer says whether the attempt should stop, and why."""

    def beat(ex: Execution, info: ActivityInfo) -> activities.HeartbeatAnswer:
        return activities.heartbeat(ex, info, details)

    return await update_started_activity(history, ns, target, beat)
