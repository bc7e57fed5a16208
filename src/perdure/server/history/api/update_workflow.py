"""UpdateWorkflowExecution and PollWorkflowExecutionUpdate.

An update is admitted into the run's state (engine/updates.py), which makes sure a
workflow task delivers it; the caller then waits, on the run's history watchers, until
the update reaches the stage it asked for or its time is up, and gets the stage reached
and, once completed, the outcome (from the completion event, or the rejection); an
update the server aborted (the workflow task it was delivered to failed) is answered
FAILED_PRECONDITION.
"""

from __future__ import annotations

import asyncio
import dataclasses

from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.enums.v1 import update_pb2 as update_enums
from temporalio.api.update.v1 import message_pb2 as update_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server import links
from perdure.server.engine import updates
from perdure.server.engine.state import ExecutionState, UpdateInfo
from perdure.server.errors import InvalidArgument, NotFound, WorkflowNotReady
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace
from perdure.server.store.base import ExecutionKey

ABORTED_BY_CLOSING = "workflow update was aborted by closing workflow"
"""Temporal's answer to the caller of an update admitted but not yet accepted when its run
closed with no successor to take it over (the engine forgets such updates)."""

_LIFECYCLE = {
    updates.Stage.ADMITTED: update_enums.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED,
    updates.Stage.ACCEPTED: update_enums.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED,
    updates.Stage.COMPLETED: update_enums.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED,
}


def _wait_stage(value: int, default: updates.Stage) -> updates.Stage:
    """The wait policy's stage (`default` when unset); a value the enum lacks is refused."""
    if not value:
        return default
    try:
        return updates.Stage(value)
    except ValueError:
        raise InvalidArgument(f"Invalid wait policy lifecycle stage: {value}.") from None


async def update_workflow(
    history: HistoryService,
    ns: Namespace,
    request: rr.UpdateWorkflowExecutionRequest,
    *,
    wait_seconds: float,
) -> rr.UpdateWorkflowExecutionResponse:
    """Admit the update, then wait up to `wait_seconds` for its wait-policy stage
    (ACCEPTED when the policy names none)."""
    workflow_id = request.workflow_execution.workflow_id
    run_id = await history.resolve_run_id(ns, workflow_id, request.workflow_execution.run_id)
    wait_stage = _wait_stage(request.wait_policy.lifecycle_stage, updates.Stage.ACCEPTED)
    await history.update(
        ns,
        workflow_id,
        run_id,
        lambda ex: updates.admit(ex, request.request),
        first_execution_run_id=request.first_execution_run_id,
    )
    update_id = request.request.meta.update_id
    run_id, stage, outcome, link = await _await_stage(
        history, ns, workflow_id, run_id, update_id, wait_stage, wait_seconds, admitted=True
    )
    resp = rr.UpdateWorkflowExecutionResponse(stage=stage)  # type: ignore[arg-type]
    if link is not None:
        resp.link.CopyFrom(link)
    resp.update_ref.workflow_execution.workflow_id = workflow_id
    resp.update_ref.workflow_execution.run_id = run_id
    resp.update_ref.update_id = update_id
    if outcome is not None:
        resp.outcome.CopyFrom(outcome)
    return resp


async def poll_workflow_update(
    history: HistoryService,
    ns: Namespace,
    request: rr.PollWorkflowExecutionUpdateRequest,
    *,
    wait_seconds: float,
) -> rr.PollWorkflowExecutionUpdateResponse:
    """Wait up to `wait_seconds` for an admitted update to reach the wait-policy stage
    (ADMITTED when the policy names none: answer at once)."""
    ref = request.update_ref
    workflow_id = ref.workflow_execution.workflow_id
    run_id = await history.resolve_run_id(ns, workflow_id, ref.workflow_execution.run_id)
    wait_stage = _wait_stage(request.wait_policy.lifecycle_stage, updates.Stage.ADMITTED)
    run_id, stage, outcome, _ = await _await_stage(
        history, ns, workflow_id, run_id, ref.update_id, wait_stage, wait_seconds
    )
    resp = rr.PollWorkflowExecutionUpdateResponse(stage=stage)  # type: ignore[arg-type]
    resp.update_ref.workflow_execution.workflow_id = workflow_id
    resp.update_ref.workflow_execution.run_id = run_id
    resp.update_ref.update_id = ref.update_id
    if outcome is not None:
        resp.outcome.CopyFrom(outcome)
    return resp


async def _await_stage(
    history: HistoryService,
    ns: Namespace,
    workflow_id: str,
    run_id: str,
    update_id: str,
    wait_stage: updates.Stage,
    wait_seconds: float,
    *,
    admitted: bool = False,
) -> tuple[str, int, update_pb2.Outcome | None, common_pb2.Link | None]:
    """Wait until the update reaches `wait_stage` (or time is up): the run that has it
    (a run continued as new hands its admitted updates on), its stage and outcome, and the
    link Temporal answers with once the workflow accepted or rejected it. `admitted`: this
    caller admitted it, so its absence from a closed run means the close aborted it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds

    def look(st: ExecutionState) -> tuple[UpdateInfo | None, bool, str]:
        info = st.updates.get(update_id)
        # A copy: the cached state changes under later transitions.
        return (dataclasses.replace(info) if info else None), st.running, st.new_execution_run_id

    while True:
        waiter = history.watchers.waiter(ns.id, run_id)
        info, running, successor = await history.read(ns, workflow_id, run_id, look)
        if info is None and not running and successor:
            moved, _, _ = await history.read(ns, workflow_id, successor, look)
            if moved is not None:
                run_id = successor
                continue
        if info is None:
            if not running:
                raise NotFound(
                    ABORTED_BY_CLOSING if admitted else "workflow execution already completed"
                )
            raise NotFound(f"update {update_id} not found")
        if info.aborted:
            raise WorkflowNotReady(info.aborted)
        stage = updates.stage_of(info, running)
        left = deadline - loop.time()
        if stage >= wait_stage or left <= 0:
            outcome = None
            if stage == updates.Stage.COMPLETED:
                event = None
                if info.completed_event_id:
                    key = ExecutionKey(ns.id, workflow_id, run_id)
                    events = await history.read_events(
                        key, info.completed_event_id, info.completed_event_id, 1
                    )
                    event = events[0] if events else None
                outcome = updates.outcome(info, event, running)
            link = None
            if info.rejection:
                link = links.update_rejected(ns.name, workflow_id, run_id)
            elif info.accepted_event_id:
                link = links.update_accepted(ns.name, workflow_id, run_id)
            return run_id, _LIFECYCLE.get(stage, 0), outcome, link
        try:
            await asyncio.wait_for(waiter.wait(), left)
        except TimeoutError:
            pass
