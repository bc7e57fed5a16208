"""Signals and cancellation requests a workflow sends to other workflows.

The SIGNAL_EXTERNAL_WORKFLOW_EXECUTION and REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION
commands write their Initiated event and a timer row due at once (SIGNAL_EXTERNAL,
CANCEL_EXTERNAL). The row's dispatch (server/history/outbox.py) delivers the request to
the target in one commit, then records the outcome in the sender and claims the row in
another. Each request carries a request id made with the command, so a delivery repeated
after a crash signals once. Also here: what a target does with such a request and with
its parent's close policy, which may only come from its own parent when
`child_workflow_only` is set.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.enums.v1 import failed_cause_pb2 as causes
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.history.v1 import message_pb2 as history_pb2

from perdure.server.engine import children, requests, workflow_task
from perdure.server.engine.command_base import (
    MAX_ID_LENGTH,
    BadCommand,
    CommandContext,
    append_for,
)
from perdure.server.engine.deadlines import TimerKind, TimerRef
from perdure.server.engine.execution import Execution
from perdure.server.engine.state import ExternalRequestInfo
from perdure.server.errors import NotFound

MAX_PENDING_SIGNALS = 2000
MAX_PENDING_CANCELS = 2000
IDENTITY = "history-service"
"""The identity Temporal writes on what it does on a workflow's behalf."""


def _valid_run_id(run_id: str) -> bool:
    if not run_id:
        return True
    try:
        uuid.UUID(run_id)
    except ValueError:
        return False
    return True


def _check_limit(pending: int, limit: int, cause: int, what: str) -> None:
    if pending >= limit:
        raise BadCommand(
            cause, f"the number of {what}, {pending}, has reached the per-workflow limit of {limit}"
        )


def _target_namespace(ctx: CommandContext, namespace: str) -> tuple[str, str]:
    """(name, id) of the target namespace; another namespace's id is resolved later."""
    name = namespace or ctx.ex.namespace
    return name, ctx.ex.state.namespace_id if name == ctx.ex.namespace else ""


# ---------------------------------------------------------------------------- signal


def signal_external(ctx: CommandContext, command: command_pb2.Command) -> None:
    a = command.signal_external_workflow_execution_command_attributes
    bad = causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_SIGNAL_WORKFLOW_EXECUTION_ATTRIBUTES
    wid, rid, ns = a.execution.workflow_id, a.execution.run_id, a.namespace
    where = f"Namespace={ns} RunId={rid} SignalName={a.signal_name}"
    if not a.HasField("execution"):
        raise BadCommand(bad, "Execution is not set on SignalExternalWorkflowExecutionCommand.")
    if not wid:
        raise BadCommand(
            bad, f"WorkflowId is not set on SignalExternalWorkflowExecutionCommand. {where}"
        )
    if len(ns) > MAX_ID_LENGTH or len(wid) > MAX_ID_LENGTH:
        raise BadCommand(
            bad,
            f"Namespace or WorkflowId on SignalExternalWorkflowExecutionCommand exceeds length "
            f"limit. WorkflowId={wid} {where}",
        )
    if not _valid_run_id(rid):
        raise BadCommand(
            bad,
            f"Invalid RunId set on SignalExternalWorkflowExecutionCommand. WorkflowId={wid} "
            f"{where}",
        )
    if not a.signal_name:
        raise BadCommand(
            bad,
            f"SignalName is not set on SignalExternalWorkflowExecutionCommand. WorkflowId={wid} "
            f"Namespace={ns} RunId={rid}",
        )
    st = ctx.ex.state
    _check_limit(
        len(st.external_signals),
        MAX_PENDING_SIGNALS,
        causes.WORKFLOW_TASK_FAILED_CAUSE_PENDING_SIGNALS_LIMIT_EXCEEDED,
        "pending signals to external workflows",
    )
    name, namespace_id = _target_namespace(ctx, ns)
    attrs = history_pb2.SignalExternalWorkflowExecutionInitiatedEventAttributes(
        workflow_task_completed_event_id=ctx.completed_event_id,
        namespace=name,
        namespace_id=namespace_id,
        workflow_execution=a.execution,
        signal_name=a.signal_name,
        control=a.control,
        child_workflow_only=a.child_workflow_only,
    )
    if a.HasField("input"):
        attrs.input.CopyFrom(a.input)
    if a.HasField("header"):
        attrs.header.CopyFrom(a.header)
    event = append_for(
        ctx, command, et.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, attrs
    )
    st.external_signals[event.event_id].request_id = ctx.new_id()
    ctx.ex.add_timer(TimerRef(TimerKind.SIGNAL_EXTERNAL, event.event_id), ctx.ex.now)


