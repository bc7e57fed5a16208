"""Service errors: what a request can fail with, as Temporal reports it.

The engine and the frontend raise these domain errors; they know no transport. The gRPC
layer (server/frontend/rpc.py) maps each class to its status code and sends, where
Temporal sends one, the typed `temporal.api.errordetails.v1` message an error gives in
`grpc-status-details-bin` (the official SDKs depend on those details: a duplicate start
is only a `WorkflowAlreadyStartedError` when the details say so).
"""

from __future__ import annotations

from google.protobuf.message import Message
from temporalio.api.enums.v1 import failed_cause_pb2
from temporalio.api.errordetails.v1 import message_pb2 as details
from temporalio.api.failure.v1 import message_pb2 as failure_pb2


class ServiceError(Exception):
    """A request failed in a way the caller should be told about."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> Message | None:
        """The typed detail Temporal attaches to this error, if any."""
        return None

    def status_source(self) -> ServiceError:
        """The error whose kind the caller's status reports (itself, unless it wraps one)."""
        return self


class InvalidArgument(ServiceError):
    """The request is malformed or asks for something not allowed."""


class HistoryLimitExceeded(InvalidArgument):
    """The run's history was past a limit: the call's transition was dropped and the run
    terminated instead (engine/history_limits.py)."""


class FailedPrecondition(ServiceError):
    """The request does not fit the current state of what it names."""


class WorkflowNotReady(FailedPrecondition):
    """The workflow cannot take the request now (an update whose workflow task failed)."""

    def details(self) -> Message:
        return details.WorkflowNotReadyFailure()


class NotFound(ServiceError):
    """A workflow execution, activity, task or other entity that does not exist."""

    def details(self) -> Message:
        return details.NotFoundFailure(current_cluster="active", active_cluster="active")


class NamespaceNotFound(ServiceError):
    def __init__(self, namespace: str) -> None:
        super().__init__(f"Namespace {namespace} is not found.")
        self.namespace = namespace

    def details(self) -> Message:
        return details.NamespaceNotFoundFailure(namespace=self.namespace)


class NamespaceAlreadyExists(ServiceError):
    def __init__(self, namespace: str) -> None:
        super().__init__("Namespace already exists.")
        self.namespace = namespace

    def details(self) -> Message:
        return details.NamespaceAlreadyExistsFailure()


class WorkflowExecutionAlreadyStarted(ServiceError):
    def __init__(self, message: str, *, start_request_id: str, run_id: str) -> None:
        super().__init__(message)
        self.start_request_id = start_request_id
        self.run_id = run_id

    def details(self) -> Message:
        return details.WorkflowExecutionAlreadyStartedFailure(
            start_request_id=self.start_request_id, run_id=self.run_id
        )


class AlreadyExists(ServiceError):
    """What the request creates exists already."""


class ResourceExhausted(ServiceError):
    def __init__(
        self,
        message: str,
        cause: int = failed_cause_pb2.RESOURCE_EXHAUSTED_CAUSE_SYSTEM_OVERLOADED,
        scope: int = 0,
    ) -> None:
        super().__init__(message)
        self.cause = cause
        self.scope = scope
        """A RESOURCE_EXHAUSTED_SCOPE_* value (namespace or system), 0 when unsaid."""

    def details(self) -> Message:
        return details.ResourceExhaustedFailure(cause=self.cause, scope=self.scope)  # type: ignore[arg-type]


class PermissionDenied(ServiceError):
    """The caller is known but its claims do not allow the call (security/authorization.py)."""

    def __init__(self, message: str = "Request unauthorized.", reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason

    def details(self) -> Message:
        return details.PermissionDeniedFailure(reason=self.reason)


class Unauthenticated(ServiceError):
    """The call carries no credentials, or credentials that cannot be trusted."""


class QueryFailed(ServiceError):
    """A query the workflow answered with a failure (or did not know)."""

    def __init__(self, message: str, failure: failure_pb2.Failure | None = None) -> None:
        super().__init__(message)
        self.failure = failure

    def details(self) -> Message:
        out = details.QueryFailedFailure()
        if self.failure is not None:
            out.failure.CopyFrom(self.failure)
        return out


class Unavailable(ServiceError):
    """The service cannot serve now (persistence down, shutting down); retry."""


class DeadlineExceeded(ServiceError):
    """The request's deadline passed before it was done."""


class Canceled(ServiceError):
    """The caller went away."""


class Internal(ServiceError):
    """A bug or an unexpected failure."""


class Unimplemented(ServiceError):
    """A Temporal feature Perdure's server does not have; the message names it."""


class MultiOperationFailed(ServiceError):
    """ExecuteMultiOperation: operation `failed_index` of `count` failed with `error`, the
    others were aborted. Its status is `error`'s; the transport lists every operation's
    status in the detail (frontend/rpc.py)."""

    def __init__(self, failed_index: int, error: ServiceError, count: int) -> None:
        super().__init__("MultiOperation could not be executed.")
        self.failed_index = failed_index
        self.error = error
        self.count = count

    def status_source(self) -> ServiceError:
        return self.error
