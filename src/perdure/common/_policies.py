"""Retry policies, id policies, priorities and raw values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import IntEnum
from typing import ClassVar

from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import activity_pb2 as enums_activity_pb
from temporalio.api.enums.v1 import common_pb2 as enums_common_pb
from temporalio.api.enums.v1 import nexus_pb2 as enums_nexus_pb
from temporalio.api.enums.v1 import query_pb2 as enums_query_pb
from temporalio.api.enums.v1 import workflow_pb2 as enums_workflow_pb

# --------------------------------------------------------------------------- retry


@dataclass
class RetryPolicy:
    """How a failed workflow or activity is retried (Temporal's retry policy)."""

    initial_interval: timedelta = timedelta(seconds=1)
    """Delay before the first retry."""

    backoff_coefficient: float = 2.0
    """Each retry delay is the previous one times this coefficient."""

    maximum_interval: timedelta | None = None
    """Upper bound of the delay; ``None`` means 100 x :py:attr:`initial_interval`."""

    maximum_attempts: int = 0
    """Attempts allowed in total; 0 means unlimited, 1 means no retry."""

    non_retryable_error_types: Sequence[str] | None = None
    """Application error types that are never retried."""

    @staticmethod
    def from_proto(proto: common_pb.RetryPolicy) -> RetryPolicy:
        """Build a policy from its Temporal API form."""
        return RetryPolicy(
            initial_interval=proto.initial_interval.ToTimedelta(),
            backoff_coefficient=proto.backoff_coefficient,
            maximum_interval=(
                proto.maximum_interval.ToTimedelta() if proto.HasField("maximum_interval") else None
            ),
            maximum_attempts=proto.maximum_attempts,
            non_retryable_error_types=list(proto.non_retryable_error_types) or None,
        )

    def apply_to_proto(self, proto: common_pb.RetryPolicy) -> None:
        """Validate the policy and write it into ``proto``."""
        self._validate()
        proto.initial_interval.FromTimedelta(self.initial_interval)
        proto.backoff_coefficient = self.backoff_coefficient
        proto.maximum_interval.FromTimedelta(self.maximum_interval or self.initial_interval * 100)
        proto.maximum_attempts = self.maximum_attempts
        if self.non_retryable_error_types:
            proto.non_retryable_error_types.extend(self.non_retryable_error_types)

    def _validate(self) -> None:
        if self.maximum_attempts == 1:
            return  # retries are off: the other fields do not matter
        if self.initial_interval < timedelta(0):
            raise ValueError("Initial interval cannot be negative")
        if self.backoff_coefficient < 1:
            raise ValueError("Backoff coefficient cannot be less than 1")
        if self.maximum_interval:
            if self.maximum_interval < timedelta(0):
                raise ValueError("Maximum interval cannot be negative")
            if self.maximum_interval < self.initial_interval:
                raise ValueError("Maximum interval cannot be less than initial interval")
        if self.maximum_attempts < 0:
            raise ValueError("Maximum attempts cannot be negative")


# --------------------------------------------------------------------------- policies

_Reuse = enums_workflow_pb.WorkflowIdReusePolicy
_Conflict = enums_workflow_pb.WorkflowIdConflictPolicy


class WorkflowIDReusePolicy(IntEnum):
    """What a start does when a closed workflow already used the id."""

    ALLOW_DUPLICATE = _Reuse.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
    ALLOW_DUPLICATE_FAILED_ONLY = _Reuse.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
    REJECT_DUPLICATE = _Reuse.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
    TERMINATE_IF_RUNNING = _Reuse.WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING


class WorkflowIDConflictPolicy(IntEnum):
    """What a start does when a workflow with the id is still running."""

    UNSPECIFIED = _Conflict.WORKFLOW_ID_CONFLICT_POLICY_UNSPECIFIED
    FAIL = _Conflict.WORKFLOW_ID_CONFLICT_POLICY_FAIL
    USE_EXISTING = _Conflict.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
    TERMINATE_EXISTING = _Conflict.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING


class ActivityIDReusePolicy(IntEnum):
    """What a standalone activity start does when a closed activity used the id."""

    UNSPECIFIED = enums_activity_pb.ACTIVITY_ID_REUSE_POLICY_UNSPECIFIED
    ALLOW_DUPLICATE = enums_activity_pb.ACTIVITY_ID_REUSE_POLICY_ALLOW_DUPLICATE
    ALLOW_DUPLICATE_FAILED_ONLY = (
        enums_activity_pb.ACTIVITY_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
    )
    REJECT_DUPLICATE = enums_activity_pb.ACTIVITY_ID_REUSE_POLICY_REJECT_DUPLICATE


class ActivityIDConflictPolicy(IntEnum):
    """What a standalone activity start does when an activity with the id runs."""

    UNSPECIFIED = enums_activity_pb.ACTIVITY_ID_CONFLICT_POLICY_UNSPECIFIED
    FAIL = enums_activity_pb.ACTIVITY_ID_CONFLICT_POLICY_FAIL
    USE_EXISTING = enums_activity_pb.ACTIVITY_ID_CONFLICT_POLICY_USE_EXISTING


class NexusOperationIDReusePolicy(IntEnum):
    """What a standalone Nexus operation start does when a closed one used the id."""

    UNSPECIFIED = enums_nexus_pb.NEXUS_OPERATION_ID_REUSE_POLICY_UNSPECIFIED
    ALLOW_DUPLICATE = enums_nexus_pb.NEXUS_OPERATION_ID_REUSE_POLICY_ALLOW_DUPLICATE
    ALLOW_DUPLICATE_FAILED_ONLY = (
        enums_nexus_pb.NEXUS_OPERATION_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
    )
    REJECT_DUPLICATE = enums_nexus_pb.NEXUS_OPERATION_ID_REUSE_POLICY_REJECT_DUPLICATE


class NexusOperationIDConflictPolicy(IntEnum):
    """What a standalone Nexus operation start does when one with the id runs."""

    UNSPECIFIED = enums_nexus_pb.NEXUS_OPERATION_ID_CONFLICT_POLICY_UNSPECIFIED
    FAIL = enums_nexus_pb.NEXUS_OPERATION_ID_CONFLICT_POLICY_FAIL
    USE_EXISTING = enums_nexus_pb.NEXUS_OPERATION_ID_CONFLICT_POLICY_USE_EXISTING


class NexusOperationExecutionStatus(IntEnum):
    """Status of a standalone Nexus operation."""

    UNSPECIFIED = enums_nexus_pb.NEXUS_OPERATION_EXECUTION_STATUS_UNSPECIFIED
    RUNNING = enums_nexus_pb.NEXUS_OPERATION_EXECUTION_STATUS_RUNNING
    COMPLETED = enums_nexus_pb.NEXUS_OPERATION_EXECUTION_STATUS_COMPLETED
    FAILED = enums_nexus_pb.NEXUS_OPERATION_EXECUTION_STATUS_FAILED
    CANCELED = enums_nexus_pb.NEXUS_OPERATION_EXECUTION_STATUS_CANCELED
    TERMINATED = enums_nexus_pb.NEXUS_OPERATION_EXECUTION_STATUS_TERMINATED
    TIMED_OUT = enums_nexus_pb.NEXUS_OPERATION_EXECUTION_STATUS_TIMED_OUT


class PendingNexusOperationExecutionState(IntEnum):
    """Finer state of a running Nexus operation."""

    UNSPECIFIED = enums_common_pb.PENDING_NEXUS_OPERATION_STATE_UNSPECIFIED
    SCHEDULED = enums_common_pb.PENDING_NEXUS_OPERATION_STATE_SCHEDULED
    BACKING_OFF = enums_common_pb.PENDING_NEXUS_OPERATION_STATE_BACKING_OFF
    STARTED = enums_common_pb.PENDING_NEXUS_OPERATION_STATE_STARTED
    BLOCKED = enums_common_pb.PENDING_NEXUS_OPERATION_STATE_BLOCKED


class NexusOperationCancellationState(IntEnum):
    """State of a Nexus operation's cancellation request."""

    UNSPECIFIED = enums_common_pb.NEXUS_OPERATION_CANCELLATION_STATE_UNSPECIFIED
    SCHEDULED = enums_common_pb.NEXUS_OPERATION_CANCELLATION_STATE_SCHEDULED
    BACKING_OFF = enums_common_pb.NEXUS_OPERATION_CANCELLATION_STATE_BACKING_OFF
    SUCCEEDED = enums_common_pb.NEXUS_OPERATION_CANCELLATION_STATE_SUCCEEDED
    FAILED = enums_common_pb.NEXUS_OPERATION_CANCELLATION_STATE_FAILED
    TIMED_OUT = enums_common_pb.NEXUS_OPERATION_CANCELLATION_STATE_TIMED_OUT
    BLOCKED = enums_common_pb.NEXUS_OPERATION_CANCELLATION_STATE_BLOCKED


class QueryRejectCondition(IntEnum):
    """When the server refuses a query instead of running it."""

    NONE = enums_query_pb.QUERY_REJECT_CONDITION_NONE
    NOT_OPEN = enums_query_pb.QUERY_REJECT_CONDITION_NOT_OPEN
    NOT_COMPLETED_CLEANLY = enums_query_pb.QUERY_REJECT_CONDITION_NOT_COMPLETED_CLEANLY


class HeaderCodecBehavior(IntEnum):
    """Whether the payload codec also encodes and decodes headers."""

    NO_CODEC = 1
    """Headers pass through untouched."""
    CODEC = 2
    """Headers are encoded and decoded like any payload."""
    WORKFLOW_ONLY_CODEC = 3
    """Only the worker's workflow activations encode and decode headers."""


# --------------------------------------------------------------------------- raw value


@dataclass(frozen=True)
class RawValue:
    """A payload left unconverted, so code can pass it through or convert it later."""

    payload: common_pb.Payload

    def __getstate__(self) -> object:
        """Pickle as a version byte plus the serialized payload."""
        return b"1" + self.payload.SerializeToString()

    def __setstate__(self, state: object) -> None:
        """Restore from :py:meth:`__getstate__`'s form."""
        if not isinstance(state, bytes):
            raise TypeError(f"Expected bytes state, got {type(state)}")
        if state[:1] != b"1":
            raise ValueError("Bad version prefix")
        object.__setattr__(self, "payload", common_pb.Payload.FromString(state[1:]))


# --------------------------------------------------------------------------- priority


@dataclass(frozen=True)
class Priority:
    """Ordering and fairness of tasks that wait in a backlogged task queue.

    Unset fields inherit from the calling workflow, or take the server default.
    """

    priority_key: int | None = None
    """1..n, smaller runs sooner; the server default is the middle (3 of 1..5)."""

    fairness_key: str | None = None
    """A short key (e.g. a tenant id) that tasks are balanced over by weight."""

    fairness_weight: float | None = None
    """The weight of :py:attr:`fairness_key` (server clamps to 0.001..1000, default 1.0)."""

    default: ClassVar[Priority]
    """Nothing set: inherit everything."""

    def __post_init__(self) -> None:
        """Refuse a non-integer or non-positive priority key."""
        if self.priority_key is not None:
            if not isinstance(self.priority_key, int):
                raise TypeError("priority_key must be an integer")
            if self.priority_key < 1:
                raise ValueError("priority_key must be a positive integer")

    @staticmethod
    def _from_proto(proto: common_pb.Priority) -> Priority:
        return Priority(
            priority_key=proto.priority_key or None,
            fairness_key=proto.fairness_key or None,
            fairness_weight=proto.fairness_weight or None,
        )

    def _to_proto(self) -> common_pb.Priority:
        proto = common_pb.Priority(priority_key=self.priority_key or 0)
        if self.fairness_key is not None:
            proto.fairness_key = self.fairness_key
        if self.fairness_weight is not None:
            proto.fairness_weight = self.fairness_weight
        return proto


Priority.default = Priority()
