"""ResetStickyTaskQueue, and moving a gone sticky worker's runs off its queue.

Both make the run's next workflow tasks go to its normal task queue, a task already
scheduled on the sticky queue at once: clients call ResetStickyTaskQueue when the worker
holding the run in its cache goes away; the server does the same when that worker shuts
down or stops polling.
"""

from __future__ import annotations

from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import workflow_task
from perdure.server.errors import NotFound
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


async def move_off_sticky(
    history: HistoryService, ns: Namespace, workflow_id: str, run_id: str
) -> None:
    """The run's sticky worker is gone (a run deleted meanwhile has nothing to move)."""
    try:
        await history.update(ns, workflow_id, run_id, workflow_task.clear_stickiness)
    except NotFound:
        pass
