"""State machines of child workflows and of signals/cancel requests to other workflows."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from temporalio.api.command.v1 import (
    Command,
    RequestCancelExternalWorkflowExecutionCommandAttributes,
    SignalExternalWorkflowExecutionCommandAttributes,
    StartChildWorkflowExecutionCommandAttributes,
)
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import (
    CancelExternalWorkflowExecutionFailedCause,
    RetryState,
    SignalExternalWorkflowExecutionFailedCause,
    TimeoutType,
    command_type_pb2,
    event_type_pb2,
)
from temporalio.api.failure.v1 import (
    ApplicationFailureInfo,
    CanceledFailureInfo,
    ChildWorkflowExecutionFailureInfo,
    Failure,
    TerminatedFailureInfo,
    TimeoutFailureInfo,
)
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.sdk.v1 import UserMetadata

from perdure.worker._workflow import _jobs as jobs

if TYPE_CHECKING:
    from perdure.worker._workflow._replay import ReplayState

from perdure.worker._workflow._machines import ID_AND_TYPE_CHECKS_FLAG, Machine, Mismatch, _expect
from perdure.worker._workflow._machines_activity import _cancelled_cause
from perdure.workflow import ChildWorkflowCancellationType


class ChildWorkflowMachine(Machine):
    """A child workflow: start, started (or start failed), then its close."""

    __slots__ = (
        "attrs",
        "cancel_acknowledged",
        "cancel_pending",
        "cancel_requested",
        "cancellation_type",
        "resolved",
        "run_id",
        "seq",
        "started_event_id",
    )
    kind = "StartChildWorkflowExecution"

    def __init__(
        self,
        replay: ReplayState,
        seq: int,
        attrs: StartChildWorkflowExecutionCommandAttributes,
        cancellation_type: ChildWorkflowCancellationType,
        user_metadata: UserMetadata | None,
    ) -> None:
        super().__init__(replay)
        self.seq = seq
        self.attrs = attrs
        self.cancellation_type = cancellation_type
        self.run_id = ""
        self.started_event_id = 0
        self.resolved = False
        self.cancel_pending = ""
        self.cancel_requested = False
        self.cancel_acknowledged = False
        command = Command(
            command_type=command_type_pb2.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION,
            start_child_workflow_execution_command_attributes=attrs,
        )
        if user_metadata is not None:
            command.user_metadata.CopyFrom(user_metadata)
        replay.issue(self, command)

    def describe(self) -> str:
        return (
            f"StartChildWorkflowExecution(workflow_id={self.attrs.workflow_id!r}, "
            f"workflow_type={self.attrs.workflow_type.name!r})"
        )

    def on_command_event(self, event: HistoryEvent) -> None:
        _expect(event, event_type_pb2.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED)
        recorded = event.start_child_workflow_execution_initiated_event_attributes
        if self.replay.try_use_flag(ID_AND_TYPE_CHECKS_FLAG):
            if recorded.workflow_id != self.attrs.workflow_id:
                raise Mismatch(
                    f"child workflow id of the event {recorded.workflow_id!r} does not match "
                    f"the command's {self.attrs.workflow_id!r}"
                )
            if recorded.workflow_type.name != self.attrs.workflow_type.name:
                raise Mismatch(
                    f"child workflow type of the event {recorded.workflow_type.name!r} does "
                    f"not match the command's {self.attrs.workflow_type.name!r}"
                )
        self.initial_event_id = event.event_id

    def on_event(self, event: HistoryEvent) -> None:
        kind = event.event_type
        if kind == event_type_pb2.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
            started = event.child_workflow_execution_started_event_attributes
            self.run_id = started.workflow_execution.run_id
            self.started_event_id = event.event_id
            self.replay.push_job(jobs.ResolveChildStart(self.seq, run_id=self.run_id))
            if self.cancel_pending:
                self._cancel_started(self.cancel_pending)
            return
        if kind == event_type_pb2.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED:
            start_cause = event.start_child_workflow_execution_failed_event_attributes.cause
            self.resolved = True
            self.replay.push_job(jobs.ResolveChildStart(self.seq, failed_cause=int(start_cause)))
            return
        if self.resolved:
            return
        if kind == event_type_pb2.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
            payloads = event.child_workflow_execution_completed_event_attributes.result.payloads
            self._resolve(
                jobs.ResolveChild(self.seq, "completed", payloads[0] if payloads else None)
            )
        elif kind == event_type_pb2.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED:
            failed = event.child_workflow_execution_failed_event_attributes
            cause = failed.failure if failed.HasField("failure") else None
            self._fail("Child Workflow execution failed", cause, failed.retry_state)
        elif kind == event_type_pb2.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT:
            retry_state = event.child_workflow_execution_timed_out_event_attributes.retry_state
            cause = Failure(
                message="Timed out",
                timeout_failure_info=TimeoutFailureInfo(
                    timeout_type=TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
                ),
            )
            self._fail("Child Workflow execution timed out", cause, retry_state)
        elif kind == event_type_pb2.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED:
            cause = Failure(message="Terminated", terminated_failure_info=TerminatedFailureInfo())
            self._fail(
                "Child Workflow execution terminated",
                cause,
                RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE,
            )
        elif kind == event_type_pb2.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED:
            self._resolve_cancelled()
        else:
            raise Mismatch("not a child workflow event")

    def cancel(self, reason: str = "") -> None:
        if self.resolved:
            return
        if self.initial_event_id == 0:
            self.cancelled_before_sent = True
            self.resolved = True
            failure = Failure(
                message="Child Workflow execution cancelled before scheduled",
                cause=_cancelled_cause(),
                child_workflow_execution_failure_info=self._info(
                    RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE
                ),
            )
            self.replay.push_job(jobs.ResolveChildStart(self.seq, cancelled=failure))
            return
        reason = reason or "Parent workflow requested cancel"
        if not self.run_id:
            # Initiated but not started: temporalio's core sends the cancel request at once
            # (by workflow id), and resolves the child only once its start is known.
            self.cancel_pending = reason
            self._request_cancel(reason)
            return
        self._cancel_started(reason)

    def _cancel_started(self, reason: str) -> None:
        self.cancel_pending = ""
        self._request_cancel(reason)
        if self.cancel_acknowledged or self.cancellation_type in (
            ChildWorkflowCancellationType.ABANDON,
            ChildWorkflowCancellationType.TRY_CANCEL,
        ):
            self._resolve_cancelled()

    def _request_cancel(self, reason: str) -> None:
        """Issue the child's one RequestCancelExternal command, unless it is abandoned."""
        if self.cancel_requested or self.cancellation_type == ChildWorkflowCancellationType.ABANDON:
            return
        self.cancel_requested = True
        attrs = RequestCancelExternalWorkflowExecutionCommandAttributes(
            namespace=self.attrs.namespace,
            workflow_id=self.attrs.workflow_id,
            run_id=self.run_id,
            child_workflow_only=True,
            reason=reason,
        )
        on_requested: Callable[[], None] | None = None
        if self.cancellation_type == ChildWorkflowCancellationType.WAIT_CANCELLATION_REQUESTED:
            on_requested = self._on_cancel_requested
        CancelExternalMachine(self.replay, 0, attrs, internal=True, on_requested=on_requested)

    def _on_cancel_requested(self) -> None:
        # A child's start resolves before its result: a request recorded before the start
        # resolves the child when the started event comes.
        self.cancel_acknowledged = True
        if self.run_id:
            self._resolve_cancelled()

    def _info(self, retry_state: int) -> ChildWorkflowExecutionFailureInfo:
        return ChildWorkflowExecutionFailureInfo(
            namespace=self.attrs.namespace,
            workflow_type=WorkflowType(name=self.attrs.workflow_type.name),
            initiated_event_id=self.initial_event_id,
            started_event_id=self.started_event_id,
            retry_state=retry_state,  # type: ignore[arg-type]
            workflow_execution=WorkflowExecution(
                workflow_id=self.attrs.workflow_id, run_id=self.run_id
            ),
        )

    def _resolve(self, job: jobs.ResolveChild) -> None:
        self.resolved = True
        self.replay.push_job(job)

    def _fail(self, message: str, cause: Failure | None, retry_state: int) -> None:
        failure = Failure(
            message=message, child_workflow_execution_failure_info=self._info(retry_state)
        )
        if cause is not None:
            failure.cause.CopyFrom(cause)
        self._resolve(jobs.ResolveChild(self.seq, "failed", failure=failure))

    def _resolve_cancelled(self) -> None:
        if self.resolved:
            return
        failure = Failure(
            message="Child Workflow execution cancelled",
            cause=_cancelled_cause(),
            child_workflow_execution_failure_info=self._info(
                RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE
            ),
        )
        self._resolve(jobs.ResolveChild(self.seq, "cancelled", failure=failure))