# ---------------------------------------------------------------------------- cancel


def request_cancel_external(ctx: CommandContext, command: command_pb2.Command) -> None:
    a = command.request_cancel_external_workflow_execution_command_attributes
    bad = (
        causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_ATTRIBUTES
    )
    wid, rid, ns = a.workflow_id, a.run_id, a.namespace
    where = f"WorkflowId={wid} RunId={rid} Namespace={ns}"
    if not wid:
        raise BadCommand(
            bad,
            "WorkflowId is not set on RequestCancelExternalWorkflowExecutionCommand. "
            f"Namespace={ns} RunId={rid}",
        )
    if len(ns) > MAX_ID_LENGTH or len(wid) > MAX_ID_LENGTH:
        raise BadCommand(
            bad,
            "Namespace or WorkflowId on RequestCancelExternalWorkflowExecutionCommand exceeds "
            f"length limit. {where}",
        )
    if not _valid_run_id(rid):
        raise BadCommand(
            bad, f"Invalid RunId set on RequestCancelExternalWorkflowExecutionCommand. {where}"
        )
    if children.initiated_in_this_task(ctx, wid):
        raise BadCommand(
            bad,
            f"Start and RequestCancel for child workflow is not allowed in same workflow task. "
            f"{where}",
        )
    st = ctx.ex.state
    _check_limit(
        len(st.external_cancels),
        MAX_PENDING_CANCELS,
        causes.WORKFLOW_TASK_FAILED_CAUSE_PENDING_REQUEST_CANCEL_LIMIT_EXCEEDED,
        "pending requests to cancel external workflows",
    )
    name, namespace_id = _target_namespace(ctx, ns)
    attrs = history_pb2.RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(
        workflow_task_completed_event_id=ctx.completed_event_id,
        namespace=name,
        namespace_id=namespace_id,
        control=a.control,
        child_workflow_only=a.child_workflow_only,
        reason=a.reason,
    )
    attrs.workflow_execution.workflow_id = wid
    attrs.workflow_execution.run_id = rid
    event = append_for(
        ctx, command, et.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, attrs
    )
    st.external_cancels[event.event_id].request_id = ctx.new_id()
    ctx.ex.add_timer(TimerRef(TimerKind.CANCEL_EXTERNAL, event.event_id), ctx.ex.now)


# ---------------------------------------------------------------------------- the sender's record


def _sender_info(ex: Execution, ref: TimerRef) -> ExternalRequestInfo | None:
    st = ex.state
    pending = st.external_signals if ref.kind == TimerKind.SIGNAL_EXTERNAL else st.external_cancels
    info = pending.get(ref.target_id)
    if info is None or not st.running:
        return None
    return info


def _target(info: ExternalRequestInfo, namespace_id: str) -> common_pb2.WorkflowExecution:
    info.namespace_id = info.namespace_id or namespace_id
    return common_pb2.WorkflowExecution(workflow_id=info.workflow_id, run_id=info.run_id)


def record_delivered(
    ex: Execution, ref: TimerRef, *, control: str = "", namespace_id: str = ""
) -> None:
    """The target took the request: ExternalWorkflowExecutionSignaled / ...CancelRequested."""
    ex.claim_timer(ref)
    info = _sender_info(ex, ref)
    if info is None:
        return
    target = _target(info, namespace_id)
    if ref.kind == TimerKind.SIGNAL_EXTERNAL:
        ex.append_external(
            et.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED,
            history_pb2.ExternalWorkflowExecutionSignaledEventAttributes(
                initiated_event_id=ref.target_id,
                namespace=info.namespace,
                namespace_id=info.namespace_id,
                workflow_execution=target,
                control=control,
            ),
        )
    else:
        ex.append_external(
            et.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
            history_pb2.ExternalWorkflowExecutionCancelRequestedEventAttributes(
                initiated_event_id=ref.target_id,
                namespace=info.namespace,
                namespace_id=info.namespace_id,
                workflow_execution=target,
            ),
        )
    workflow_task.schedule(ex)


