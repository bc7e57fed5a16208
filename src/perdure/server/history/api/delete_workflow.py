"""DeleteWorkflowExecution, and the retention timer that removes closed runs.

The engine decides (engine/retention.py); this module does the I/O. A run is removed
with `Store.delete_execution` while the workflow id's lock is held, and its cached state
is dropped with it, so any later request on the run finds nothing.
"""

from __future__ import annotations

import logging

from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import retention
from perdure.server.engine.deadlines import TimerRef
from perdure.server.engine.execution import Execution
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace
from perdure.server.store.base import ExecutionKey

log = logging.getLogger(__name__)


async def _remove(history: HistoryService, ns: Namespace, workflow_id: str, run_id: str) -> bool:
    """Delete the run if it is closed and may go now; False if it has to wait."""
    async with history.workflow_lock(ns, workflow_id):
        cached = await history.load_locked(ns, workflow_id, run_id)
        st = cached.state
        if st.running or history.clock.now_ns() < retention.earliest_deletion(st):
            return False
        await history.store.delete_execution(ExecutionKey(ns.id, workflow_id, run_id))
        history.evict(ns, run_id)
    log.debug("deleted %s/%s", workflow_id, run_id)
    return True


DELETER_IDENTITY = "history-service"
"""The identity on the termination of a run deleted while it still runs."""


async def delete_workflow(
    history: HistoryService, ns: Namespace, request: rr.DeleteWorkflowExecutionRequest
) -> rr.DeleteWorkflowExecutionResponse:
    """Terminate the run if it runs, then remove it.

    When the run's close left work for its parent or children, the removal is left to
    the deletion timer, moved to when that work is done (Temporal also deletes
    asynchronously).
    """
    workflow_id = request.workflow_execution.workflow_id
    target = await history.resolve_run_id(ns, workflow_id, request.workflow_execution.run_id)
    if await _remove(history, ns, workflow_id, target):
        return rr.DeleteWorkflowExecutionResponse()

    def close(ex: Execution) -> None:
        retention.close_for_deletion(ex, DELETER_IDENTITY)
        when = retention.earliest_deletion(ex.state)
        if when > ex.now:
            retention.delete_at(ex, when)

    await history.update(ns, workflow_id, target, close)
    await _remove(history, ns, workflow_id, target)
    return rr.DeleteWorkflowExecutionResponse()


async def expire(
    history: HistoryService, ns: Namespace, workflow_id: str, run_id: str, ref: TimerRef
) -> None:
    """The retention (or deferred deletion) timer of a run fired."""
    if not await _remove(history, ns, workflow_id, run_id):
        await history.update(ns, workflow_id, run_id, lambda ex: retention.fire_deletion(ex, ref))