# --------------------------------------------------------------------------- external


def _cause_name(enum_name: str, prefix: str) -> str:
    return "".join(p.capitalize() for p in enum_name.removeprefix(prefix).split("_"))


class SignalExternalMachine(Machine):
    """A signal to another workflow: initiated, then delivered or failed."""

    __slots__ = ("attrs", "done", "seq")
    kind = "SignalExternalWorkflowExecution"

    def __init__(
        self, replay: ReplayState, seq: int, attrs: SignalExternalWorkflowExecutionCommandAttributes
    ) -> None:
        super().__init__(replay)
        self.seq = seq
        self.attrs = attrs
        self.done = False
        replay.issue(
            self,
            Command(
                command_type=command_type_pb2.COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION,
                signal_external_workflow_execution_command_attributes=attrs,
            ),
        )

    def describe(self) -> str:
        return (
            f"SignalExternalWorkflowExecution(workflow_id={self.attrs.execution.workflow_id!r}, "
            f"signal={self.attrs.signal_name!r})"
        )

    def on_command_event(self, event: HistoryEvent) -> None:
        _expect(event, event_type_pb2.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED)
        self.initial_event_id = event.event_id

    def on_event(self, event: HistoryEvent) -> None:
        if event.event_type == event_type_pb2.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED:
            self._done(None)
        elif (
            event.event_type == event_type_pb2.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED
        ):
            cause = event.signal_external_workflow_execution_failed_event_attributes.cause
            reason = {
                SignalExternalWorkflowExecutionFailedCause.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_SIGNAL_COUNT_LIMIT_EXCEEDED: "The per-workflow signal limit was exceeded",  # noqa: E501
                SignalExternalWorkflowExecutionFailedCause.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_UNSPECIFIED: "unknown",  # noqa: E501
            }.get(cause, "it was not found")
            name = _cause_name(
                SignalExternalWorkflowExecutionFailedCause.Name(cause),
                "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_",
            )
            self._done(
                Failure(
                    message=f"Unable to signal external workflow because {reason}",
                    application_failure_info=ApplicationFailureInfo(type=name),
                )
            )
        else:
            raise Mismatch("not a signal external event")

    def cancel(self) -> None:
        if self.done or self.initial_event_id != 0:
            return
        self.cancelled_before_sent = True
        self._done(
            Failure(
                message="Signal was cancelled before being sent",
                canceled_failure_info=CanceledFailureInfo(),
            )
        )

    def _done(self, failure: Failure | None) -> None:
        self.done = True
        self.replay.push_job(jobs.ResolveSignalExternal(self.seq, failure))


