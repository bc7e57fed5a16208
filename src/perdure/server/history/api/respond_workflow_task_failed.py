"""RespondWorkflowTaskFailed: a worker could not finish a workflow task.

The attempt fails (the next one is scheduled, transient until it completes); the
queries that rode on it ride the next attempt, as Temporal keeps them buffered. A worker
that lost the run's cached state asks for the sticky queue to be dropped
(RESET_STICKY_TASK_QUEUE): the next attempt goes to the normal queue.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import failed_cause_pb2 as causes
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import workflow_task
from perdure.server.engine.execution import Execution
from perdure.server.engine.tokens import WorkflowTaskToken
from perdure.server.history.service import HistoryService
from perdure.server.matching.queries import QueryRegistry
from perdure.server.namespaces import Namespace


async def respond_workflow_task_failed(
    history: HistoryService,
    queries: QueryRegistry,
    ns: Namespace,
    token: WorkflowTaskToken,
    request: rr.RespondWorkflowTaskFailedRequest,
) -> rr.RespondWorkflowTaskFailedResponse:
    def fail(ex: Execution) -> None:
        wt = workflow_task.require_started(ex, token.seq, token.started_event_id)
        if request.cause == causes.WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE:
            workflow_task.clear_stickiness(ex)
        workflow_task.fail(
            ex,
            wt,
            cause=request.cause,
            failure=request.failure if request.HasField("failure") else None,
            identity=request.identity,
            binary_checksum=request.binary_checksum,
        )

    queries.route_again(queries.take_riding(token.namespace_id, token.run_id))
    await history.update(ns, token.workflow_id, token.run_id, fail)
    return rr.RespondWorkflowTaskFailedResponse()
