"""ResetStickyTaskQueue: the run's next workflow tasks go to its normal task queue.

Clients call it when the worker holding the run in its cache goes away.
"""

from __future__ import annotations

from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import workflow_task
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace


async def reset_sticky_task_queue(
    history: HistoryService, ns: Namespace, request: rr.ResetStickyTaskQueueRequest
) -> rr.ResetStickyTaskQueueResponse:
    execution = request.execution
    await history.update(
        ns, execution.workflow_id, execution.run_id, workflow_task.clear_stickiness
    )
    return rr.ResetStickyTaskQueueResponse()