class CancelExternalMachine(Machine):
    """A cancel request to another workflow (or, internally, to a child)."""

    __slots__ = ("attrs", "done", "internal", "on_requested", "seq")
    kind = "RequestCancelExternalWorkflowExecution"

    def __init__(
        self,
        replay: ReplayState,
        seq: int,
        attrs: RequestCancelExternalWorkflowExecutionCommandAttributes,
        *,
        internal: bool = False,
        on_requested: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(replay)
        self.seq = seq
        self.attrs = attrs
        self.internal = internal
        self.on_requested = on_requested
        self.done = False
        replay.issue(
            self,
            Command(
                command_type=command_type_pb2.COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION,
                request_cancel_external_workflow_execution_command_attributes=attrs,
            ),
        )

    def describe(self) -> str:
        return f"RequestCancelExternalWorkflowExecution(workflow_id={self.attrs.workflow_id!r})"

    def on_command_event(self, event: HistoryEvent) -> None:
        _expect(
            event, event_type_pb2.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
        )
        self.initial_event_id = event.event_id

    def on_event(self, event: HistoryEvent) -> None:
        if (
            event.event_type
            == event_type_pb2.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED
        ):
            self._done(None)
            if self.on_requested is not None:
                self.on_requested()
        elif (
            event.event_type
            == event_type_pb2.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED
        ):
            cause = event.request_cancel_external_workflow_execution_failed_event_attributes.cause
            name = _cause_name(
                CancelExternalWorkflowExecutionFailedCause.Name(cause),
                "CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_",
            )
            self._done(
                Failure(
                    message="Unable to cancel external workflow because it was not found",
                    application_failure_info=ApplicationFailureInfo(type=name),
                )
            )
        else:
            raise Mismatch("not a cancel external event")

    def _done(self, failure: Failure | None) -> None:
        self.done = True
        if not self.internal:
            self.replay.push_job(jobs.ResolveRequestCancelExternal(self.seq, failure))
