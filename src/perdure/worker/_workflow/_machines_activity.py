"""State machines of activities and local activities (see ``_machines`` for the base)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio.api.command.v1 import (
    Command,
    RequestCancelActivityTaskCommandAttributes,
    ScheduleActivityTaskCommandAttributes,
)
from temporalio.api.common.v1 import ActivityType
from temporalio.api.enums.v1 import (
    RetryState,
    command_type_pb2,
    event_type_pb2,
)
from temporalio.api.failure.v1 import (
    ActivityFailureInfo,
    CanceledFailureInfo,
    Failure,
)
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.sdk.v1 import UserMetadata

from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._history import (
    LocalActivityMarker,
    parse_local_activity_marker,
)

if TYPE_CHECKING:
    from perdure.worker._workflow._replay import ReplayState

from perdure.worker._workflow._machines import ID_AND_TYPE_CHECKS_FLAG, Machine, Mismatch, _expect
from perdure.workflow import ActivityCancellationType


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


class ActivityMachine(Machine):
    """A remote activity: schedule, maybe cancel, then one resolution for workflow code."""

    __slots__ = ("attrs", "cancel_requested", "cancellation_type", "notified", "seq", "started")
    kind = "ScheduleActivityTask"

    def __init__(
        self,
        replay: ReplayState,
        seq: int,
        attrs: ScheduleActivityTaskCommandAttributes,
        cancellation_type: ActivityCancellationType,
        user_metadata: UserMetadata | None,
    ) -> None:
        super().__init__(replay)
        self.seq = seq
        self.attrs = attrs
        self.cancellation_type = cancellation_type
        self.started = 0
        self.cancel_requested = False
        self.notified = False
        command = Command(
            command_type=command_type_pb2.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
            schedule_activity_task_command_attributes=attrs,
        )
        if user_metadata is not None:
            command.user_metadata.CopyFrom(user_metadata)
        replay.issue(self, command)

    def describe(self) -> str:
        return (
            f"ScheduleActivityTask(activity_id={self.attrs.activity_id!r}, "
            f"activity_type={self.attrs.activity_type.name!r})"
        )

    def on_command_event(self, event: HistoryEvent) -> None:
        if event.event_type == event_type_pb2.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED:
            return
        _expect(event, event_type_pb2.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
        recorded = event.activity_task_scheduled_event_attributes
        if self.replay.try_use_flag(ID_AND_TYPE_CHECKS_FLAG):
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
        if kind == event_type_pb2.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            self.started = event.event_id
            return
        if self.notified:
            return  # TRY_CANCEL/ABANDON already resolved workflow code; late outcomes ignored
        if kind == event_type_pb2.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs = event.activity_task_completed_event_attributes
            payloads = attrs.result.payloads
            self._resolve(
                jobs.ResolveActivity(self.seq, "completed", payloads[0] if payloads else None)
            )
        elif kind == event_type_pb2.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failed = event.activity_task_failed_event_attributes
            self._resolve_failed(
                "Activity task failed",
                failed.failure if failed.HasField("failure") else None,
                failed.retry_state,
                failed.started_event_id,
                failed.identity,
            )
        elif kind == event_type_pb2.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            timed_out = event.activity_task_timed_out_event_attributes
            self._resolve_failed(
                "Activity task timed out",
                timed_out.failure if timed_out.HasField("failure") else None,
                timed_out.retry_state,
                timed_out.started_event_id,
            )
        elif kind == event_type_pb2.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
            attrs_c = event.activity_task_canceled_event_attributes
            self._resolve_cancelled(attrs_c.details if attrs_c.HasField("details") else None)
        else:
            raise Mismatch("not an activity event")

    def cancel(self) -> None:
        if self.notified:
            return
        if self.initial_event_id == 0:
            self.cancelled_before_sent = True
            if self.cancellation_type != ActivityCancellationType.ABANDON:
                self._resolve_cancelled(None)
            self.notified = True
            return
        if self.cancellation_type == ActivityCancellationType.ABANDON:
            self._resolve_cancelled(None)
            return
        self.cancel_requested = True
        self.replay.issue(
            self,
            Command(
                command_type=command_type_pb2.COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK,
                request_cancel_activity_task_command_attributes=(
                    RequestCancelActivityTaskCommandAttributes(
                        scheduled_event_id=self.initial_event_id
                    )
                ),
            ),
        )
        if self.cancellation_type == ActivityCancellationType.TRY_CANCEL:
            self._resolve_cancelled(None)

    def _resolve(self, job: jobs.ResolveActivity) -> None:
        self.notified = True
        self.replay.push_job(job)

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
        replay: ReplayState,
        request: jobs.ScheduleLocalActivity,
        *,
        replaying: bool,
        preresolved: LocalActivityMarker | None,
        start_time_ns: int,
    ) -> None:
        super().__init__(replay)
        self.request = request
        self.replaying_when_invoked = replaying
        self.start_time_ns = start_time_ns
        self.result_status = ""
        if not replaying:
            self.state = "executing"
            replay.queue_local_activity(self)
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
            self.replay.queue_local_activity(self)

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
        self.replay.push_job(job)
        if marker.complete_time is not None:
            self.replay.advance_time(marker.complete_time)
        self.replay.issue_local_activity_marker(self, marker)

    def on_command_event(self, event: HistoryEvent) -> None:
        marker = (
            parse_local_activity_marker(event)
            if event.event_type == event_type_pb2.EVENT_TYPE_MARKER_RECORDED
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
            if self.request.cancellation_type in (
                ActivityCancellationType.TRY_CANCEL,
                ActivityCancellationType.ABANDON,
            ):
                if self.request.cancellation_type == ActivityCancellationType.TRY_CANCEL:
                    self.replay.cancel_local_activity(self, wait=False)
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
                self.replay.cancel_local_activity(self, wait=True)

    def _verify(self, marker: LocalActivityMarker) -> None:
        if marker.seq != self.request.seq:
            raise Mismatch(
                f"local activity marker has seq {marker.seq}, command has {self.request.seq}"
            )
        if self.replay.try_use_flag(
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
        self.replay.push_job(job)
        if marker.complete_time is not None:
            self.replay.advance_time(marker.complete_time)
