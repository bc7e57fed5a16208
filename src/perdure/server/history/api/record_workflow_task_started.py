"""RecordWorkflowTaskStarted: a poller took a workflow task from its queue.

The transition claims the task row and records the start (a written WorkflowTaskStarted
event, or transient events for a retried attempt). The response carries the update
requests the task delivers and the queries riding on it; the history the worker needs is
added by the caller (`WorkflowTaskStart.started` says which events).
"""

from __future__ import annotations

from temporalio.api.enums.v1 import task_queue_pb2 as tq_enums
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import updates, workflow_task
from perdure.server.engine.deadlines import parse_workflow_task_key
from perdure.server.engine.execution import Execution
from perdure.server.engine.tokens import WorkflowTaskToken
from perdure.server.engine.workflow_task import StaleTask, StartedWorkflowTask
from perdure.server.errors import NamespaceNotFound, NotFound
from perdure.server.history.service import HistoryService
from perdure.server.matching.queries import QueryRegistry
from perdure.server.matching.queues import WorkflowTaskStart
from perdure.server.namespaces import Namespace
from perdure.server.store.base import TaskRow


async def record_workflow_task_started(
    history: HistoryService,
    queries: QueryRegistry,
    ns: Namespace,
    row: TaskRow,
    identity: str,
    build_id: str = "",
) -> WorkflowTaskStart | None:
    """Start the workflow task of `row` for the poller `identity`; None when the task is
    stale (started or dropped meanwhile, or its run is gone): the row is of no use."""
    seq = parse_workflow_task_key(row.key)
    request_id = history.new_id()

    def start(ex: Execution) -> WorkflowTaskStart:
        started = workflow_task.start(
            ex, seq, identity=identity, request_id=request_id, build_id=build_id
        )
        return WorkflowTaskStart(poll_response(ex, started, queries), started)

    try:
        return await history.update(ns, row.workflow_id, row.run_id, start)
    except (StaleTask, NotFound, NamespaceNotFound):
        return None


def poll_response(
    ex: Execution, started: StartedWorkflowTask, queries: QueryRegistry
) -> rr.PollWorkflowTaskQueueResponse:
    """The poll response of a task started in this transition, without its history, with
    the update requests it delivers and the queries that ride on it."""
    resp = workflow_task_response(ex, started)
    resp.messages.extend(updates.request_messages(ex, started.info))
    st = ex.state
    for task in queries.take_for_task(st.namespace_id, st.run_id):
        resp.queries[task.query_id].CopyFrom(task.query)
    return resp


def workflow_task_response(
    ex: Execution, started: StartedWorkflowTask
) -> rr.PollWorkflowTaskQueueResponse:
    """The poll response of a started workflow task, except its history and messages."""
    st, wt = ex.state, started.info
    token = WorkflowTaskToken(
        st.namespace_id,
        st.workflow_id,
        st.run_id,
        seq=wt.seq,
        attempt=wt.attempt,
        started_event_id=wt.started_event_id,
    )
    resp = rr.PollWorkflowTaskQueueResponse(
        task_token=token.encode(),
        previous_started_event_id=started.previous_started_event_id,
        started_event_id=wt.started_event_id,
        attempt=wt.attempt,
    )
    resp.workflow_execution.workflow_id = st.workflow_id
    resp.workflow_execution.run_id = st.run_id
    resp.workflow_type.name = st.workflow_type
    resp.workflow_execution_task_queue.name = st.task_queue
    resp.workflow_execution_task_queue.kind = tq_enums.TASK_QUEUE_KIND_NORMAL
    resp.scheduled_time.FromNanoseconds(wt.scheduled_time)
    resp.started_time.FromNanoseconds(wt.started_time)
    return resp
