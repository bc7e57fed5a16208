"""One small state machine per command: what it sends, which events it accepts, what it resolves.

Each machine owns the commands it issued and the events recorded for them. The replay
engine (``_replay``) hands it the command event that matches its command, and routes later
events to it by the id of that command event. A machine that receives an event it cannot
accept raises :py:class:`Mismatch`; the engine turns that into a NondeterminismError with
the workflow, event and command named. Failures given to workflow code are shaped like
sdk-core's (an ActivityFailure or ChildWorkflowFailure wrapping the recorded cause) so the
failure converter yields the same exceptions as the official SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from temporalio.api.command.v1 import (
    Command,
    ProtocolMessageCommandAttributes,
    RecordMarkerCommandAttributes,
    RequestCancelActivityTaskCommandAttributes,
    RequestCancelExternalWorkflowExecutionCommandAttributes,
    ScheduleActivityTaskCommandAttributes,
    SignalExternalWorkflowExecutionCommandAttributes,
    StartChildWorkflowExecutionCommandAttributes,
)
from temporalio.api.common.v1 import ActivityType, Payload, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import (
    CancelExternalWorkflowExecutionFailedCause,
    RetryState,
    SignalExternalWorkflowExecutionFailedCause,
    TimeoutType,
)
from temporalio.api.failure.v1 import (
    ActivityFailureInfo,
    ApplicationFailureInfo,
    CanceledFailureInfo,
    ChildWorkflowExecutionFailureInfo,
    Failure,
    TerminatedFailureInfo,
    TimeoutFailureInfo,
)
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.protocol.v1 import Message
from temporalio.api.sdk.v1 import UserMetadata
from temporalio.api.update.v1 import Acceptance, Meta, Outcome, Rejection, Response

from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._history import (
    LOCAL_ACTIVITY_MARKER,
    C,
    E,
    LocalActivityMarker,
    parse_local_activity_marker,
    parse_patch_marker,
)

if TYPE_CHECKING:
    from perdure.worker._workflow._replay import Engine

ID_AND_TYPE_CHECKS_FLAG = 1


class Mismatch(Exception):
    """An event that the machine's command cannot have produced (non-determinism)."""


class Machine:
    """Base: the engine, the command event id once matched, and cancellation bookkeeping."""

    __slots__ = ("cancelled_before_sent", "engine", "initial_event_id")
    kind: ClassVar[str] = "Machine"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.initial_event_id = 0
        self.cancelled_before_sent = False

    def describe(self) -> str:
        """The command, for error messages."""
        return self.kind

    def on_command_event(self, event: HistoryEvent) -> None:
        """Accept the recorded event of one of this machine's commands."""
        raise Mismatch(f"{self.describe()} cannot accept this event")

    def on_event(self, event: HistoryEvent) -> None:
        """Accept a follow-up event (started, completed, fired, ...)."""
        raise Mismatch(f"{self.describe()} cannot accept this event")

    def cancel(self) -> None:
        """Workflow code asked to cancel what this machine stands for."""

    def _issue(self, command_type: int, **attrs: object) -> Command:
        command = Command(command_type=command_type, **attrs)  # type: ignore[arg-type]
        self.engine.issue(self, command)
        return command


def _expect(event: HistoryEvent, *types: int) -> None:
    if event.event_type not in types:
        raise Mismatch("")


# --------------------------------------------------------------------------- activities


def _activity_failure(
    message: str,
    cause: Failure | None,
    *,
    activity_id: str,
    activity_type: str,
    scheduled_event_id: int,
    started_event_id: int,
    retry_state: int,
    identity: str = "",
) -> Failure:
    failure = Failure(
        message=message,
        activity_failure_info=ActivityFailureInfo(
            scheduled_event_id=scheduled_event_id,
            started_event_id=started_event_id,
            identity=identity,
            activity_type=ActivityType(name=activity_type),
            activity_id=activity_id,
            retry_state=retry_state,  # type: ignore[arg-type]
        ),
    )
    if cause is not None:
        failure.cause.CopyFrom(cause)
    return failure


def _cancelled_cause(details: object = None) -> Failure:
    failure = Failure(canceled_failure_info=CanceledFailureInfo())
    if details is not None:
        failure.canceled_failure_info.details.CopyFrom(details)  # type: ignore[arg-type]
    return failure


