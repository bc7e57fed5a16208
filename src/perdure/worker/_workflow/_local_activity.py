"""Running local activities: attempts, timeouts, retries, and the outcome for the marker.

The activity worker runs one attempt (ActivityHooks.execute_local_activity). Here we
enforce start-to-close and schedule-to-close, retry with the retry policy while backoffs
stay under the local retry threshold (default one minute), and otherwise hand the workflow
a backoff so it sleeps on a durable timer. The outcome is shaped as the official SDK
shapes it: a failure as the activity reported it, a timeout wrapped as an ActivityFailure
for workflow code but recorded bare in the marker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.common.v1 import Payload, RetryPolicy, WorkflowExecution
from temporalio.api.enums.v1 import RetryState, TimeoutType
from temporalio.api.failure.v1 import (
    ActivityFailureInfo,
    Failure,
    TimeoutFailureInfo,
)
from temporalio.api.workflowservice.v1 import (
    PollActivityTaskQueueResponse,
    RespondActivityTaskCanceledRequest,
    RespondActivityTaskCompletedRequest,
    RespondActivityTaskFailedRequest,
)

from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._history import LocalActivityMarker

Execute = Callable[
    [PollActivityTaskQueueResponse],
    Awaitable[
        RespondActivityTaskCompletedRequest
        | RespondActivityTaskFailedRequest
        | RespondActivityTaskCanceledRequest
    ],
]

DEFAULT_LOCAL_RETRY_THRESHOLD = 60.0


@dataclass(slots=True)
class LocalActivityOutcome:
    """What to tell workflow code and what to record in the marker."""

    job: jobs.ResolveActivity
    marker: LocalActivityMarker


@dataclass(slots=True)
class LocalActivityContext:
    """The workflow a local activity belongs to."""

    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    workflow_start_ns: int
    """Workflow time when the activity was scheduled (marker complete times build on it)."""


def _ts(message: object, field: str, value: datetime) -> None:
    getattr(message, field).FromDatetime(value)


def _dur(message: object, field: str, seconds: float | None) -> None:
    if seconds:
        getattr(message, field).FromTimedelta(timedelta(seconds=seconds))


def build_task(
    request: jobs.ScheduleLocalActivity,
    context: LocalActivityContext,
    *,
    attempt: int,
    scheduled: datetime,
    attempt_scheduled: datetime,
) -> PollActivityTaskQueueResponse:
    """The activity task the activity worker runs for one attempt."""
    task = PollActivityTaskQueueResponse(
        task_token=f"la:{context.run_id}:{request.seq}:{attempt}".encode(),
        workflow_namespace=context.namespace,
        activity_id=request.activity_id,
        attempt=attempt,
        workflow_execution=WorkflowExecution(
            workflow_id=context.workflow_id, run_id=context.run_id
        ),
    )
    task.workflow_type.name = context.workflow_type
    task.activity_type.name = request.activity_type
    for key, value in request.headers.items():
        task.header.fields[key].CopyFrom(value)
    task.input.payloads.extend(request.arguments)
    now = datetime.now(UTC)
    _ts(task, "scheduled_time", scheduled)
    _ts(task, "current_attempt_scheduled_time", attempt_scheduled)
    _ts(task, "started_time", now)
    _dur(task, "schedule_to_close_timeout", request.schedule_to_close_timeout)
    _dur(task, "start_to_close_timeout", request.start_to_close_timeout)
    if request.retry_policy is not None:
        task.retry_policy.CopyFrom(request.retry_policy)
    return task


def _timeout_failure(kind: int) -> Failure:
    return Failure(
        message="Activity timed out",
        timeout_failure_info=TimeoutFailureInfo(timeout_type=kind),  # type: ignore[arg-type]
    )


def _backoff_for(policy: RetryPolicy | None, attempt: int, failure: Failure) -> float | None:
    """Seconds before the next attempt, or None when retrying is over."""
    app = failure.application_failure_info if failure.HasField("application_failure_info") else None
    if app is not None and app.non_retryable:
        return None
    initial = 1.0
    coefficient = 2.0
    maximum_interval = 0.0
    maximum_attempts = 0
    non_retryable: list[str] = []
    if policy is not None:
        if policy.HasField("initial_interval"):
            initial = policy.initial_interval.ToTimedelta().total_seconds() or initial
        coefficient = policy.backoff_coefficient or coefficient
        if policy.HasField("maximum_interval"):
            maximum_interval = policy.maximum_interval.ToTimedelta().total_seconds()
        maximum_attempts = policy.maximum_attempts
        non_retryable = list(policy.non_retryable_error_types)
    if maximum_attempts and attempt >= maximum_attempts:
        return None
    if app is not None and app.type in non_retryable:
        return None
    if app is not None and app.HasField("next_retry_delay"):
        return float(app.next_retry_delay.ToTimedelta().total_seconds())
    delay = initial * coefficient ** (attempt - 1)
    return min(delay, maximum_interval or initial * 100)


async def run_local_activity(
    request: jobs.ScheduleLocalActivity,
    context: LocalActivityContext,
    execute: Execute,
) -> LocalActivityOutcome:
    """Run attempts until success, final failure, timeout or a long backoff."""
    started = time.monotonic()
    scheduled = request.original_schedule_time or datetime.now(UTC)
    deadline = None
    if request.schedule_to_close_timeout:
        elapsed = (datetime.now(UTC) - scheduled.astimezone(UTC)).total_seconds()
        deadline = started + request.schedule_to_close_timeout - max(0.0, elapsed)
    threshold = request.local_retry_threshold or DEFAULT_LOCAL_RETRY_THRESHOLD
    attempt = request.attempt
    while True:
        attempt_scheduled = datetime.now(UTC)
        task = build_task(
            request,
            context,
            attempt=attempt,
            scheduled=scheduled,
            attempt_scheduled=attempt_scheduled,
        )
        limit = request.start_to_close_timeout
        timeout_kind = TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if limit is None or remaining < limit:
                limit, timeout_kind = remaining, TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE
        runner = asyncio.ensure_future(execute(task))
        done, _ = await asyncio.wait([runner], timeout=limit if limit is None else max(limit, 0))
        if not done:
            runner.cancel()
            return _outcome(
                request,
                context,
                started,
                attempt,
                scheduled,
                failure=_timeout_failure(timeout_kind),
            )
        response = runner.result()
        if isinstance(response, RespondActivityTaskCompletedRequest):
            payloads = response.result.payloads
            return _outcome(
                request,
                context,
                started,
                attempt,
                scheduled,
                result=payloads[0] if payloads else None,
            )
        if isinstance(response, RespondActivityTaskCanceledRequest):
            failure = Failure(message="Activity cancelled")
            failure.canceled_failure_info.SetInParent()
            if response.HasField("details"):
                failure.canceled_failure_info.details.CopyFrom(response.details)
            return _outcome(request, context, started, attempt, scheduled, failure=failure)
        failure = response.failure
        delay = _backoff_for(request.retry_policy, attempt, failure)
        if delay is None:
            return _outcome(request, context, started, attempt, scheduled, failure=failure)
        if deadline is not None and time.monotonic() + delay >= deadline:
            return _outcome(request, context, started, attempt, scheduled, failure=failure)
        if delay > threshold:
            return _outcome(
                request, context, started, attempt, scheduled, failure=failure, backoff=delay
            )
        await asyncio.sleep(delay)
        attempt += 1


def _outcome(
    request: jobs.ScheduleLocalActivity,
    context: LocalActivityContext,
    started: float,
    attempt: int,
    scheduled: datetime,
    *,
    result: Payload | None = None,
    failure: Failure | None = None,
    backoff: float | None = None,
) -> LocalActivityOutcome:
    runtime = time.monotonic() - started
    complete = datetime.fromtimestamp(context.workflow_start_ns / 1e9 + runtime, UTC)
    marker = LocalActivityMarker(
        seq=request.seq,
        attempt=attempt,
        activity_id=request.activity_id,
        activity_type=request.activity_type,
        complete_time=complete,
        backoff=backoff,
        original_schedule_time=scheduled,
        result=result,
        failure=failure,
    )
    if backoff is not None:
        job = jobs.ResolveActivity(
            request.seq,
            "backoff",
            attempt=attempt + 1,
            backoff=backoff,
            original_schedule_time=scheduled,
        )
    elif failure is None:
        job = jobs.ResolveActivity(request.seq, "completed", result)
    elif failure.HasField("canceled_failure_info"):
        job = jobs.ResolveActivity(request.seq, "cancelled", failure=failure)
    elif failure.HasField("timeout_failure_info"):
        wrapped = Failure(
            message="Local Activity timed out",
            activity_failure_info=ActivityFailureInfo(
                activity_id=request.activity_id,
                retry_state=RetryState.RETRY_STATE_CANCEL_REQUESTED,
            ),
        )
        wrapped.activity_failure_info.activity_type.name = request.activity_type
        wrapped.cause.CopyFrom(failure)
        job = jobs.ResolveActivity(request.seq, "failed", failure=wrapped)
    else:
        job = jobs.ResolveActivity(request.seq, "failed", failure=failure)
    return LocalActivityOutcome(job, marker)
