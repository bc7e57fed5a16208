"""RecordActivityTaskStarted: a poller took an activity task from its queue.

The transition claims the task row, marks the attempt started and arms its
start-to-close (and heartbeat) deadlines; the response is what the worker runs.
"""

from __future__ import annotations

from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import activities
from perdure.server.engine.deadlines import parse_activity_task_key
from perdure.server.engine.execution import Execution
from perdure.server.engine.workflow_task import StaleTask
from perdure.server.errors import NamespaceNotFound, NotFound
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace
from perdure.server.store.base import TaskRow


async def record_activity_task_started(
    history: HistoryService, ns: Namespace, row: TaskRow, identity: str, build_id: str = ""
) -> rr.PollActivityTaskQueueResponse | None:
    """Start the activity attempt of `row` for the poller `identity`; None when the task
    is stale (the attempt ended or was started meanwhile, or its run is gone)."""
    scheduled_event_id, attempt = parse_activity_task_key(row.key)
    request_id = history.new_id()

    def start(ex: Execution) -> rr.PollActivityTaskQueueResponse:
        info = activities.start(
            ex,
            scheduled_event_id,
            attempt,
            identity=identity,
            request_id=request_id,
            build_id=build_id,
        )
        return activities.task_response(ex, info)

    try:
        return await history.update(ns, row.workflow_id, row.run_id, start)
    except (StaleTask, NotFound, NamespaceNotFound):
        return None
