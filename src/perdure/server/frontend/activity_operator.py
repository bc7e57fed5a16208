"""Operator RPCs on a run's activities: PauseActivity, UnpauseActivity, ResetActivity,
UpdateActivityOptions, and the `...ActivityExecution` forms that `temporal activity
pause/unpause/reset/update-options` call (a workflow id and an activity id).

The `...ActivityExecution` forms without a workflow id name a standalone activity, which
Perdure does not have: UNIMPLEMENTED. The operations are history/api/activity_operator.py's.
"""

from __future__ import annotations

from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import InvalidArgument, Unimplemented
from perdure.server.frontend.context import FrontendContext
from perdure.server.frontend.deadline import Deadline
from perdure.server.history.api.activity_operator import (
    ActivityTarget,
    pause_activity,
    reset_activity,
    unpause_activity,
    update_activity_options,
)

MAX_REASON_LENGTH = 1000
STANDALONE = "standalone activities are not supported by this server"


def _target(
    workflow_id: str,
    run_id: str,
    activity_id: str,
    activity_type: str = "",
    match_all: bool = False,
) -> ActivityTarget:
    if not workflow_id:
        raise InvalidArgument("WorkflowId is not set on request.")
    if not activity_id and not activity_type and not match_all:
        raise InvalidArgument("Either activity id or activity type must be provided")
    return ActivityTarget(workflow_id, run_id, activity_id, activity_type, match_all)


def _execution_target(workflow_id: str, run_id: str, activity_id: str) -> ActivityTarget:
    if not workflow_id:
        raise Unimplemented(STANDALONE)
    if not activity_id:
        raise InvalidArgument("ActivityId is not set on request.")
    return ActivityTarget(workflow_id, run_id, activity_id)


def _check_reason(reason: str) -> None:
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidArgument("Reason is too long.")


class ActivityOperatorRpcs(FrontendContext):
    async def PauseActivity(
        self, request: rr.PauseActivityRequest, deadline: Deadline
    ) -> rr.PauseActivityResponse:
        ns = await self.namespaces.get(request.namespace)
        ex = request.execution
        target = _target(ex.workflow_id, ex.run_id, request.id, request.type)
        _check_reason(request.reason)
        await pause_activity(
            self.history, ns, target, identity=request.identity, reason=request.reason
        )
        return rr.PauseActivityResponse()

    async def PauseActivityExecution(
        self, request: rr.PauseActivityExecutionRequest, deadline: Deadline
    ) -> rr.PauseActivityExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        target = _execution_target(request.workflow_id, request.run_id, request.activity_id)
        _check_reason(request.reason)
        await pause_activity(
            self.history, ns, target, identity=request.identity, reason=request.reason
        )
        return rr.PauseActivityExecutionResponse()

    async def UnpauseActivity(
        self, request: rr.UnpauseActivityRequest, deadline: Deadline
    ) -> rr.UnpauseActivityResponse:
        ns = await self.namespaces.get(request.namespace)
        ex = request.execution
        target = _target(ex.workflow_id, ex.run_id, request.id, request.type, request.unpause_all)
        await unpause_activity(
            self.history, ns, target,
            reset_attempts=request.reset_attempts, reset_heartbeat=request.reset_heartbeat,
        )  # fmt: skip
        return rr.UnpauseActivityResponse()

    async def UnpauseActivityExecution(
        self, request: rr.UnpauseActivityExecutionRequest, deadline: Deadline
    ) -> rr.UnpauseActivityExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        target = _execution_target(request.workflow_id, request.run_id, request.activity_id)
        await unpause_activity(self.history, ns, target)
        return rr.UnpauseActivityExecutionResponse()

    async def ResetActivity(
        self, request: rr.ResetActivityRequest, deadline: Deadline
    ) -> rr.ResetActivityResponse:
        ns = await self.namespaces.get(request.namespace)
        ex = request.execution
        target = _target(ex.workflow_id, ex.run_id, request.id, request.type, request.match_all)
        await reset_activity(
            self.history, ns, target,
            reset_heartbeat=request.reset_heartbeat, keep_paused=request.keep_paused,
        )  # fmt: skip
        return rr.ResetActivityResponse()

    async def ResetActivityExecution(
        self, request: rr.ResetActivityExecutionRequest, deadline: Deadline
    ) -> rr.ResetActivityExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        target = _execution_target(request.workflow_id, request.run_id, request.activity_id)
        await reset_activity(
            self.history, ns, target,
            reset_heartbeat=request.reset_heartbeat, keep_paused=request.keep_paused,
        )  # fmt: skip
        return rr.ResetActivityExecutionResponse()

    async def UpdateActivityOptions(
        self, request: rr.UpdateActivityOptionsRequest, deadline: Deadline
    ) -> rr.UpdateActivityOptionsResponse:
        ns = await self.namespaces.get(request.namespace)
        ex = request.execution
        target = _target(ex.workflow_id, ex.run_id, request.id, request.type, request.match_all)
        options = await update_activity_options(
            self.history, ns, target, request.activity_options, list(request.update_mask.paths)
        )
        resp = rr.UpdateActivityOptionsResponse()
        if options is not None:
            resp.activity_options.CopyFrom(options)
        return resp

    async def UpdateActivityExecutionOptions(
        self, request: rr.UpdateActivityExecutionOptionsRequest, deadline: Deadline
    ) -> rr.UpdateActivityExecutionOptionsResponse:
        ns = await self.namespaces.get(request.namespace)
        target = _execution_target(request.workflow_id, request.run_id, request.activity_id)
        options = await update_activity_options(
            self.history, ns, target, request.activity_options, list(request.update_mask.paths)
        )
        resp = rr.UpdateActivityExecutionOptionsResponse()
        if options is not None:
            resp.activity_options.CopyFrom(options)
        return resp