TRY_CANCEL, WAIT_CANCELLATION_COMPLETED, ABANDON = 0, 1, 2


class ActivityMachine(Machine):
    """A remote activity: schedule, maybe cancel, then one resolution for workflow code."""

    __slots__ = ("attrs", "cancel_requested", "cancellation_type", "notified", "seq", "started")
    kind = "ScheduleActivityTask"

    def __init__(
        self,
        engine: Engine,
        seq: int,
        attrs: ScheduleActivityTaskCommandAttributes,
        cancellation_type: int,
        user_metadata: UserMetadata | None,
    ) -> None:
        super().__init__(engine)
        self.seq = seq
        self.attrs = attrs
        self.cancellation_type = cancellation_type
        self.started = 0
        self.cancel_requested = False
        self.notified = False
        command = Command(
            command_type=C.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
            schedule_activity_task_command_attributes=attrs,
        )
        if user_metadata is not None:
            command.user_metadata.CopyFrom(user_metadata)
        engine.issue(self, command)

    def describe(self) -> str:
        return (
            f"ScheduleActivityTask(activity_id={self.attrs.activity_id!r}, "
            f"activity_type={self.attrs.activity_type.name!r})"
        )

    def on_command_event(self, event: HistoryEvent) -> None:
        if event.event_type == E.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED:
            return
        _expect(event, E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
        recorded = event.activity_task_scheduled_event_attributes
        if self.engine.try_use_flag(ID_AND_TYPE_CHECKS_FLAG):
            if recorded.activity_id != self.attrs.activity_id:
                raise Mismatch(
                    f"activity id of the scheduled event {recorded.activity_id!r} does not "
                    f"match the command's {self.attrs.activity_id!r}"
                )
            if recorded.activity_type.name != self.attrs.activity_type.name:
                raise Mismatch(
                    f"activity type of the scheduled event {recorded.activity_type.name!r} "
                    f"does not match the command's {self.attrs.activity_type.name!r}"
                )
        self.initial_event_id = event.event_id

    def on_event(self, event: HistoryEvent) -> None:
        kind = event.event_type
        if kind == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            self.started = event.event_id
            return
        if self.notified:
            return  # TRY_CANCEL/ABANDON already resolved workflow code; late outcomes ignored
        if kind == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs = event.activity_task_completed_event_attributes
            payloads = attrs.result.payloads
            self._resolve(
                jobs.ResolveActivity(self.seq, "completed", payloads[0] if payloads else None)
            )
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failed = event.activity_task_failed_event_attributes
            self._resolve_failed(
                "Activity task failed",
                failed.failure if failed.HasField("failure") else None,
                failed.retry_state,
                failed.started_event_id,
                failed.identity,
            )
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            timed_out = event.activity_task_timed_out_event_attributes
            self._resolve_failed(
                "Activity task timed out",
                timed_out.failure if timed_out.HasField("failure") else None,
                timed_out.retry_state,
                timed_out.started_event_id,
            )
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
            attrs_c = event.activity_task_canceled_event_attributes
            self._resolve_cancelled(attrs_c.details if attrs_c.HasField("details") else None)
        else:
            raise Mismatch("not an activity event")

    def cancel(self) -> None:
        if self.notified:
            return
        if self.initial_event_id == 0:
            self.cancelled_before_sent = True
            if self.cancellation_type != ABANDON:
                self._resolve_cancelled(None)
            self.notified = True
            return
        if self.cancellation_type == ABANDON:
            self._resolve_cancelled(None)
            return
        self.cancel_requested = True
        self.engine.issue(
            self,
            Command(
                command_type=C.COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK,
                request_cancel_activity_task_command_attributes=(
                    RequestCancelActivityTaskCommandAttributes(
                        scheduled_event_id=self.initial_event_id
                    )
                ),
            ),
        )
        if self.cancellation_type == TRY_CANCEL:
            self._resolve_cancelled(None)

    def _resolve(self, job: jobs.ResolveActivity) -> None:
        self.notified = True
        self.engine.push_job(job)

    def _resolve_failed(
        self,
        message: str,
        cause: Failure | None,
        retry_state: int,
        started_event_id: int,
        identity: str = "",
    ) -> None:
        failure = _activity_failure(
            message,
            cause,
            activity_id=self.attrs.activity_id,
            activity_type=self.attrs.activity_type.name,
            scheduled_event_id=self.initial_event_id,
            started_event_id=started_event_id,
            retry_state=retry_state,
            identity=identity,
        )
        self._resolve(jobs.ResolveActivity(self.seq, "failed", failure=failure))

    def _resolve_cancelled(self, details: object) -> None:
        failure = _activity_failure(
            "Activity cancelled",
            _cancelled_cause(details),
            activity_id=self.attrs.activity_id,
            activity_type=self.attrs.activity_type.name,
            scheduled_event_id=self.initial_event_id,
            started_event_id=self.started,
            retry_state=RetryState.RETRY_STATE_CANCEL_REQUESTED,
        )
        self._resolve(jobs.ResolveActivity(self.seq, "cancelled", failure=failure))


# --------------------------------------------------------------------------- local activities


class LocalActivityMachine(Machine):
    """A local activity: run here (or read from its marker on replay), then record a marker.

    States: "executing" (running in this worker), "waiting_marker" (replaying, result not
    seen yet), "preresolved" (replaying, result taken from the marker ahead), "resolved"
    (result given to workflow code, marker command issued), "recorded".
    """

    __slots__ = ("replaying_when_invoked", "request", "result_status", "start_time_ns", "state")
    kind = "RecordMarker(core_local_activity)"

    def __init__(
        self,
        engine: Engine,
        request: jobs.ScheduleLocalActivity,
        *,
        replaying: bool,
        preresolved: LocalActivityMarker | None,
        start_time_ns: int,
    ) -> None:
        super().__init__(engine)
        self.request = request
        self.replaying_when_invoked = replaying
        self.start_time_ns = start_time_ns
        self.result_status = ""
        if not replaying:
            self.state = "executing"
            engine.queue_local_activity(self)
        elif preresolved is not None:
            self.state = "preresolved"
            self._resolve_from_marker(preresolved)
        else:
            self.state = "waiting_marker"

    def describe(self) -> str:
        return (
            f"RecordMarker(core_local_activity, seq={self.request.seq}, "
            f"activity_type={self.request.activity_type!r})"
        )

    def needs_special_marker_handling(self) -> bool:
        """Replaying machines consume their marker without a matching command."""
        return self.state in ("waiting_marker", "preresolved")

    def accepts_marker_ahead(self) -> bool:
        """A marker seen ahead in history can resolve this machine now."""
        return self.state == "waiting_marker"

    def resolve_from_lookahead(self, marker: LocalActivityMarker) -> None:
        """The marker for this LA is in the coming history: resolve without executing."""
        self._resolve_from_marker(marker)
        self.state = "preresolved"

    def non_replay_task_started(self) -> None:
        """History ran out before the marker appeared: execute the activity after all."""
        if self.state == "waiting_marker":
            self.state = "executing"
            self.replaying_when_invoked = False
            self.engine.queue_local_activity(self)

    def resolve_executed(
        self,
        job: jobs.ResolveActivity,
        marker: LocalActivityMarker,
    ) -> None:
        """The activity ran here: resolve workflow code and issue the marker command."""
        if self.state != "executing":
            return
        self.state = "resolved"
        self.result_status = job.status
        self.engine.push_job(job)
        if marker.complete_time is not None:
            self.engine.advance_time(marker.complete_time)
        self.engine.issue_local_activity_marker(self, marker)

    def on_command_event(self, event: HistoryEvent) -> None:
        marker = (
            parse_local_activity_marker(event)
            if event.event_type == E.EVENT_TYPE_MARKER_RECORDED
            else None
        )
        if marker is None:
            raise Mismatch("expected a local activity marker")
        self._verify(marker)
        if self.state == "waiting_marker":
            self._resolve_from_marker(marker)
        elif self.state == "resolved":
            failed = marker.failure is not None
            if self.result_status == "completed" and failed:
                raise Mismatch("local activity completed here but history says it failed")
            if self.result_status == "failed" and not failed:
                raise Mismatch("local activity failed here but history says it completed")
        self.state = "recorded"
        self.initial_event_id = event.event_id

    def cancel(self) -> None:
        if self.state == "executing":
            if self.request.cancellation_type in (TRY_CANCEL, ABANDON):
                if self.request.cancellation_type == TRY_CANCEL:
                    self.engine.cancel_local_activity(self, wait=False)
                failure = _activity_failure(
                    "Local Activity cancelled",
                    _cancelled_cause(),
                    activity_id=self.request.activity_id,
                    activity_type=self.request.activity_type,
                    scheduled_event_id=0,
                    started_event_id=0,
                    retry_state=RetryState.RETRY_STATE_CANCEL_REQUESTED,
                )
                marker = LocalActivityMarker(
                    seq=self.request.seq,
                    attempt=self.request.attempt,
                    activity_id=self.request.activity_id,
                    activity_type=self.request.activity_type,
                    complete_time=None,
                    backoff=None,
                    original_schedule_time=self.request.original_schedule_time,
                    result=None,
                    failure=failure,
                )
                self.resolve_executed(
                    jobs.ResolveActivity(self.request.seq, "cancelled", failure=failure), marker
                )
            else:
                self.engine.cancel_local_activity(self, wait=True)

    def _verify(self, marker: LocalActivityMarker) -> None:
        if marker.seq != self.request.seq:
            raise Mismatch(
                f"local activity marker has seq {marker.seq}, command has {self.request.seq}"
            )
        if self.engine.try_use_flag(
            ID_AND_TYPE_CHECKS_FLAG, record=not self.replaying_when_invoked
        ):
            if marker.activity_id != self.request.activity_id:
                raise Mismatch(
                    f"activity id of the marker {marker.activity_id!r} does not match the "
                    f"local activity's {self.request.activity_id!r}"
                )
            if marker.activity_type != self.request.activity_type:
                raise Mismatch(
                    f"activity type of the marker {marker.activity_type!r} does not match "
                    f"the local activity's {self.request.activity_type!r}"
                )

    def _resolve_from_marker(self, marker: LocalActivityMarker) -> None:
        self._verify(marker)
        seq = self.request.seq
        if marker.backoff is not None:
            job = jobs.ResolveActivity(
                seq,
                "backoff",
                attempt=marker.attempt + 1,
                backoff=marker.backoff,
                original_schedule_time=marker.original_schedule_time,
            )
        elif marker.failure is None:
            job = jobs.ResolveActivity(seq, "completed", marker.result)
        elif marker.failure.HasField("canceled_failure_info") or (
            marker.failure.cause.HasField("canceled_failure_info")
        ):
            job = jobs.ResolveActivity(seq, "cancelled", failure=marker.failure)
        else:
            job = jobs.ResolveActivity(seq, "failed", failure=marker.failure)
        self.engine.push_job(job)
        if marker.complete_time is not None:
            self.engine.advance_time(marker.complete_time)


# --------------------------------------------------------------------------- timers


class TimerMachine(Machine):
    """A durable timer; firing resolves workflow code, cancelling sends CancelTimer."""

    __slots__ = ("done", "seq", "timer_id")
    kind = "StartTimer"

    def __init__(self, engine: Engine, command: jobs.StartTimer) -> None:
        super().__init__(engine)
        self.seq = command.seq
        self.timer_id = str(command.seq)
        self.done = False
        proto = Command(command_type=C.COMMAND_TYPE_START_TIMER)
        attrs = proto.start_timer_command_attributes
        attrs.timer_id = self.timer_id
        attrs.start_to_fire_timeout.FromNanoseconds(round(command.duration * 1e9))
        if command.user_metadata is not None:
            proto.user_metadata.CopyFrom(command.user_metadata)
        engine.issue(self, proto)

    def describe(self) -> str:
        return f"StartTimer(timer_id={self.timer_id!r})"

    def on_command_event(self, event: HistoryEvent) -> None:
        if event.event_type == E.EVENT_TYPE_TIMER_CANCELED:
            self.done = True
            return
        _expect(event, E.EVENT_TYPE_TIMER_STARTED)
        recorded = event.timer_started_event_attributes.timer_id
        if recorded != self.timer_id:
            raise Mismatch(f"timer id of the event {recorded!r} does not match {self.timer_id!r}")
        self.initial_event_id = event.event_id

    def on_event(self, event: HistoryEvent) -> None:
        _expect(event, E.EVENT_TYPE_TIMER_FIRED)
        if not self.done:
            self.done = True
            self.engine.push_job(jobs.FireTimer(self.seq))

    def cancel(self) -> None:
        if self.done:
            return
        self.done = True
        if self.initial_event_id == 0:
            self.cancelled_before_sent = True
            return
        proto = Command(command_type=C.COMMAND_TYPE_CANCEL_TIMER)
        proto.cancel_timer_command_attributes.timer_id = self.timer_id
        self.engine.issue(self, proto)


# --------------------------------------------------------------------------- children

ABANDON_CHILD, TRY_CANCEL_CHILD, WAIT_COMPLETED_CHILD, WAIT_REQUESTED_CHILD = 0, 1, 2, 3


class ChildWorkflowMachine(Machine):
    """A child workflow: start, started (or start failed), then its close."""

    __slots__ = (
        "attrs",
        "cancel_pending",
        "cancellation_type",
        "resolved",
        "run_id",
        "seq",
        "started_event_id",
    )
    kind = "StartChildWorkflowExecution"

    def __init__(
        self,
        engine: Engine,
        seq: int,
        attrs: StartChildWorkflowExecutionCommandAttributes,
        cancellation_type: int,
        user_metadata: UserMetadata | None,
    ) -> None:
        super().__init__(engine)
        self.seq = seq
        self.attrs = attrs
        self.cancellation_type = cancellation_type
        self.run_id = ""
        self.started_event_id = 0
        self.resolved = False
        self.cancel_pending = ""
        command = Command(
            command_type=C.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION,
            start_child_workflow_execution_command_attributes=attrs,
        )
        if user_metadata is not None:
            command.user_metadata.CopyFrom(user_metadata)
        engine.issue(self, command)

    def describe(self) -> str:
        return (
            f"StartChildWorkflowExecution(workflow_id={self.attrs.workflow_id!r}, "
            f"workflow_type={self.attrs.workflow_type.name!r})"
        )

    def on_command_event(self, event: HistoryEvent) -> None:
        _expect(event, E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED)
        recorded = event.start_child_workflow_execution_initiated_event_attributes
        if self.engine.try_use_flag(ID_AND_TYPE_CHECKS_FLAG):
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
        if kind == E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
            started = event.child_workflow_execution_started_event_attributes
            self.run_id = started.workflow_execution.run_id
            self.started_event_id = event.event_id
            self.engine.push_job(jobs.ResolveChildStart(self.seq, run_id=self.run_id))
            if self.cancel_pending:
                self._cancel_started(self.cancel_pending)
            return
        if kind == E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED:
            start_cause = event.start_child_workflow_execution_failed_event_attributes.cause
            self.resolved = True
            self.engine.push_job(jobs.ResolveChildStart(self.seq, failed_cause=int(start_cause)))
            return
        if self.resolved:
            return
        if kind == E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
            payloads = event.child_workflow_execution_completed_event_attributes.result.payloads
            self._resolve(
                jobs.ResolveChild(self.seq, "completed", payloads[0] if payloads else None)
            )
        elif kind == E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED:
            failed = event.child_workflow_execution_failed_event_attributes
            cause = failed.failure if failed.HasField("failure") else None
            self._fail("Child Workflow execution failed", cause, failed.retry_state)
        elif kind == E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT:
            retry_state = event.child_workflow_execution_timed_out_event_attributes.retry_state
            cause = Failure(
                message="Timed out",
                timeout_failure_info=TimeoutFailureInfo(
                    timeout_type=TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
                ),
            )
            self._fail("Child Workflow execution timed out", cause, retry_state)
        elif kind == E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED:
            cause = Failure(message="Terminated", terminated_failure_info=TerminatedFailureInfo())
            self._fail(
                "Child Workflow execution terminated",
                cause,
                RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE,
            )
        elif kind == E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED:
            self._resolve_cancelled()
        else:
            raise Mismatch("not a child workflow event")

    def cancel(self, reason: str = "") -> None:  # type: ignore[override]
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
            self.engine.push_job(jobs.ResolveChildStart(self.seq, cancelled=failure))
            return
        if not self.run_id:
            self.cancel_pending = reason or "Parent workflow requested cancel"
            return
        self._cancel_started(reason or "Parent workflow requested cancel")

    def _cancel_started(self, reason: str) -> None:
        self.cancel_pending = ""
        if self.cancellation_type != ABANDON_CHILD:
            attrs = RequestCancelExternalWorkflowExecutionCommandAttributes(
                namespace=self.attrs.namespace,
                workflow_id=self.attrs.workflow_id,
                run_id=self.run_id,
                child_workflow_only=True,
                reason=reason,
            )
            on_requested: Callable[[], None] | None = None
            if self.cancellation_type == WAIT_REQUESTED_CHILD:
                on_requested = self._resolve_cancelled
            CancelExternalMachine(self.engine, 0, attrs, internal=True, on_requested=on_requested)
        if self.cancellation_type in (ABANDON_CHILD, TRY_CANCEL_CHILD):
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
        self.engine.push_job(job)

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
        self, engine: Engine, seq: int, attrs: SignalExternalWorkflowExecutionCommandAttributes
    ) -> None:
        super().__init__(engine)
        self.seq = seq
        self.attrs = attrs
        self.done = False
        engine.issue(
            self,
            Command(
                command_type=C.COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION,
                signal_external_workflow_execution_command_attributes=attrs,
            ),
        )

    def describe(self) -> str:
        return (
            f"SignalExternalWorkflowExecution(workflow_id={self.attrs.execution.workflow_id!r}, "
            f"signal={self.attrs.signal_name!r})"
        )

    def on_command_event(self, event: HistoryEvent) -> None:
        _expect(event, E.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED)
        self.initial_event_id = event.event_id

    def on_event(self, event: HistoryEvent) -> None:
        if event.event_type == E.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED:
            self._done(None)
        elif event.event_type == E.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED:
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
        self.engine.push_job(jobs.ResolveSignalExternal(self.seq, failure))


