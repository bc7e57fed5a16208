"""Queries and updates: QueryWorkflow, RespondQueryTaskCompleted, UpdateWorkflowExecution,
PollWorkflowExecutionUpdate, and update-with-start (ExecuteMultiOperation).

The handlers validate and cap how long the caller waits; the history operations
(history/api/query_workflow.py, update_workflow.py, update_with_start.py) do the work.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import query_pb2 as query_enums
from temporalio.api.enums.v1 import task_queue_pb2 as tq_enums
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import tokens
from perdure.server.engine.state import ExecutionState
from perdure.server.errors import InvalidArgument, MultiOperationFailed, NotFound, ServiceError
from perdure.server.frontend.context import FrontendContext
from perdure.server.frontend.deadline import Deadline, remaining_seconds, within_deadline
from perdure.server.frontend.limits import check_payloads
from perdure.server.history.api.query_workflow import query_workflow
from perdure.server.history.api.update_with_start import (
    OPERATION_COUNT,
    START,
    UPDATE,
    update_with_start,
)
from perdure.server.history.api.update_workflow import poll_workflow_update, update_workflow
from perdure.server.matching.queries import QueryAnswer, QueryTask

QUERY_WAIT_SECONDS = 30.0
UPDATE_WAIT_SECONDS = 20.0
"""Temporal's long-poll interval: an update wait answers with the stage reached after it."""


def query_task_response(st: ExecutionState, task: QueryTask) -> rr.PollWorkflowTaskQueueResponse:
    token = tokens.QueryTaskToken(task.namespace_id, task.workflow_id, task.run_id, task.query_id)
    resp = rr.PollWorkflowTaskQueueResponse(
        task_token=token.encode(),
        previous_started_event_id=st.last_workflow_task_started_event_id,
        attempt=1,
    )
    resp.query.CopyFrom(task.query)
    resp.history.SetInParent()  # present even when empty (a sticky worker has the rest)
    resp.workflow_execution.workflow_id = st.workflow_id
    resp.workflow_execution.run_id = st.run_id
    resp.workflow_type.name = st.workflow_type
    resp.workflow_execution_task_queue.name = st.task_queue
    resp.workflow_execution_task_queue.kind = tq_enums.TASK_QUEUE_KIND_NORMAL
    return resp


class InteractionRpcs(FrontendContext):
    # ------------------------------------------------------------------ queries

    async def QueryWorkflow(
        self, request: rr.QueryWorkflowRequest, deadline: Deadline
    ) -> rr.QueryWorkflowResponse:
        ns = await self.namespaces.get(request.namespace)
        if not request.execution.workflow_id:
            raise InvalidArgument("WorkflowId is not set on request.")
        if not request.query.query_type:
            raise InvalidArgument("QueryType is not set on request.")
        check_payloads(request.query.query_args, "query args", self.limits)
        return await query_workflow(
            self.history, self.queries, self.query_router, ns, request,
            wait_seconds=remaining_seconds(deadline, QUERY_WAIT_SECONDS, margin=0.5),
        )  # fmt: skip

    async def RespondQueryTaskCompleted(
        self, request: rr.RespondQueryTaskCompletedRequest, deadline: Deadline
    ) -> rr.RespondQueryTaskCompletedResponse:
        token = tokens.decode_query_task(request.task_token)
        answered = request.completed_type == query_enums.QUERY_RESULT_TYPE_ANSWERED
        answer = QueryAnswer(
            answered,
            result=request.query_result if request.HasField("query_result") else None,
            error_message=request.error_message,
            failure=request.failure if request.HasField("failure") else None,
        )
        if not self.queries.resolve(token.query_id, answer) and not (
            self.query_bridge is not None
            and await self.query_bridge.answer_elsewhere(token.query_id, answer)
        ):
            raise NotFound("query task not found, or already expired")
        return rr.RespondQueryTaskCompletedResponse()

    # ------------------------------------------------------------------ updates

    def _check_update(self, request: rr.UpdateWorkflowExecutionRequest) -> None:
        if not request.workflow_execution.workflow_id:
            raise InvalidArgument("WorkflowId is not set on request.")
        check_payloads(request.request.input.args, "update input", self.limits)

    async def UpdateWorkflowExecution(
        self, request: rr.UpdateWorkflowExecutionRequest, deadline: Deadline
    ) -> rr.UpdateWorkflowExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        self._check_update(request)
        return await within_deadline(
            deadline,
            update_workflow(self.history, ns, request, wait_seconds=UPDATE_WAIT_SECONDS),
        )

    async def PollWorkflowExecutionUpdate(
        self, request: rr.PollWorkflowExecutionUpdateRequest, deadline: Deadline
    ) -> rr.PollWorkflowExecutionUpdateResponse:
        ns = await self.namespaces.get(request.namespace)
        ref = request.update_ref
        if not ref.workflow_execution.workflow_id or not ref.update_id:
            raise InvalidArgument("UpdateRef must name a workflow and an update id.")
        return await within_deadline(
            deadline,
            poll_workflow_update(self.history, ns, request, wait_seconds=UPDATE_WAIT_SECONDS),
        )

    # ------------------------------------------------------------------ update-with-start

    async def ExecuteMultiOperation(
        self, request: rr.ExecuteMultiOperationRequest, deadline: Deadline
    ) -> rr.ExecuteMultiOperationResponse:
        ns = await self.namespaces.get(request.namespace)
        ops = list(request.operations)
        if (
            len(ops) != 2
            or not ops[0].HasField("start_workflow")
            or not ops[1].HasField("update_workflow")
        ):
            raise InvalidArgument(
                "Operations have to be exactly [Start, Update]: "
                "update-with-start is the only supported multi-operation."
            )
        start, update = ops[0].start_workflow, ops[1].update_workflow
        if not start.namespace:
            start.namespace = request.namespace
        if update.workflow_execution.workflow_id != start.workflow_id:
            raise InvalidArgument("The update must name the workflow id the start names.")
        if update.workflow_execution.run_id or update.first_execution_run_id:
            raise InvalidArgument("The update of an update-with-start cannot name a run id.")
        if start.workflow_id_conflict_policy == wf_enums.WORKFLOW_ID_CONFLICT_POLICY_UNSPECIFIED:
            raise InvalidArgument(
                "WorkflowIdConflictPolicy must be set for update-with-start (USE_EXISTING or FAIL)."
            )
        # Both are validated before either runs, so that a refused update starts nothing.
        try:
            self.check_start(ns, start)
        except ServiceError as err:
            raise MultiOperationFailed(START, err, OPERATION_COUNT) from err
        try:
            self._check_update(update)
        except ServiceError as err:
            raise MultiOperationFailed(UPDATE, err, OPERATION_COUNT) from err
        return await within_deadline(
            deadline,
            update_with_start(self.history, ns, start, update, wait_seconds=UPDATE_WAIT_SECONDS),
        )
