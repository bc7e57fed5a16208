"""RespondActivityTaskCompleted (and ById): an activity attempt returned its result.

As in Temporal, a result larger than the blob size limit does not complete the activity:
it fails the attempt, non-retryably.
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


async def respond_activity_task_completed(
    history: HistoryService,
    ns: Namespace,
    target: StartedActivity,
    result: common_pb2.Payloads,
    identity: str,
    *,
    max_result_bytes: int,
) -> None:
    oversize = result.ByteSize() > max_result_bytes

    def complete(ex: Execution, info: ActivityInfo) -> None:
        if oversize:
            failure = failure_pb2.Failure(message="Complete result exceeds size limit.")
            failure.server_failure_info.non_retryable = True
            activities.fail(ex, info, failure, identity=identity)
        else:
            activities.complete(ex, info, result if result.payloads else None, identity)

    await update_started_activity(history, ns, target, complete)
