"""An execution's mutable state: everything the engine needs besides the history.

One `ExecutionState` per run, stored as one blob (engine/codec.py). It holds what is
pending (the workflow task, activities, timers, children, external requests, updates),
the run's configuration from its start, and the counters that give new events their ids.
Closed runs keep their state so that describe, queries and request-id deduplication keep
working until retention removes them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.failure.v1 import message_pb2 as failure_pb2
from temporalio.api.history.v1 import message_pb2 as history_pb2
from temporalio.api.sdk.v1 import user_metadata_pb2
from temporalio.api.workflow.v1 import message_pb2 as workflow_pb2

Nanos = int

RUNNING = wf_enums.WORKFLOW_EXECUTION_STATUS_RUNNING


class WorkflowTaskKind(enum.IntEnum):
    NORMAL = 0
    SPECULATIVE = 1
    """Scheduled for an update; leaves no trace in history if the update is rejected."""


@dataclass(slots=True)
class WorkflowTaskInfo:
    """The one pending workflow task of a run (Temporal allows at most one).

    A task of attempt > 1 is transient: its scheduled and started events are not written
    until it completes, so a workflow that keeps failing does not grow its history.
    """

    seq: int
    """Counts every scheduled workflow task of the run; names its task row and timers."""
    scheduled_event_id: int
    attempt: int
    task_queue: str
    sticky: bool
    start_to_close_timeout: Nanos
    scheduled_time: Nanos
    started_event_id: int = 0
    started_time: Nanos = 0
    request_id: str = ""
    identity: str = ""
    build_id: str = ""
    """The build of the worker that took it (its started event's worker_version)."""
    kind: WorkflowTaskKind = WorkflowTaskKind.NORMAL
    original_scheduled_time: Nanos = 0
    """When the first task of a chain of heartbeats (force-created tasks) was scheduled."""
    scheduled_event_written: bool = True
    started_event_written: bool = False

    @property
    def started(self) -> bool:
        return self.started_event_id > 0

    @property
    def transient(self) -> bool:
        return self.attempt > 1


class ActivityState(enum.IntEnum):
    SCHEDULED = 0
    """Waiting in the task queue for a worker."""
    STARTED = 1
    """A worker has it (the ActivityTaskStarted event is written when it closes)."""
    BACKOFF = 2
    """Failed an attempt; waiting for the retry timer."""


@dataclass(slots=True)
class ActivityInfo:
    scheduled_event_id: int
    activity_id: str
    activity_type: str
    task_queue: str
    input: bytes
    """Serialized Payloads: kept as bytes so that re-encoding the state costs nothing."""
    header: bytes
    """Serialized Header, likewise."""
    schedule_to_close_timeout: Nanos
    schedule_to_start_timeout: Nanos
    start_to_close_timeout: Nanos
    heartbeat_timeout: Nanos
    retry_policy: common_pb2.RetryPolicy
    first_scheduled_time: Nanos
    """The ActivityTaskScheduled event's time: schedule-to-close counts from here."""
    scheduled_time: Nanos
    """When the current attempt became available to workers."""
    attempt: int = 1
    state: ActivityState = ActivityState.SCHEDULED
    started_time: Nanos = 0
    started_identity: str = ""
    started_request_id: str = ""
    started_build_id: str = ""
    """The build id of the worker that took the attempt (ActivityTaskStarted's worker_version)."""
    last_heartbeat_time: Nanos = 0
    heartbeat_details: common_pb2.Payloads | None = None
    last_failure: failure_pb2.Failure | None = None
    last_worker_identity: str = ""
    cancel_requested: bool = False
    cancel_requested_event_id: int = 0
    priority: common_pb2.Priority | None = None
    paused: bool = False
    """An operator paused it (PauseActivity): no new attempt starts until unpaused."""
    pause_time: Nanos = 0
    pause_identity: str = ""
    pause_reason: str = ""
    reset_requested: bool = False
    """ResetActivity while an attempt ran: its heartbeats answer `activity_reset`, and the
    attempts count again from 1 once it ends."""

    @property
    def started(self) -> bool:
        return self.state == ActivityState.STARTED


@dataclass(slots=True)
class TimerInfo:
    timer_id: str
    started_event_id: int
    expiry_time: Nanos


@dataclass(slots=True)
class ChildInfo:
    """A child workflow started (or being started) by this run."""

    initiated_event_id: int
    workflow_id: str
    workflow_type: str
    namespace: str
    namespace_id: str
    parent_close_policy: int
    run_id: str = ""
    started_event_id: int = 0
    create_request_id: str = ""


@dataclass(slots=True)
class ExternalRequestInfo:
    """A signal or cancellation this run sent to another workflow, not yet acknowledged."""

    initiated_event_id: int
    namespace: str
    namespace_id: str
    workflow_id: str
    run_id: str
    request_id: str
    signal_name: str = ""
    child_workflow_only: bool = False


@dataclass(slots=True)
class ParentInfo:
    namespace: str
    namespace_id: str
    workflow_id: str
    run_id: str
    initiated_event_id: int


@dataclass(slots=True)
class UpdateInfo:
    """An update the run has seen: admitted (in flight), accepted or completed."""

    update_id: str
    accepted_event_id: int = 0
    completed_event_id: int = 0
    request: bytes = b""
    """Serialized temporal.api.update.v1.Request while it waits to be delivered."""
    admitted_time: Nanos = 0
    rejection: bytes = b""
    """Serialized Failure of a rejected update (rejections leave no event)."""
    admitted_event_id: int = 0
    """Admitted durably (a reset reapplied it): the worker reads the request from that
    event, so no protocol message carries it."""
    delivered_to_task: int = 0
    """Seq of the last workflow task that carried its request to the worker."""
    aborted: str = ""
    """Why the server gave up on it (the FAILED_PRECONDITION its waiting callers get): the
    task it was delivered to failed. An aborted update is no longer in flight."""


@dataclass(slots=True)
class ExecutionState:
    """The mutable state of one run."""

    namespace_id: str
    workflow_id: str
    run_id: str
    first_execution_run_id: str
    workflow_type: str
    task_queue: str
    start_request_id: str
    start_time: Nanos
    execution_time: Nanos
    """When the run became runnable: start time plus any start delay or backoff."""
    workflow_task_timeout: Nanos
    status: int = RUNNING
    close_time: Nanos = 0
    workflow_execution_timeout: Nanos = 0
    workflow_run_timeout: Nanos = 0
    execution_expiration_time: Nanos = 0
    run_expiration_time: Nanos = 0
    retry_policy: common_pb2.RetryPolicy | None = None
    attempt: int = 1
    cron_schedule: str = ""
    memo: common_pb2.Memo = field(default_factory=common_pb2.Memo)
    search_attributes: common_pb2.SearchAttributes = field(
        default_factory=common_pb2.SearchAttributes
    )
    user_metadata: user_metadata_pb2.UserMetadata | None = None
    priority: common_pb2.Priority | None = None
    parent: ParentInfo | None = None
    root_workflow_id: str = ""
    root_run_id: str = ""

    next_event_id: int = 1
    last_workflow_task_started_event_id: int = 0
    """previous_started_event_id of the next workflow task."""
    last_completed_workflow_task_event_id: int = 0
    wft_seq: int = 0
    workflow_task: WorkflowTaskInfo | None = None
    sticky_task_queue: str = ""
    sticky_schedule_to_start_timeout: Nanos = 0
    buffered_events: list[history_pb2.HistoryEvent] = field(default_factory=list)
    pending_first_workflow_task: bool = False
    """The first workflow task waits for a start delay or retry/cron backoff."""
    first_task_backoff_is_delay: bool = False
    """That wait is a start delay, which a signal cuts short (a retry/cron backoff is not)."""

    activities: dict[int, ActivityInfo] = field(default_factory=dict)
    timers: dict[str, TimerInfo] = field(default_factory=dict)
    children: dict[int, ChildInfo] = field(default_factory=dict)
    external_signals: dict[int, ExternalRequestInfo] = field(default_factory=dict)
    external_cancels: dict[int, ExternalRequestInfo] = field(default_factory=dict)
    updates: dict[str, UpdateInfo] = field(default_factory=dict)

    cancel_requested: bool = False
    cancel_request_id: str = ""
    signal_request_ids: list[str] = field(default_factory=list)
    signal_count: int = 0
    history_size_bytes: int = 0
    state_transition_count: int = 0
    close_event_id: int = 0
    new_execution_run_id: str = ""
    """The run that continues this one (continue-as-new, retry or cron)."""
    continued_from_run_id: str = ""
    last_completion_result: common_pb2.Payloads | None = None
    """Carried to the next cron run."""
    last_failure: failure_pb2.Failure | None = None
    """Carried to the next retry run."""
    request_ids: dict[str, int] = field(default_factory=dict)
    """Request ids already applied (start, signal-with-start) -> the event they made."""
    reset_run_id: str = ""
    """The run that a reset of this run created."""
    original_start_time: Nanos = 0
    """Of a run made by a reset: when the run it was reset from started."""
    last_reset_time: Nanos = 0
    """Of a run made by a reset: when the reset happened."""
    auto_reset_points: workflow_pb2.ResetPoints = field(default_factory=workflow_pb2.ResetPoints)
    """The chain's first completed workflow task per worker build (engine/reset_points.py)."""

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    def activity_by_id(self, activity_id: str) -> ActivityInfo | None:
        for info in self.activities.values():
            if info.activity_id == activity_id:
                return info
        return None
