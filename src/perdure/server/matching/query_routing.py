"""Where a query goes: onto a task queue, or along with the run's workflow task.

A query must see every event the workflow has been sent. While a workflow task is pending
it rides on that task; while one runs, it waits for the task to end; otherwise it goes to
the sticky queue (when that worker is still there and the run open: a worker evicts a
closed run) or the normal one (with full history), as a query task.
"""

from __future__ import annotations

from perdure.server.engine.execution import Execution
from perdure.server.engine.state import ExecutionState
from perdure.server.matching.queries import QueryRegistry, QueryTask
from perdure.server.matching.queues import Matching, TaskQueue
from perdure.server.namespaces import Namespace
from perdure.server.store.base import TaskKind


class QueryRouter:
    def __init__(self, queries: QueryRegistry, matching: Matching) -> None:
        self._queries = queries
        self._matching = matching

    def route(self, ns: Namespace, st: ExecutionState, task: QueryTask) -> TaskQueue | None:
        """Send a query the way that sees everything the workflow has been sent (called
        under the run's lock, so its workflow task cannot start or end meanwhile); returns
        the task queue it went to as a query task of its own, if it did."""
        wt = st.workflow_task
        if st.running and wt is not None:
            if wt.started:
                self._queries.wait_for_task_end(task)
            else:
                self._queries.ride_next_task(task)
            return None
        self._queries.add(task)
        sticky = (
            st.running
            and st.sticky_task_queue
            and self._matching.find(ns.id, st.sticky_task_queue, TaskKind.WORKFLOW)
        )
        name = st.sticky_task_queue if sticky and sticky.alive else st.task_queue
        queue = self._matching.queue(ns.id, name, TaskKind.WORKFLOW)
        queue.offer_query(task)
        return queue

    def reroute_waiting(self, ns: Namespace, ex: Execution) -> None:
        """After a commit: queries that waited for the run's running task to end go on."""
        st = ex.state
        if not self._queries.has_waiting(ns.id, st.run_id):
            return
        wt = st.workflow_task
        if wt is not None and wt.started:
            return
        for task in self._queries.take_waiting(ns.id, st.run_id):
            self.route(ns, st, task)
