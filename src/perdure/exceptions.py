"""Exceptions shared by the client, workflows and activities (mirrors ``temporalio.exceptions``).

Every error that crosses a process boundary is a :py:class:`FailureError`: the failure
converter turns it into a Temporal ``Failure`` proto and back, keeping the cause chain
(``__cause__``), so a workflow sees an activity's :py:class:`ApplicationError` as the
cause of an :py:class:`ActivityError`, and a client sees the workflow's failure as the
cause of its ``WorkflowFailureError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from enum import IntEnum
from typing import Any

from temporalio.api.enums.v1 import common_pb2 as enums_common_pb
from temporalio.api.enums.v1 import workflow_pb2 as enums_workflow_pb
from temporalio.api.failure.v1 import message_pb2 as failure_pb


class TemporalError(Exception):
    """Base of every Temporal exception."""

    @property
    def cause(self) -> BaseException | None:
        """The exception this one wraps (``__cause__``)."""
        return self.__cause__


class FailureError(TemporalError):
    """An error that travels as a Temporal ``Failure`` proto."""

    def __init__(
        self,
        message: str,
        *,
        failure: failure_pb.Failure | None = None,
        exc_args: tuple[Any, ...] | None = None,
    ) -> None:
        """Make an error; ``exc_args`` overrides the exception's ``args`` (its ``str``)."""
        super().__init__(*(exc_args if exc_args is not None else (message,)))
        self._message = message
        self._failure = failure

    @property
    def message(self) -> str:
        """The failure message."""
        return self._message

    @property
    def failure(self) -> failure_pb.Failure | None:
        """The proto this error was decoded from, if it was decoded."""
        return self._failure


class WorkflowAlreadyStartedError(FailureError):
    """A start was refused because a workflow with the id is running (or was, by policy).

    Attributes:
        workflow_id: The id that is taken.
        workflow_type: The workflow type that was being started.
        run_id: The run id of the existing workflow, when the client knows it.
        first_run_id: The first run id of the existing chain, when the server says.
    """

    def __init__(
        self,
        workflow_id: str,
        workflow_type: str,
        *,
        run_id: str | None = None,
        first_run_id: str | None = None,
    ) -> None:
        """Make the error for ``workflow_id``."""
        super().__init__("Workflow execution already started")
        self.workflow_id = workflow_id
        self.workflow_type = workflow_type
        self.run_id = run_id
        self.first_run_id = first_run_id


class InvalidVersioningOverrideError(FailureError):
    """A child workflow could not start because its versioning override is invalid."""

    def __init__(self) -> None:
        """Make the error."""
        super().__init__("Invalid versioning override")


class ActivityAlreadyStartedError(FailureError):
    """A standalone activity start was refused: an activity with the id exists.

    Attributes:
        activity_id: The id that is taken.
        activity_type: The activity type being started.
        run_id: The existing activity's run id, when known.
    """

    def __init__(self, activity_id: str, activity_type: str, *, run_id: str | None = None) -> None:
        """Make the error for ``activity_id``."""
        super().__init__("Activity execution already started")
        self.activity_id = activity_id
        self.activity_type = activity_type
        self.run_id = run_id


class NexusOperationAlreadyStartedError(FailureError):
    """A standalone Nexus operation start was refused: one with the id exists.

    Attributes:
        operation_id: The id that is taken.
        run_id: The existing operation's run id, when known.
    """

    def __init__(self, operation_id: str, *, run_id: str | None = None) -> None:
        """Make the error for ``operation_id``."""
        super().__init__("Nexus operation execution already started")
        self.operation_id = operation_id
        self.run_id = run_id


class ApplicationErrorCategory(IntEnum):
    """How severe an application error is, which drives logging and metrics."""

    UNSPECIFIED = enums_common_pb.APPLICATION_ERROR_CATEGORY_UNSPECIFIED
    BENIGN = enums_common_pb.APPLICATION_ERROR_CATEGORY_BENIGN
    """Expected failures: logged at DEBUG, not counted in metrics."""


