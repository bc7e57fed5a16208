"""Queries and updates: QueryWorkflow, RespondQueryTaskCompleted, UpdateWorkflowExecution,
PollWorkflowExecutionUpdate, and update-with-start (ExecuteMultiOperation)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TypeAlias

import grpc
from google.protobuf import any_pb2
from temporalio.api.enums.v1 import query_pb2 as query_enums
from temporalio.api.enums.v1 import task_queue_pb2 as tq_enums
from temporalio.api.enums.v1 import update_pb2 as update_enums
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.errordetails.v1 import message_pb2 as details_pb2
from temporalio.api.update.v1 import message_pb2 as update_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import tokens, updates
from perdure.server.engine.state import ExecutionState, UpdateInfo
from perdure.server.engine.tokens import QueryTaskToken
from perdure.server.errors import (
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    QueryFailed,
    ServiceError,
)
from perdure.server.frontend.context import FrontendContext
from perdure.server.frontend.limits import check_payloads
from perdure.server.frontend.rpc import remaining_seconds, status_code
from perdure.server.matching.queries import QueryAnswer, QueryTask
from perdure.server.namespaces import Namespace

Ctx: TypeAlias = grpc.aio.ServicerContext
QUERY_WAIT_SECONDS = 30.0
UPDATE_WAIT_SECONDS = 60.0
_RUNNING = wf_enums.WORKFLOW_EXECUTION_STATUS_RUNNING
_COMPLETED = wf_enums.WORKFLOW_EXECUTION_STATUS_COMPLETED


def _rejected(st: ExecutionState, condition: int) -> bool:
    if condition == query_enums.QUERY_REJECT_CONDITION_NOT_OPEN:
        return st.status != _RUNNING
    if condition == query_enums.QUERY_REJECT_CONDITION_NOT_COMPLETED_CLEANLY:
        return st.status not in (_RUNNING, _COMPLETED)
    return False


def query_task_response(st: ExecutionState, task: QueryTask) -> rr.PollWorkflowTaskQueueResponse:
    token = QueryTaskToken(task.namespace_id, task.workflow_id, task.run_id, task.query_id)
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


class MultiOperationFailed(ServiceError):
    """ExecuteMultiOperation: one operation failed, the others were aborted."""

    def __init__(self, failed_index: int, error: ServiceError, count: int) -> None:
        super().__init__("MultiOperation could not be executed.")
        self.failed_index = failed_index
        self.error = error
        self.count = count

    def details(self) -> details_pb2.MultiOperationExecutionFailure:
        out = details_pb2.MultiOperationExecutionFailure()
        for i in range(self.count):
            status = out.statuses.add()
            if i == self.failed_index:
                status.code = status_code(self.error).value[0]
                status.message = self.error.message
                detail = self.error.details()
                if detail is not None:
                    packed = any_pb2.Any()
                    packed.Pack(detail)
                    status.details.append(packed)
            else:
                status.code = grpc.StatusCode.ABORTED.value[0]
                status.message = "Operation was aborted."
        return out

    def status_source(self) -> ServiceError:
        return self.error


class InteractionRpcs(FrontendContext):
    # ------------------------------------------------------------------ queries

    async def QueryWorkflow(
        self, request: rr.QueryWorkflowRequest, context: Ctx
    ) -> rr.QueryWorkflowResponse:
        ns = await self.namespaces.get(request.namespace)
        workflow_id = request.execution.workflow_id
        if not workflow_id:
            raise InvalidArgument("WorkflowId is not set on request.")
        if not request.query.query_type:
            raise InvalidArgument("QueryType is not set on request.")
        check_payloads(request.query.query_args, "query args", self.limits)
        run_id = await self.history.resolve_run_id(ns, workflow_id, request.execution.run_id)
        task = QueryTask(self.history.new_id(), ns.id, workflow_id, run_id, request.query)

        def route(st: ExecutionState) -> int:
            """Runs under the workflow's lock, so the pending task cannot start meanwhile."""
            if _rejected(st, request.query_reject_condition):
                return st.status
            self.query_router.route(ns, st, task)
            return 0

        rejected_status = await self.history.read(ns, workflow_id, run_id, route)
        if rejected_status:
            resp = rr.QueryWorkflowResponse()
            resp.query_rejected.status = rejected_status  # type: ignore[assignment]
            return resp
        try:
            answer = await asyncio.wait_for(
                task.answer, remaining_seconds(context, QUERY_WAIT_SECONDS, margin=0.5)
            )
        except TimeoutError:
            raise DeadlineExceeded("query timed out before a worker answered it") from None
        finally:
            self.queries.discard(task)
        if not answer.answered:
            raise QueryFailed(answer.error_message or "query failed", answer.failure)
        resp = rr.QueryWorkflowResponse()
        if answer.result is not None:
            resp.query_result.CopyFrom(answer.result)
        return resp

    async def RespondQueryTaskCompleted(
        self, request: rr.RespondQueryTaskCompletedRequest, context: Ctx
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

    async def UpdateWorkflowExecution(
        self, request: rr.UpdateWorkflowExecutionRequest, context: Ctx
    ) -> rr.UpdateWorkflowExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        return await self._update(ns, request, context)

    async def _update(
        self, ns: Namespace, request: rr.UpdateWorkflowExecutionRequest, context: Ctx
    ) -> rr.UpdateWorkflowExecutionResponse:
        workflow_id = request.workflow_execution.workflow_id
        if not workflow_id:
            raise InvalidArgument("WorkflowId is not set on request.")
        check_payloads(request.request.input.args, "update input", self.limits)
        wait_stage = updates.Stage(request.wait_policy.lifecycle_stage or updates.Stage.ACCEPTED)
        run_id = await self.history.resolve_run_id(
            ns, workflow_id, request.workflow_execution.run_id
        )
        await self.history.update(
            ns,
            workflow_id,
            run_id,
            lambda ex: updates.admit(ex, request.request),
            first_execution_run_id=request.first_execution_run_id,
        )
        stage, outcome = await self._await_update(
            ns, workflow_id, run_id, request.request.meta.update_id, wait_stage, context,
            UPDATE_WAIT_SECONDS,
        )  # fmt: skip
        resp = rr.UpdateWorkflowExecutionResponse(stage=stage)  # type: ignore[arg-type]
        resp.update_ref.workflow_execution.workflow_id = workflow_id
        resp.update_ref.workflow_execution.run_id = run_id
        resp.update_ref.update_id = request.request.meta.update_id
        if outcome is not None:
            resp.outcome.CopyFrom(outcome)
        return resp

    async def PollWorkflowExecutionUpdate(
        self, request: rr.PollWorkflowExecutionUpdateRequest, context: Ctx
    ) -> rr.PollWorkflowExecutionUpdateResponse:
        ns = await self.namespaces.get(request.namespace)
        ref = request.update_ref
        if not ref.workflow_execution.workflow_id or not ref.update_id:
            raise InvalidArgument("UpdateRef must name a workflow and an update id.")
        run_id = await self.history.resolve_run_id(
            ns, ref.workflow_execution.workflow_id, ref.workflow_execution.run_id
        )
        wait_stage = updates.Stage(request.wait_policy.lifecycle_stage or updates.Stage.ADMITTED)
        stage, outcome = await self._await_update(
            ns, ref.workflow_execution.workflow_id, run_id, ref.update_id, wait_stage, context,
            UPDATE_WAIT_SECONDS,
        )  # fmt: skip
        resp = rr.PollWorkflowExecutionUpdateResponse(stage=stage)  # type: ignore[arg-type]
        resp.update_ref.workflow_execution.workflow_id = ref.workflow_execution.workflow_id
        resp.update_ref.workflow_execution.run_id = run_id
        resp.update_ref.update_id = ref.update_id
        if outcome is not None:
            resp.outcome.CopyFrom(outcome)
        return resp

    async def _await_update(
        self,
        ns: Namespace,
        workflow_id: str,
        run_id: str,
        update_id: str,
        wait_stage: updates.Stage,
        context: Ctx,
        cap: float,
    ) -> tuple[int, update_pb2.Outcome | None]:
        """Wait until the update reaches `wait_stage` (or the deadline); its stage and outcome."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + remaining_seconds(context, cap)

        def look(st: ExecutionState) -> tuple[UpdateInfo | None, bool]:
            info = st.updates.get(update_id)
            # A copy: the cached state changes under later transitions.
            return (dataclasses.replace(info) if info else None), st.running

        while True:
            waiter = self.history.watchers.waiter(ns.id, run_id)
            info, running = await self.history.read(ns, workflow_id, run_id, look)
            if info is None:
                if not running:
                    raise NotFound("workflow execution already completed")
                raise NotFound(f"update {update_id} not found")
            stage = updates.stage_of(info)
            left = deadline - loop.time()
            if stage >= wait_stage or left <= 0:
                outcome = None
                if stage == updates.Stage.COMPLETED:
                    event = None
                    if info.completed_event_id:
                        events = await self.history_pages.read(
                            ns, workflow_id, run_id, info.completed_event_id,
                            info.completed_event_id, 1,
                        )  # fmt: skip
                        event = events[0] if events else None
                    outcome = updates.outcome(info, event)
                return _lifecycle(stage), outcome
            try:
                await asyncio.wait_for(waiter.wait(), left)
            except TimeoutError:
                pass

    # ------------------------------------------------------------------ update-with-start

    async def ExecuteMultiOperation(
        self, request: rr.ExecuteMultiOperationRequest, context: Ctx
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
        try:
            self._check_start(ns, start)  # type: ignore[attr-defined]
            run_id, started = await self._start(ns, start, signal_with_start=False)  # type: ignore[attr-defined]
        except ServiceError as err:
            raise MultiOperationFailed(0, err, 2) from err
        update.workflow_execution.run_id = run_id
        try:
            update_resp = await self._update(ns, update, context)
        except ServiceError as err:
            raise MultiOperationFailed(1, err, 2) from err
        resp = rr.ExecuteMultiOperationResponse()
        resp.responses.add().start_workflow.CopyFrom(
            rr.StartWorkflowExecutionResponse(run_id=run_id, started=started, status=_RUNNING)
        )
        resp.responses.add().update_workflow.CopyFrom(update_resp)
        return resp


def _lifecycle(stage: updates.Stage) -> int:
    return {
        updates.Stage.ADMITTED: update_enums.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED,
        updates.Stage.ACCEPTED: update_enums.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED,
        updates.Stage.COMPLETED: update_enums.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED,
    }.get(stage, 0)
