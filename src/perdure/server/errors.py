"""Service errors: what a request can fail with, as Temporal reports it.

The engine and the frontend raise these; the gRPC layer turns each into its status code
and, where Temporal sends one, a typed `temporal.api.errordetails.v1` message in
`grpc-status-details-bin` (the official SDKs depend on those details: a duplicate start
is only a `WorkflowAlreadyStartedError` when the details say so).
"""

from __future__ import annotations

import grpc
from google.protobuf.message import Message
from temporalio.api.enums.v1 import failed_cause_pb2
from temporalio.api.errordetails.v1 import message_pb2 as details
from temporalio.api.failure.v1 import message_pb2 as failure_pb2


class ServiceError(Exception):
    """A request failed in a way the caller should be told about."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> Message | None:
        """The typed detail Temporal attaches to this error, if any."""
        return None


class InvalidArgument(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class FailedPrecondition(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class NotFound(ServiceError):
    """A workflow execution, activity, task or other entity that does not exist."""

    code = grpc.StatusCode.NOT_FOUND

    def details(self) -> Message:
        return details.NotFoundFailure(current_cluster="active", active_cluster="active")


class NamespaceNotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND

    def __init__(self, namespace: str) -> None:
        super().__init__(f"Namespace {namespace} is not found.")
        self.namespace = namespace

    def details(self) -> Message:
        return details.NamespaceNotFoundFailure(namespace=self.namespace)


class NamespaceAlreadyExists(ServiceError):
    code = grpc.StatusCode.ALREADY_EXISTS

    def __init__(self, namespace: str) -> None:
        super().__init__("Namespace already exists.")
        self.namespace = namespace

    def details(self) -> Message:
        return details.NamespaceAlreadyExistsFailure()


class WorkflowExecutionAlreadyStarted(ServiceError):
    code = grpc.StatusCode.ALREADY_EXISTS

    def __init__(self, message: str, *, start_request_id: str, run_id: str) -> None:
        super().__init__(message)
        self.start_request_id = start_request_id
        self.run_id = run_id

    def details(self) -> Message:
        return details.WorkflowExecutionAlreadyStartedFailure(
            start_request_id=self.start_request_id, run_id=self.run_id
        )


class AlreadyExists(ServiceError):
    code = grpc.StatusCode.ALREADY_EXISTS


class ResourceExhausted(ServiceError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(
        self,
        message: str,
        cause: int = failed_cause_pb2.RESOURCE_EXHAUSTED_CAUSE_SYSTEM_OVERLOADED,
    ) -> None:
        super().__init__(message)
        self.cause = cause

    def details(self) -> Message:
        return details.ResourceExhaustedFailure(cause=self.cause)  # type: ignore[arg-type]


class QueryFailed(ServiceError):
    """A query the workflow answered with a failure (or did not know)."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, message: str, failure: failure_pb2.Failure | None = None) -> None:
        super().__init__(message)
        self.failure = failure

    def details(self) -> Message:
        out = details.QueryFailedFailure()
        if self.failure is not None:
            out.failure.CopyFrom(self.failure)
        return out


class WorkflowNotReady(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION

    def details(self) -> Message:
        return details.WorkflowNotReadyFailure()


class PermissionDenied(ServiceError):
    code = grpc.StatusCode.PERMISSION_DENIED

    def details(self) -> Message:
        return details.PermissionDeniedFailure(reason=self.message)


class Unavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(ServiceError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Canceled(ServiceError):
    code = grpc.StatusCode.CANCELLED


class Unimplemented(ServiceError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(ServiceError):
    code = grpc.StatusCode.INTERNAL
