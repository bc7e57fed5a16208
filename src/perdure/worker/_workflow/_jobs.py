"""What flows between history replay and workflow code: jobs in, commands out.

Jobs are what an activation asks the workflow instance to do (start, fire a timer,
resolve an activity, deliver a signal, ...). Commands are what workflow code asked for
during an activation, in order. Both are plain slotted dataclasses: cheaper than protos
on the hot path, and exactly the vocabulary of sdk-core's activations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from temporalio.api.command.v1 import (
    ContinueAsNewWorkflowExecutionCommandAttributes,
    RequestCancelExternalWorkflowExecutionCommandAttributes,
    ScheduleActivityTaskCommandAttributes,
    SignalExternalWorkflowExecutionCommandAttributes,
    StartChildWorkflowExecutionCommandAttributes,
)
from temporalio.api.common.v1 import Payload, RetryPolicy
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import WorkflowExecutionStartedEventAttributes
from temporalio.api.sdk.v1 import EventGroupMarker, UserMetadata
from temporalio.api.update.v1 import Meta

from perdure.workflow import ActivityCancellationType, ChildWorkflowCancellationType

# --------------------------------------------------------------------------- jobs


@dataclass(slots=True)
class InitializeWorkflow:
    """Start the workflow: construct the object and run its @workflow.run method."""

    attributes: WorkflowExecutionStartedEventAttributes
    start_time: datetime
    randomness_seed: int


@dataclass(slots=True)
class FireTimer:
    """A durable timer fired."""

    seq: int


@dataclass(slots=True)
class ResolveActivity:
    """An activity (or local activity) finished one way or another.

    ``status`` is "completed", "failed", "cancelled" or "backoff" (local activity must
    sleep ``backoff`` seconds, then run attempt ``attempt``).
    """

    seq: int
    status: str
    result: Payload | None = None
    failure: Failure | None = None
    attempt: int = 0
    backoff: float = 0.0
    original_schedule_time: datetime | None = None


@dataclass(slots=True)
class ResolveChildStart:
    """The child workflow started (``run_id``), failed to start (``cause``) or was cancelled."""

    seq: int
    run_id: str | None = None
    failed_cause: int | None = None
    cancelled: Failure | None = None


@dataclass(slots=True)
class ResolveChild:
    """The child workflow closed: status "completed", "failed" or "cancelled"."""

    seq: int
    status: str
    result: Payload | None = None
    failure: Failure | None = None


@dataclass(slots=True)
class ResolveSignalExternal:
    """A signal sent by this workflow was delivered (no failure) or not."""

    seq: int
    failure: Failure | None = None


@dataclass(slots=True)
class ResolveRequestCancelExternal:
    """A cancel request sent by this workflow was delivered (no failure) or not."""

    seq: int
    failure: Failure | None = None


@dataclass(slots=True)
class SignalWorkflow:
    """A signal arrived."""

    name: str
    input: Sequence[Payload]
    headers: Mapping[str, Payload]
    identity: str = ""
    event_id: int = 0


@dataclass(slots=True)
class CancelWorkflow:
    """Cancellation of the workflow was requested."""

    reason: str


@dataclass(slots=True)
class DoUpdate:
    """Run an update: validator (when ``run_validator``), then handler."""

    id: str
    protocol_instance_id: str
    name: str
    input: Sequence[Payload]
    headers: Mapping[str, Payload]
    meta: Meta
    run_validator: bool


@dataclass(slots=True)
class NotifyHasPatch:
    """History holds a marker for this patch: ``patched()`` answers True while replaying."""

    patch_id: str


@dataclass(slots=True)
class UpdateRandomSeed:
    """The run was reset: workflow.random() continues from a new seed."""

    seed: int


@dataclass(slots=True)
class QueryWorkflow:
    """Answer a query (read-only)."""

    query_id: str
    query_type: str
    arguments: Sequence[Payload]
    headers: Mapping[str, Payload]


Job = (
    InitializeWorkflow
    | FireTimer
    | ResolveActivity
    | ResolveChildStart
    | ResolveChild
    | ResolveSignalExternal
    | ResolveRequestCancelExternal
    | SignalWorkflow
    | CancelWorkflow
    | DoUpdate
    | NotifyHasPatch
    | UpdateRandomSeed
    | QueryWorkflow
)


@dataclass(slots=True)
class Activation:
    """One run of workflow code: the jobs, the workflow time and whether it is replay."""

    jobs: list[Job]
    time_ns: int
    is_replaying: bool
    history_length: int = 0
    history_size: int = 0
    continue_as_new_suggested: bool = False
    lang_flags: frozenset[int] = frozenset()


# --------------------------------------------------------------------------- commands


@dataclass(slots=True)
class ScheduleActivity:
    """Schedule an activity task (attributes already carry exactly what goes on the wire)."""

    seq: int
    attributes: ScheduleActivityTaskCommandAttributes
    cancellation_type: ActivityCancellationType
    user_metadata: UserMetadata | None = None


@dataclass(slots=True)
class RequestCancelActivity:
    """Cancel the activity with this seq."""

    seq: int


@dataclass(slots=True)
class ScheduleLocalActivity:
    """Run a local activity in this worker; its result is recorded as a marker."""

    seq: int
    activity_id: str
    activity_type: str
    arguments: Sequence[Payload]
    headers: Mapping[str, Payload]
    schedule_to_close_timeout: float | None
    schedule_to_start_timeout: float | None
    start_to_close_timeout: float | None
    retry_policy: RetryPolicy | None
    local_retry_threshold: float | None
    cancellation_type: ActivityCancellationType
    attempt: int = 1
    original_schedule_time: datetime | None = None


@dataclass(slots=True)
class RequestCancelLocalActivity:
    """Cancel the local activity with this seq."""

    seq: int


@dataclass(slots=True)
class StartTimer:
    """Start a durable timer of ``duration`` seconds."""

    seq: int
    duration: float
    user_metadata: UserMetadata | None = None


@dataclass(slots=True)
class CancelTimer:
    """Cancel the timer with this seq."""

    seq: int


@dataclass(slots=True)
class StartChildWorkflow:
    """Start a child workflow."""

    seq: int
    attributes: StartChildWorkflowExecutionCommandAttributes
    cancellation_type: ChildWorkflowCancellationType
    user_metadata: UserMetadata | None = None


@dataclass(slots=True)
class CancelChildWorkflow:
    """Cancel the child workflow with this seq."""

    seq: int
    reason: str = ""


@dataclass(slots=True)
class SignalExternal:
    """Signal another workflow (or a child)."""

    seq: int
    attributes: SignalExternalWorkflowExecutionCommandAttributes


@dataclass(slots=True)
class CancelSignalExternal:
    """Withdraw a signal that was not sent yet."""

    seq: int


@dataclass(slots=True)
class RequestCancelExternal:
    """Ask another workflow to cancel."""

    seq: int
    attributes: RequestCancelExternalWorkflowExecutionCommandAttributes


@dataclass(slots=True)
class UpsertSearchAttributes:
    """Upsert search attributes (already encoded)."""

    indexed_fields: Mapping[str, Payload]


@dataclass(slots=True)
class ModifyWorkflowProperties:
    """Upsert memo fields (already encoded; an empty payload removes a key)."""

    memo: Mapping[str, Payload]


@dataclass(slots=True)
class SetPatchMarker:
    """Record that this run took the patched branch."""

    patch_id: str
    deprecated: bool


@dataclass(slots=True)
class UpdateResponse:
    """Accept, reject (``failure``) or complete (``result``) an update."""

    protocol_instance_id: str
    accepted: bool = False
    rejected: Failure | None = None
    completed: Payload | None = None
    completed_failure: Failure | None = None


@dataclass(slots=True)
class CompleteWorkflow:
    """The workflow returned."""

    result: Payload | None


@dataclass(slots=True)
class FailWorkflow:
    """The workflow failed."""

    failure: Failure


@dataclass(slots=True)
class CancelWorkflowExecution:
    """The workflow accepted its cancellation."""


@dataclass(slots=True)
class ContinueAsNew:
    """The workflow continues as a new run."""

    attributes: ContinueAsNewWorkflowExecutionCommandAttributes


@dataclass(slots=True)
class QueryResult:
    """The answer to a query: ``answer`` or ``failure``."""

    query_id: str
    answer: Payload | None = None
    failure: Failure | None = None


Command = (
    ScheduleActivity
    | RequestCancelActivity
    | ScheduleLocalActivity
    | RequestCancelLocalActivity
    | StartTimer
    | CancelTimer
    | StartChildWorkflow
    | CancelChildWorkflow
    | SignalExternal
    | CancelSignalExternal
    | RequestCancelExternal
    | UpsertSearchAttributes
    | ModifyWorkflowProperties
    | SetPatchMarker
    | UpdateResponse
    | CompleteWorkflow
    | FailWorkflow
    | CancelWorkflowExecution
    | ContinueAsNew
    | QueryResult
)

TERMINAL_COMMANDS = (CompleteWorkflow, FailWorkflow, CancelWorkflowExecution, ContinueAsNew)
"""Commands that close the run."""


@dataclass(slots=True)
class ActivationCompletion:
    """What workflow code produced in one activation."""

    commands: list[Command] = field(default_factory=list)
    used_lang_flags: set[int] = field(default_factory=set)
    failure: BaseException | None = None
    markers: dict[int, list[EventGroupMarker]] = field(default_factory=dict)
    """Event group markers of commands, by ``id()`` of the command."""
