"""Where a query goes: onto a task queue, or along with the run's workflow task.

A query must see every event the workflow has been sent. While a workflow task is pending
it rides on that task; while one runs, it waits for the task to end; otherwise it goes to
the sticky queue (when that worker is still there and the run open: a worker evicts a
closed run) or the normal one (with full history), as a query task. A query no worker
can answer now is refused with Temporal's WorkflowNotReady (`not_ready`), whether it just
came or is routed again (its task ended without answering it, or the run closed).
"""

from __future__ import annotations

from perdure.server.engine.execution import Execution
from perdure.server.engine.state import ExecutionState
from perdure.server.errors import WorkflowNotReady
from perdure.server.matching.queries import QueryAnswer, QueryRegistry, QueryTask
from perdure.server.matching.queues import Matching, TaskQueue
from perdure.server.namespaces import Namespace
from perdure.server.store.base import TaskKind

CLOSED_BEFORE_FIRST_TASK = "Workflow execution closed before WorkflowTaskStarted event"
FIRST_TASK_NOT_SCHEDULED = "Workflow task is not scheduled yet."
TASK_KEEPS_FAILING = "Unable to query workflow due to Workflow Task in failed state."
FAIL_FAST_TASK_ATTEMPT = 3
"""Temporal's failQueryWorkflowTaskAttemptCount: from this attempt of a workflow task on,
a query fails at once (the task that would answer it keeps failing)."""


def not_ready(st: ExecutionState) -> WorkflowNotReady | None:
    """Why no worker can answer a query to the run now, as Temporal refuses one; None
    when one can."""
    wt = st.workflow_task
    if not st.running and not st.last_completed_workflow_task_event_id:
        # No workflow task of the run ever completed: no worker can rebuild a state.
        return WorkflowNotReady(CLOSED_BEFORE_FIRST_TASK)
    if wt is None and not st.last_completed_workflow_task_event_id:
        # The first task waits for its backoff (cron, retry, start delay).
        return WorkflowNotReady(FIRST_TASK_NOT_SCHEDULED)
    if st.running and wt is not None and wt.attempt >= FAIL_FAST_TASK_ATTEMPT:
        return WorkflowNotReady(TASK_KEEPS_FAILING)
    return None


class QueryRouter:
    def __init__(self, queries: QueryRegistry, matching: Matching) -> None:
        self._queries = queries
        self._matching = matching

    def route(self, ns: Namespace, st: ExecutionState, task: QueryTask) -> TaskQueue | None:
        """Send a query the way that sees everything the workflow has been sent (called
        under the run's lock, so its workflow task cannot start or end meanwhile), or
        refuse it when no worker can answer the run now; returns the task queue it went to
        as a query task of its own, if it did."""
        refusal = not_ready(st)
        if refusal is not None:
            task.resolve(QueryAnswer(False, refusal=refusal))
            return None
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
        if st.running and wt is not None and wt.started:
            return
        for task in self._queries.take_waiting(ns.id, st.run_id):
            self.route(ns, st, task)
