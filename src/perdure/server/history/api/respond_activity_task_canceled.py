"""RespondActivityTaskCanceled (and ById): an activity attempt accepted its cancellation.

The activity closes with ActivityTaskCanceled and the workflow gets a task to see it.
"""

from __future__ import annotations

from temporalio.api.common.v1 import message_pb2 as common_pb2

from perdure.server.engine import activities
from perdure.server.engine.execution import Execution
from perdure.server.engine.state import ActivityInfo
from perdure.server.history.api.started_activity import StartedActivity, update_started_activity
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace


async def respond_activity_task_canceled(
    history: HistoryService,
    ns: Namespace,
    target: StartedActivity,
    details: common_pb2.Payloads | None,
    identity: str,
) -> None:
    def cancel(ex: Execution, info: ActivityInfo) -> None:
        activities.cancel_completed(ex, info, details, identity)

    await update_started_activity(history, ns, target, cancel)
