"""Removing runs from the store: DeleteWorkflowExecution and the retention timer.

The engine decides (engine/retention.py); this module does the I/O. A run is removed
with `Store.delete_execution` while the workflow id's lock is held, and its cached state
is dropped with it, so any later request on the run finds nothing.
"""

from __future__ import annotations

import logging

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


async def delete_workflow_execution(
    history: HistoryService, ns: Namespace, workflow_id: str, run_id: str, *, identity: str
) -> None:
    """DeleteWorkflowExecution: terminate the run if it runs, then remove it.

    When the run's close left work for its parent or children, the removal is left to
    the deletion timer, moved to when that work is done (Temporal also deletes
    asynchronously).
    """
    target = await history.resolve_run_id(ns, workflow_id, run_id)
    if await _remove(history, ns, workflow_id, target):
        return

    def close(ex: Execution) -> None:
        retention.close_for_deletion(ex, identity)
        when = retention.earliest_deletion(ex.state)
        if when > ex.now:
            retention.delete_at(ex, when)

    await history.update(ns, workflow_id, target, close)
    await _remove(history, ns, workflow_id, target)


async def expire(
    history: HistoryService, ns: Namespace, workflow_id: str, run_id: str, ref: TimerRef
) -> None:
    """The retention (or deferred deletion) timer of a run fired."""
    if not await _remove(history, ns, workflow_id, run_id):
        await history.update(ns, workflow_id, run_id, lambda ex: retention.fire_deletion(ex, ref))