class CancelExternalMachine(Machine):
    """A cancel request to another workflow (or, internally, to a child)."""

    __slots__ = ("attrs", "done", "internal", "on_requested", "seq")
    kind = "RequestCancelExternalWorkflowExecution"

    def __init__(
        self,
        engine: Engine,
        seq: int,
        attrs: RequestCancelExternalWorkflowExecutionCommandAttributes,
        *,
        internal: bool = False,
        on_requested: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(engine)
        self.seq = seq
        self.attrs = attrs
        self.internal = internal
        self.on_requested = on_requested
        self.done = False
        engine.issue(
            self,
            Command(
                command_type=C.COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION,
                request_cancel_external_workflow_execution_command_attributes=attrs,
            ),
        )

    def describe(self) -> str:
        return f"RequestCancelExternalWorkflowExecution(workflow_id={self.attrs.workflow_id!r})"

    def on_command_event(self, event: HistoryEvent) -> None:
        _expect(event, E.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED)
        self.initial_event_id = event.event_id

    def on_event(self, event: HistoryEvent) -> None:
        if event.event_type == E.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
            self._done(None)
            if self.on_requested is not None:
                self.on_requested()
        elif event.event_type == E.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED:
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
            self.engine.push_job(jobs.ResolveRequestCancelExternal(self.seq, failure))


# --------------------------------------------------------------------------- fire and forget


class RecordOnlyMachine(Machine):
    """A command whose event only needs to be checked: upserts, memo, workflow completion."""

    __slots__ = ("command_type", "event_type", "label", "recorded")

    def __init__(self, engine: Engine, command: Command, event_type: int, label: str) -> None:
        super().__init__(engine)
        self.command_type = command.command_type
        self.event_type = event_type
        self.label = label
        self.recorded = False
        engine.issue(self, command)

    def describe(self) -> str:
        return self.label

    def on_command_event(self, event: HistoryEvent) -> None:
        _expect(event, self.event_type)
        self.recorded = True


class PatchMachine(Machine):
    """A ``core_patch`` marker: recorded when the patched branch first runs."""

    __slots__ = ("deprecated", "patch_id", "recorded")
    kind = "RecordMarker(core_patch)"

    def __init__(self, engine: Engine, patch_id: str, deprecated: bool) -> None:
        super().__init__(engine)
        self.patch_id = patch_id
        self.deprecated = deprecated
        self.recorded = False
        attrs = RecordMarkerCommandAttributes(marker_name="core_patch")
        from perdure.worker._workflow._history import patch_marker_details

        for key, value in patch_marker_details(patch_id, deprecated).items():
            attrs.details[key].CopyFrom(value)
        engine.issue(
            self,
            Command(
                command_type=C.COMMAND_TYPE_RECORD_MARKER, record_marker_command_attributes=attrs
            ),
        )

    def describe(self) -> str:
        return f"RecordMarker(core_patch, patch_id={self.patch_id!r})"

    def on_command_event(self, event: HistoryEvent) -> None:
        details = parse_patch_marker(event)
        if details is None or details[0] != self.patch_id:
            raise Mismatch(f"expected the marker of patch {self.patch_id!r}")
        self.recorded = True


# --------------------------------------------------------------------------- updates


@dataclass(slots=True)
class UpdateRequest:
    """An update request as delivered by a protocol message or an UpdateAccepted event."""

    update_id: str
    protocol_instance_id: str
    message_id: str
    sequencing_event_id: int
    name: str
    input: list[Payload]
    headers: dict[str, Payload]
    meta: Meta


class UpdateMachine(Machine):
    """An update: accept (or reject), then complete, as protocol messages plus commands."""

    __slots__ = ("accepted", "completed", "request")
    kind = "ProtocolMessage(update)"

    def __init__(self, engine: Engine, request: UpdateRequest) -> None:
        super().__init__(engine)
        self.request = request
        self.accepted = False
        self.completed = False
        engine.push_job(
            jobs.DoUpdate(
                id=request.update_id,
                protocol_instance_id=request.protocol_instance_id,
                name=request.name,
                input=request.input,
                headers=request.headers,
                meta=request.meta,
                run_validator=not engine.replaying,
            )
        )

    def describe(self) -> str:
        return f"ProtocolMessage(update {self.request.name!r}, id={self.request.update_id!r})"

    def respond(self, response: jobs.UpdateResponse) -> None:
        """Workflow code answered: emit the messages (and commands) for it."""
        base = self.request.message_id
        if response.rejected is not None:
            if self.accepted:
                raise RuntimeError(f"update {self.request.update_id} rejected after acceptance")
            rejection = Rejection(
                rejected_request_message_id=base,
                rejected_request_sequencing_event_id=self.request.sequencing_event_id,
                failure=response.rejected,
            )
            self._message(f"{base}/reject", rejection, command=False)
            self.completed = True
            return
        if response.accepted:
            self._accept()
            return
        if not self.accepted:
            self._accept()
        outcome = Outcome()
        if response.completed_failure is not None:
            outcome.failure.CopyFrom(response.completed_failure)
        elif response.completed is not None:
            outcome.success.payloads.append(response.completed)
        else:
            outcome.success.SetInParent()
        self._message(
            f"{base}/complete", Response(meta=self.request.meta, outcome=outcome), command=True
        )

    def _accept(self) -> None:
        self.accepted = True
        acceptance = Acceptance(
            accepted_request_message_id=self.request.message_id,
            accepted_request_sequencing_event_id=self.request.sequencing_event_id,
        )
        self._message(f"{self.request.message_id}/accept", acceptance, command=True)

    def _message(
        self, message_id: str, body: Acceptance | Rejection | Response, *, command: bool
    ) -> None:
        message = Message(id=message_id, protocol_instance_id=self.request.protocol_instance_id)
        message.body.Pack(body)
        self.engine.issue_message(message)
        if command:
            self.engine.issue(
                self,
                Command(
                    command_type=C.COMMAND_TYPE_PROTOCOL_MESSAGE,
                    protocol_message_command_attributes=ProtocolMessageCommandAttributes(
                        message_id=message_id
                    ),
                ),
            )

    def on_command_event(self, event: HistoryEvent) -> None:
        if event.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            return
        _expect(event, E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED)
        self.completed = True


__all__ = [
    "LOCAL_ACTIVITY_MARKER",
    "ActivityMachine",
    "CancelExternalMachine",
    "ChildWorkflowMachine",
    "LocalActivityMachine",
    "Machine",
    "Mismatch",
    "PatchMachine",
    "RecordOnlyMachine",
    "SignalExternalMachine",
    "TimerMachine",
    "UpdateMachine",
    "UpdateRequest",
]
