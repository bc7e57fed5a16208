"""Errors the client raises (mirror ``temporalio.client``'s)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from perdure.activity import ActivityCancellationDetails
from perdure.exceptions import TemporalError

if TYPE_CHECKING:
    from perdure.client._executions import WorkflowExecutionStatus


class WorkflowFailureError(TemporalError):
    """The workflow did not succeed: it failed, was cancelled or terminated, or timed out.

    ``cause`` says which: an ``ApplicationError`` (or other failure) raised by the
    workflow, a ``CancelledError``, a ``TerminatedError`` or a ``TimeoutError``.
    """

    def __init__(self, *, cause: BaseException) -> None:
        """Wrap the reason the workflow did not succeed."""
        super().__init__("Workflow execution failed")
        self.__cause__ = cause

    @property
    def cause(self) -> BaseException:
        """Why the workflow did not succeed."""
        assert self.__cause__ is not None
        return self.__cause__


class WorkflowContinuedAsNewError(TemporalError):
    """The run continued as new and the caller asked not to follow runs."""

    def __init__(self, new_execution_run_id: str) -> None:
        """Name the run the workflow continued to."""
        super().__init__("Workflow continued as new")
        self._new_execution_run_id = new_execution_run_id

    @property
    def new_execution_run_id(self) -> str:
        """The new run's id."""
        return self._new_execution_run_id


class WorkflowQueryRejectedError(TemporalError):
    """The query's reject condition matched the workflow's status."""

    def __init__(self, status: WorkflowExecutionStatus | None) -> None:
        """Record the status that caused the rejection."""
        super().__init__(f"Query rejected, status: {status}")
        self._status = status

    @property
    def status(self) -> WorkflowExecutionStatus | None:
        """The workflow's status."""
        return self._status


class WorkflowQueryFailedError(TemporalError):
    """The query handler failed, or the workflow has no such query."""

    def __init__(self, message: str) -> None:
        """Carry the failure message."""
        super().__init__(message)
        self._message = message

    @property
    def message(self) -> str:
        """The failure message."""
        return self._message


class WorkflowUpdateFailedError(TemporalError):
    """The update was rejected by its validator or its handler failed; see ``cause``."""

    def __init__(self, cause: BaseException) -> None:
        """Wrap the update's failure."""
        super().__init__("Workflow update failed")
        self.__cause__ = cause

    @property
    def cause(self) -> BaseException:
        """The update's failure."""
        assert self.__cause__ is not None
        return self.__cause__


class RPCTimeoutOrCancelledError(TemporalError):
    """A client call timed out or was cancelled (the operation itself may go on)."""


class WorkflowUpdateRPCTimeoutOrCancelledError(RPCTimeoutOrCancelledError):
    """Waiting for an update timed out or was cancelled; the update itself may go on."""

    def __init__(self) -> None:
        """Make the error."""
        super().__init__("Timeout or cancellation waiting for update")


class ActivityFailureError(TemporalError):
    """A standalone activity did not succeed; see ``cause``."""

    def __init__(self, *, cause: BaseException) -> None:
        """Wrap the reason."""
        super().__init__("Activity execution failed")
        self.__cause__ = cause

    @property
    def cause(self) -> BaseException:
        """Why the activity did not succeed."""
        assert self.__cause__ is not None
        return self.__cause__


class AsyncActivityCancelledError(TemporalError):
    """A heartbeat learned that the activity was cancelled (or paused, or reset)."""

    def __init__(self, details: ActivityCancellationDetails | None = None) -> None:
        """Record why the activity should stop."""
        super().__init__("Activity cancelled")
        self.details = details


class ScheduleAlreadyRunningError(TemporalError):
    """A schedule with this id already exists."""

    def __init__(self) -> None:
        """Make the error."""
        super().__init__("Schedule already running")