def record_failed(
    ex: Execution,
    ref: TimerRef,
    *,
    cause: int,
    workflow_task_completed_event_id: int,
    control: str = "",
    namespace_id: str = "",
) -> None:
    """The request could not be delivered: SignalExternal.../RequestCancelExternal...Failed."""
    ex.claim_timer(ref)
    info = _sender_info(ex, ref)
    if info is None:
        return
    common = {
        "cause": cause,
        "workflow_task_completed_event_id": workflow_task_completed_event_id,
        "namespace": info.namespace,
        "namespace_id": info.namespace_id or namespace_id,
        "workflow_execution": _target(info, namespace_id),
        "initiated_event_id": ref.target_id,
        "control": control,
    }
    if ref.kind == TimerKind.SIGNAL_EXTERNAL:
        ex.append_external(
            et.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED,
            history_pb2.SignalExternalWorkflowExecutionFailedEventAttributes(**common),  # type: ignore[arg-type]
        )
    else:
        ex.append_external(
            et.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED,
            history_pb2.RequestCancelExternalWorkflowExecutionFailedEventAttributes(**common),  # type: ignore[arg-type]
        )
    workflow_task.schedule(ex)


# ---------------------------------------------------------------------------- the target's side


@dataclass(frozen=True, slots=True)
class Sender:
    """The workflow run a request comes from."""

    namespace_id: str
    workflow_id: str
    run_id: str

    @property
    def execution(self) -> common_pb2.WorkflowExecution:
        return common_pb2.WorkflowExecution(workflow_id=self.workflow_id, run_id=self.run_id)


def _require_from_parent(ex: Execution, sender: Sender, child_workflow_only: bool) -> None:
    requests.require_running(ex)
    parent = ex.state.parent
    if child_workflow_only and (
        parent is None
        or parent.namespace_id != sender.namespace_id
        or parent.workflow_id != sender.workflow_id
        or parent.run_id != sender.run_id
    ):
        raise NotFound("Workflow parent does not match.")


def deliver_signal(
    ex: Execution,
    *,
    sender: Sender,
    initiated: history_pb2.SignalExternalWorkflowExecutionInitiatedEventAttributes,
    request_id: str,
) -> None:
    """A workflow's signal reaches its target (once per request id)."""
    _require_from_parent(ex, sender, initiated.child_workflow_only)
    attrs = history_pb2.WorkflowExecutionSignaledEventAttributes(
        signal_name=initiated.signal_name,
        identity=IDENTITY,
        external_workflow_execution=sender.execution,
        request_id=request_id,
    )
    if initiated.HasField("input"):
        attrs.input.CopyFrom(initiated.input)
    if initiated.HasField("header"):
        attrs.header.CopyFrom(initiated.header)
    requests.signal(ex, attrs)


def deliver_cancel(
    ex: Execution,
    *,
    sender: Sender,
    initiated_event_id: int,
    request_id: str,
    reason: str,
    child_workflow_only: bool,
) -> None:
    """A workflow's cancellation request reaches its target (idempotent)."""
    _require_from_parent(ex, sender, child_workflow_only)
    requests.request_cancel(
        ex,
        request_id=request_id,
        identity=IDENTITY,
        reason=reason,
        external_initiated_event_id=initiated_event_id,
        external_execution=sender.execution,
    )


def apply_close_policy(ex: Execution, *, parent: Sender, policy: int) -> None:
    """The parent closed: terminate the child or ask it to cancel (ABANDON never comes here)."""
    _require_from_parent(ex, parent, True)
    if policy == children.ABANDON:
        return
    if policy == wf_enums.PARENT_CLOSE_POLICY_REQUEST_CANCEL:
        requests.request_cancel(
            ex, request_id="", identity=IDENTITY, external_execution=parent.execution
        )
    else:
        requests.terminate(ex, reason="by parent close policy", details=None, identity=IDENTITY)