class ApplicationError(FailureError):
    """An error raised by user code in a workflow or activity.

    ``type`` names the error for retry policies (``non_retryable_error_types``);
    ``non_retryable`` stops retries regardless of policy; ``next_retry_delay``
    overrides the policy's delay before the next activity attempt.
    """

    def __init__(
        self,
        message: str,
        *details: Any,
        type: str | None = None,
        non_retryable: bool = False,
        next_retry_delay: timedelta | None = None,
        category: ApplicationErrorCategory = ApplicationErrorCategory.UNSPECIFIED,
    ) -> None:
        """Make an application error; its ``str`` is ``"<type>: <message>"`` when typed."""
        super().__init__(message, exc_args=(f"{type}: {message}" if type else message,))
        self._details = details
        self._type = type
        self._non_retryable = non_retryable
        self._next_retry_delay = next_retry_delay
        self._category = category

    @property
    def details(self) -> Sequence[Any]:
        """Values attached by the raiser."""
        return self._details

    @property
    def type(self) -> str | None:
        """The error's type name."""
        return self._type

    @property
    def non_retryable(self) -> bool:
        """Whether the raiser marked it non-retryable (retry policies may add more)."""
        return self._non_retryable

    @property
    def next_retry_delay(self) -> timedelta | None:
        """The delay before the next activity attempt, overriding the policy."""
        return self._next_retry_delay

    @property
    def category(self) -> ApplicationErrorCategory:
        """The error's severity category."""
        return self._category


class CancelledError(FailureError):
    """A workflow, activity or child was cancelled."""

    def __init__(self, message: str = "Cancelled", *details: Any) -> None:
        """Make a cancellation error with optional details."""
        super().__init__(message)
        self._details = details

    @property
    def details(self) -> Sequence[Any]:
        """Values attached to the cancellation."""
        return self._details


class TerminatedError(FailureError):
    """A workflow was terminated."""

    def __init__(self, message: str, *details: Any) -> None:
        """Make a termination error with optional details."""
        super().__init__(message)
        self._details = details

    @property
    def details(self) -> Sequence[Any]:
        """Values given to terminate."""
        return self._details


_Timeout = enums_workflow_pb.TimeoutType


class TimeoutType(IntEnum):
    """Which timeout fired."""

    START_TO_CLOSE = _Timeout.TIMEOUT_TYPE_START_TO_CLOSE
    SCHEDULE_TO_START = _Timeout.TIMEOUT_TYPE_SCHEDULE_TO_START
    SCHEDULE_TO_CLOSE = _Timeout.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE
    HEARTBEAT = _Timeout.TIMEOUT_TYPE_HEARTBEAT


class TimeoutError(FailureError):
    """A workflow or activity timed out."""

    def __init__(
        self,
        message: str,
        *,
        type: TimeoutType | None,
        last_heartbeat_details: Sequence[Any],
    ) -> None:
        """Make a timeout error."""
        super().__init__(message)
        self._type = type
        self._last_heartbeat_details = last_heartbeat_details

    @property
    def type(self) -> TimeoutType | None:
        """Which timeout fired."""
        return self._type

    @property
    def last_heartbeat_details(self) -> Sequence[Any]:
        """The details of the activity's last heartbeat, if any."""
        return self._last_heartbeat_details


class ServerError(FailureError):
    """A failure that the server itself produced."""

    def __init__(self, message: str, *, non_retryable: bool = False) -> None:
        """Make a server error."""
        super().__init__(message)
        self._non_retryable = non_retryable

    @property
    def non_retryable(self) -> bool:
        """Whether retrying cannot help."""
        return self._non_retryable


_Retry = enums_workflow_pb.RetryState


class RetryState(IntEnum):
    """Why a failed workflow or activity stopped (or did not stop) retrying."""

    IN_PROGRESS = _Retry.RETRY_STATE_IN_PROGRESS
    NON_RETRYABLE_FAILURE = _Retry.RETRY_STATE_NON_RETRYABLE_FAILURE
    TIMEOUT = _Retry.RETRY_STATE_TIMEOUT
    MAXIMUM_ATTEMPTS_REACHED = _Retry.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED
    RETRY_POLICY_NOT_SET = _Retry.RETRY_STATE_RETRY_POLICY_NOT_SET
    INTERNAL_SERVER_ERROR = _Retry.RETRY_STATE_INTERNAL_SERVER_ERROR
    CANCEL_REQUESTED = _Retry.RETRY_STATE_CANCEL_REQUESTED


