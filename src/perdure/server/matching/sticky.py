"""Sticky queues whose worker is gone: Temporal's "sticky worker unavailable".

A worker that dies without ShutdownWorker leaves its sticky queue behind. When a
workflow task is scheduled on a sticky queue that nobody has polled recently (none
waits on it, no poll began within `STICKY_ALIVE_SECONDS`; on a shared database, no
process has seen one), the task moves to the run's normal queue at once, as Temporal's
matching refuses it and history pushes it to the normal queue. Without this, every
later task of every run the dead worker cached would wait out the sticky
schedule-to-start timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from perdure.server.engine.deadlines import workflow_task_key
from perdure.server.engine.execution import Execution
from perdure.server.matching.queues import Matching
from perdure.server.namespaces import Namespace
from perdure.server.store.base import StoreError, TaskKind

log = logging.getLogger(__name__)

MoveOffSticky = Callable[[Namespace, str, str], Awaitable[None]]
"""Move a run (namespace, workflow id, run id) off its sticky queue (history's
reset_sticky_task_queue.move_off_sticky)."""


class StickyRouting:
    def __init__(self, matching: Matching, move_off: MoveOffSticky) -> None:
        self._matching = matching
        self._move_off = move_off
        self._tasks: set[asyncio.Task[None]] = set()

    def run_committed(self, ns: Namespace, ex: Execution) -> None:
        """After a commit: a workflow task it scheduled on a sticky queue moves to the
        normal queue when that sticky queue has no recent poller."""
        st = ex.state
        wt = st.workflow_task
        if not st.running or wt is None or not wt.sticky or wt.started:
            return
        key = workflow_task_key(st.run_id, wt.seq)
        if not any(task.key == key for task in ex.out.tasks_added):
            return
        task = asyncio.ensure_future(self._check(ns, st.workflow_id, st.run_id, wt.task_queue))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _check(self, ns: Namespace, workflow_id: str, run_id: str, name: str) -> None:
        queue = self._matching.queue(ns.id, name, TaskKind.WORKFLOW)
        try:
            if await queue.poller_seen_recently():
                return
            await self._move_off(ns, workflow_id, run_id)
        except StoreError as e:
            # The sticky schedule-to-start timeout still moves the task.
            log.warning("moving %s/%s off sticky queue %s: %s", workflow_id, run_id, name, e)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
