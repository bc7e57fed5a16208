"""Sync match inside a commit: a task the commit adds starts at once for a waiting poller.

Called before a commit (as one of its effects) for each run whose transition added
tasks. When a poller of this process waits on the task's queue, the task starts in that
same transition (no second commit) and the poller receives it once the commit is
durable; if the commit fails the poller goes back to waiting.
"""

from __future__ import annotations

from collections.abc import Callable

from perdure.server.engine import activities, workflow_task
from perdure.server.engine.deadlines import parse_activity_task_key, parse_workflow_task_key
from perdure.server.engine.execution import Execution
from perdure.server.engine.outputs import TaskKind
from perdure.server.engine.workflow_task import StaleTask
from perdure.server.history.api.record_workflow_task_started import poll_response
from perdure.server.matching.queries import QueryRegistry
from perdure.server.matching.queues import (
    DirectDispatch,
    Handoff,
    Matching,
    StartedTask,
    WorkflowTaskStart,
)
from perdure.server.store.base import TaskKind as QueueKind


def start_for_waiting_pollers(
    ex: Execution, matching: Matching, queries: QueryRegistry, new_id: Callable[[], str]
) -> list[DirectDispatch]:
    """Start the tasks `ex`'s transition added whose queue has an idle poller here."""
    out: list[DirectDispatch] = []
    for row in list(ex.out.tasks_added):
        queue = matching.find(row.namespace_id, row.task_queue, QueueKind(row.kind))
        taken = queue.take_idle_poller() if queue is not None else None
        if queue is None or taken is None:
            continue
        waiter, identity = taken
        request_id = new_id()
        task: StartedTask
        try:
            if row.kind == TaskKind.WORKFLOW:
                seq = parse_workflow_task_key(row.key)
                started = workflow_task.start(
                    ex, seq, identity=identity, request_id=request_id,
                    build_id=queue.poller_build_id(waiter),
                )  # fmt: skip
                task = WorkflowTaskStart(poll_response(ex, started, queries), started)
            else:
                scheduled_event_id, attempt = parse_activity_task_key(row.key)
                info = activities.start(
                    ex, scheduled_event_id, attempt, identity=identity, request_id=request_id,
                    build_id=queue.poller_build_id(waiter),
                )  # fmt: skip
                task = activities.task_response(ex, info)
        except StaleTask:
            queue.give_back_poller(waiter)
            continue
        out.append(DirectDispatch(queue, waiter, Handoff(row.key, task)))
    return out
