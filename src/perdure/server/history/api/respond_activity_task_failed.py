"""RespondActivityTaskFailed (and ById): an activity attempt failed.

The engine decides between a retry (a new attempt after its backoff) and closing the
activity with ActivityTaskFailed, by the retry policy and the failure.
"""

from __future__ import annotations

from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.failure.v1 import message_pb2 as failure_pb2

from perdure.server.engine import activities
from perdure.server.engine.execution import Execution
from perdure.server.engine.state import ActivityInfo
from perdure.server.history.api.started_activity import StartedActivity, update_started_activity
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace


async def respond_activity_task_failed(
    history: HistoryService,
    ns: Namespace,
    target: StartedActivity,
    failure: failure_pb2.Failure,
    identity: str,
    *,
    last_heartbeat_details: common_pb2.Payloads | None = None,
) -> None:
    def fail(ex: Execution, info: ActivityInfo) -> None:
        activities.fail(
            ex, info, failure, identity=identity, last_heartbeat_details=last_heartbeat_details
        )

    await update_started_activity(history, ns, target, fail)
