"""Requests from outside the workflow: signal, cancellation request, termination."""

from __future__ import annotations

from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.enums.v1 import failed_cause_pb2 as causes
from temporalio.api.history.v1 import message_pb2 as history_pb2

from perdure.server.engine import closing, runs, workflow_task
from perdure.server.engine.execution import Execution
from perdure.server.errors import InvalidArgument, NotFound, ResourceExhausted

MAX_SIGNALS_PER_RUN = 10_000


def require_running(ex: Execution) -> None:
    if not ex.state.running:
        raise NotFound("workflow execution already completed")


def signal(
    ex: Execution,
    attributes: history_pb2.WorkflowExecutionSignaledEventAttributes,
) -> None:
    """Record a signal (once per request id) and wake the workflow."""
    require_running(ex)
    st = ex.state
    if not attributes.signal_name:
        raise InvalidArgument("SignalName is not set on request.")
    request_id = attributes.request_id
    if request_id and request_id in st.signal_request_ids:
        return
    if st.signal_count >= MAX_SIGNALS_PER_RUN:
        raise ResourceExhausted(
            "Signal count exceeds limit.",
            cause=causes.RESOURCE_EXHAUSTED_CAUSE_SYSTEM_OVERLOADED,
        )
    ex.append_external(et.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, attributes)
    wake(ex)


def wake(ex: Execution) -> None:
    """New events are there for the workflow: make sure a workflow task will see them."""
    st = ex.state
    if st.pending_first_workflow_task:
        runs.end_start_delay(ex)
        return
    workflow_task.schedule(ex)


def request_cancel(
    ex: Execution,
    *,
    request_id: str,
    identity: str,
    reason: str = "",
    external_initiated_event_id: int = 0,
    external_execution: common_pb2.WorkflowExecution | None = None,
) -> None:
    """Ask the workflow to cancel itself (idempotent)."""
    require_running(ex)
    st = ex.state
    if st.cancel_requested:
        return
    attrs = history_pb2.WorkflowExecutionCancelRequestedEventAttributes(
        cause=reason,
        identity=identity,
        external_initiated_event_id=external_initiated_event_id,
    )
    if external_execution is not None:
        attrs.external_workflow_execution.CopyFrom(external_execution)
    ex.append_external(et.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED, attrs)
    st.cancel_request_id = request_id
    wake(ex)


def terminate(
    ex: Execution,
    *,
    reason: str,
    details: common_pb2.Payloads | None,
    identity: str,
) -> None:
    """End the run now; a running workflow task fails (recorded unless transient)."""
    require_running(ex)
    st = ex.state
    wt = st.workflow_task
    if wt is not None and wt.started:
        workflow_task.fail(
            ex,
            wt,
            cause=causes.WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND,
            identity=identity,
            reschedule=False,
        )
    attrs = history_pb2.WorkflowExecutionTerminatedEventAttributes(reason=reason, identity=identity)
    if details is not None:
        attrs.details.CopyFrom(details)
    closing.close(ex, et.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED, attrs)
