"""Workflow-side errors and small enums (mirrors temporalio.workflow's)."""

from __future__ import annotations

from enum import Enum, IntEnum

from temporalio.api.enums.v1 import ContinueAsNewVersioningBehavior as _CANBehavior

from perdure.exceptions import TemporalError


class NondeterminismError(TemporalError):
    """Workflow code did not do what its history recorded.

    Raised during replay when a command does not match the recorded event; the message
    names the workflow (type, id, run), the event (id and type) and the command. It fails
    the workflow task, never the workflow: fix the code (or patch it) and the task retries.
    """

    def __init__(self, message: str) -> None:
        """Create the error with its full message."""
        super().__init__(message)
        self.message = message


class ReadOnlyContextError(TemporalError):
    """A query or update validator tried to change workflow state (commands, timers...)."""

    def __init__(self, message: str) -> None:
        """Create the error with its full message."""
        super().__init__(message)
        self.message = message


class _NotInWorkflowEventLoopError(TemporalError):
    """A workflow API was called outside workflow code."""

    def __init__(self, *args: object) -> None:
        super().__init__("Not in workflow event loop")
        self.message = "Not in workflow event loop"


class VersioningIntent(Enum):
    """Whether a command should run on a compatible Build Id (deprecated versioning)."""

    COMPATIBLE = 1
    """Run on a worker with a compatible Build Id if possible."""
    DEFAULT = 2
    """Run on the target task queue's default Build Id."""


class ContinueAsNewVersioningBehavior(IntEnum):
    """Versioning behavior of the first task of the run started by continue-as-new."""

    UNSPECIFIED = int(_CANBehavior.CONTINUE_AS_NEW_VERSIONING_BEHAVIOR_UNSPECIFIED)
    """Inherit as continue-as-new normally does."""
    AUTO_UPGRADE = int(_CANBehavior.CONTINUE_AS_NEW_VERSIONING_BEHAVIOR_AUTO_UPGRADE)
    """Start the new run on the task queue's target version."""
    USE_RAMPING_VERSION = int(_CANBehavior.CONTINUE_AS_NEW_VERSIONING_BEHAVIOR_USE_RAMPING_VERSION)
    """Start the new run on the task queue's ramping version."""
