"""Move a run's workflow tasks off a sticky queue whose worker is gone.

A worker that shuts down (ShutdownWorker) or stops polling leaves its sticky queue; the
run's pending and later workflow tasks go to the normal queue, with full history.
"""

from __future__ import annotations

from perdure.server.engine import workflow_task
from perdure.server.errors import NotFound
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace


async def clear_sticky_task_queue(
    history: HistoryService, ns: Namespace, workflow_id: str, run_id: str
) -> None:
    """Drop the run's stickiness; a run that is gone needs nothing."""
    try:
        await history.update(ns, workflow_id, run_id, workflow_task.clear_stickiness)
    except NotFound:
        pass
