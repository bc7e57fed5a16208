"""Retry policies: defaults, validation, and the next backoff after a failed attempt.

The same rules serve activities and workflow runs, as in Temporal: the failure decides
whether a retry is allowed at all (non-retryable flags and types, which timeouts retry),
then the attempt count, then the backoff, which must end before the expiration.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.failure.v1 import message_pb2 as failure_pb2

from perdure.server.engine.state import Nanos
from perdure.server.errors import InvalidArgument

SECOND = 1_000_000_000
DEFAULT_INITIAL_INTERVAL = SECOND
DEFAULT_BACKOFF_COEFFICIENT = 2.0
DEFAULT_MAXIMUM_INTERVAL_COEFFICIENT = 100


def duration(nanos: Nanos) -> Duration:
    d = Duration()
    d.FromNanoseconds(nanos)
    return d


MAX_DURATION: Nanos = 100 * 365 * 24 * 3600 * SECOND
"""Longer durations count as this (a century): a time plus a duration stays within the
64-bit nanoseconds the store holds. Temporal accepts such timeouts and retentions too
(its Go durations saturate at 292 years)."""


def nanos(d: Duration) -> Nanos:
    return min(int(d.seconds) * SECOND + int(d.nanos), MAX_DURATION)


def validate_retry_policy(policy: common_pb2.RetryPolicy) -> None:
    """Reject what Temporal rejects, with its messages."""
    initial = nanos(policy.initial_interval)
    maximum = nanos(policy.maximum_interval)
    if initial < 0:
        raise InvalidArgument("InitialInterval cannot be negative on retry policy.")
    if policy.backoff_coefficient != 0 and policy.backoff_coefficient < 1:
        raise InvalidArgument("BackoffCoefficient cannot be less than 1 on retry policy.")
    if maximum < 0:
        raise InvalidArgument("MaximumInterval cannot be negative on retry policy.")
    if maximum > 0 and maximum < initial:
        raise InvalidArgument(
            "MaximumInterval cannot be less than InitialInterval on retry policy."
        )
    if policy.maximum_attempts < 0:
        raise InvalidArgument("MaximumAttempts cannot be negative on retry policy.")


def with_defaults(policy: common_pb2.RetryPolicy | None) -> common_pb2.RetryPolicy:
    """A copy with Temporal's defaults filled in (1 s, x2.0, 100 x initial, unlimited)."""
    out = common_pb2.RetryPolicy()
    if policy is not None:
        out.CopyFrom(policy)
    if nanos(out.initial_interval) == 0:
        out.initial_interval.CopyFrom(duration(DEFAULT_INITIAL_INTERVAL))
    if out.backoff_coefficient == 0:
        out.backoff_coefficient = DEFAULT_BACKOFF_COEFFICIENT
    if nanos(out.maximum_interval) == 0:
        out.maximum_interval.CopyFrom(
            duration(nanos(out.initial_interval) * DEFAULT_MAXIMUM_INTERVAL_COEFFICIENT)
        )
    return out


@dataclass(frozen=True, slots=True)
class RetryDecision:
    backoff: Nanos | None
    """Delay before the next attempt; None when there is no next attempt."""
    retry_state: int
    """temporal.api.enums.v1.RetryState for the event that records the outcome."""


def is_retryable(failure: failure_pb2.Failure | None, non_retryable_types: list[str]) -> bool:
    if failure is None:
        return True
    info = failure.WhichOneof("failure_info")
    if info == "timeout_failure_info":
        return failure.timeout_failure_info.timeout_type in (
            wf_enums.TIMEOUT_TYPE_START_TO_CLOSE,
            wf_enums.TIMEOUT_TYPE_HEARTBEAT,
        )
    if info == "server_failure_info":
        return not failure.server_failure_info.non_retryable
    if info == "application_failure_info":
        app = failure.application_failure_info
        if app.non_retryable:
            return False
        return app.type not in non_retryable_types
    return info not in ("canceled_failure_info", "terminated_failure_info")


def next_retry(
    policy: common_pb2.RetryPolicy,
    attempt: int,
    failure: failure_pb2.Failure | None,
    now: Nanos,
    expiration: Nanos,
) -> RetryDecision:
    """Decide the retry after `attempt` failed with `failure` at `now`.

    `expiration` 0 means no deadline.
    """
    if not is_retryable(failure, list(policy.non_retryable_error_types)):
        return RetryDecision(None, wf_enums.RETRY_STATE_NON_RETRYABLE_FAILURE)
    if policy.maximum_attempts > 0 and attempt >= policy.maximum_attempts:
        return RetryDecision(None, wf_enums.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED)
    delay = _explicit_delay(failure)
    if delay is None:
        initial = nanos(policy.initial_interval) or DEFAULT_INITIAL_INTERVAL
        coefficient = policy.backoff_coefficient or DEFAULT_BACKOFF_COEFFICIENT
        maximum = nanos(policy.maximum_interval)
        computed = initial * coefficient ** (attempt - 1)
        delay = int(min(computed, maximum) if maximum > 0 else computed)
    if expiration and now + delay > expiration:
        return RetryDecision(None, wf_enums.RETRY_STATE_TIMEOUT)
    return RetryDecision(delay, wf_enums.RETRY_STATE_IN_PROGRESS)


def _explicit_delay(failure: failure_pb2.Failure | None) -> Nanos | None:
    """An ApplicationError's next_retry_delay overrides the policy's backoff."""
    if failure is None or failure.WhichOneof("failure_info") != "application_failure_info":
        return None
    app = failure.application_failure_info
    if app.HasField("next_retry_delay"):
        delay = nanos(app.next_retry_delay)
        if delay > 0:
            return delay
    return None