class ActivityError(FailureError):
    """An activity failed; the reason is the ``cause``."""

    def __init__(
        self,
        message: str,
        *,
        scheduled_event_id: int,
        started_event_id: int,
        identity: str,
        activity_type: str,
        activity_id: str,
        retry_state: RetryState | None,
    ) -> None:
        """Make an activity error."""
        super().__init__(message)
        self._scheduled_event_id = scheduled_event_id
        self._started_event_id = started_event_id
        self._identity = identity
        self._activity_type = activity_type
        self._activity_id = activity_id
        self._retry_state = retry_state

    @property
    def scheduled_event_id(self) -> int:
        """The ``ActivityTaskScheduled`` event id."""
        return self._scheduled_event_id

    @property
    def started_event_id(self) -> int:
        """The ``ActivityTaskStarted`` event id."""
        return self._started_event_id

    @property
    def identity(self) -> str:
        """The identity of the worker that ran the last attempt."""
        return self._identity

    @property
    def activity_type(self) -> str:
        """The activity type name."""
        return self._activity_type

    @property
    def activity_id(self) -> str:
        """The activity id."""
        return self._activity_id

    @property
    def retry_state(self) -> RetryState | None:
        """Why retrying stopped."""
        return self._retry_state


class ChildWorkflowError(FailureError):
    """A child workflow failed; the reason is the ``cause``."""

    def __init__(
        self,
        message: str,
        *,
        namespace: str,
        workflow_id: str,
        run_id: str,
        workflow_type: str,
        initiated_event_id: int,
        started_event_id: int,
        retry_state: RetryState | None,
    ) -> None:
        """Make a child workflow error."""
        super().__init__(message)
        self._namespace = namespace
        self._workflow_id = workflow_id
        self._run_id = run_id
        self._workflow_type = workflow_type
        self._initiated_event_id = initiated_event_id
        self._started_event_id = started_event_id
        self._retry_state = retry_state

    @property
    def namespace(self) -> str:
        """The child's namespace."""
        return self._namespace

    @property
    def workflow_id(self) -> str:
        """The child's workflow id."""
        return self._workflow_id

    @property
    def run_id(self) -> str:
        """The child's run id."""
        return self._run_id

    @property
    def workflow_type(self) -> str:
        """The child's workflow type."""
        return self._workflow_type

    @property
    def initiated_event_id(self) -> int:
        """The ``StartChildWorkflowExecutionInitiated`` event id."""
        return self._initiated_event_id

    @property
    def started_event_id(self) -> int:
        """The ``ChildWorkflowExecutionStarted`` event id."""
        return self._started_event_id

    @property
    def retry_state(self) -> RetryState | None:
        """Why retrying stopped."""
        return self._retry_state


class NexusOperationError(FailureError):
    """A Nexus operation called from a workflow failed; the reason is the ``cause``."""

    def __init__(
        self,
        message: str,
        *,
        scheduled_event_id: int,
        endpoint: str,
        service: str,
        operation: str,
        operation_token: str,
    ) -> None:
        """Make a Nexus operation error."""
        super().__init__(message)
        self._scheduled_event_id = scheduled_event_id
        self._endpoint = endpoint
        self._service = service
        self._operation = operation
        self._operation_token = operation_token

    @property
    def scheduled_event_id(self) -> int:
        """The ``NexusOperationScheduled`` event id."""
        return self._scheduled_event_id

    @property
    def endpoint(self) -> str:
        """The endpoint name."""
        return self._endpoint

    @property
    def service(self) -> str:
        """The service name."""
        return self._service

    @property
    def operation(self) -> str:
        """The operation name."""
        return self._operation

    @property
    def operation_token(self) -> str:
        """The token the operation returned when it started."""
        return self._operation_token


def is_cancelled_exception(exception: BaseException) -> bool:
    """Whether ``exception`` means "cancelled" to Temporal.

    True for :py:class:`asyncio.CancelledError`, :py:class:`CancelledError`, and an
    activity, child workflow or Nexus operation error caused by a cancellation;
    useful in ``except`` blocks of workflow code.
    """
    if isinstance(exception, asyncio.CancelledError | CancelledError):
        return True
    return isinstance(
        exception, ActivityError | ChildWorkflowError | NexusOperationError
    ) and isinstance(exception.cause, CancelledError)
