"""Failure converters: Python exceptions <-> ``temporal.api.failure.v1.Failure``.

A failure carries message, stack trace, a kind-specific info (application, timeout,
cancelled, activity, child workflow, ...) and a cause, recursively. Decoding rebuilds the
matching :py:mod:`perdure.exceptions` class with ``__cause__`` set, and keeps the proto on
the error (``error.failure``) so that re-encoding it is lossless.
"""

from __future__ import annotations

import traceback
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from temporalio.api.failure.v1 import message_pb2 as failure_pb

from perdure import exceptions as exc
from perdure.converter._payload import PayloadConverter

Failure = failure_pb.Failure


class FailureConverter(ABC):
    """Converts exceptions to failures and back.

    In workflows, only :py:class:`~perdure.exceptions.FailureError` exceptions fail the
    workflow (others fail the task), so custom workflow errors should subclass
    :py:class:`~perdure.exceptions.ApplicationError`.
    """

    default: ClassVar[FailureConverter]
    """The default converter (that of ``DataConverter.default``)."""

    @abstractmethod
    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        """Write ``exception`` (and its cause chain) into ``failure``; do not alter it."""

    @abstractmethod
    def from_failure(self, failure: Failure, payload_converter: PayloadConverter) -> BaseException:
        """The exception for ``failure`` (with its cause chain); do not alter the proto."""


class DefaultFailureConverter(FailureConverter):
    """Temporal's standard mapping, compatible with every official SDK."""

    def __init__(self, *, encode_common_attributes: bool = False) -> None:
        """``encode_common_attributes`` moves message and stack trace into
        ``encoded_attributes``, a payload the codec can encrypt.
        """
        self._encode_common_attributes = encode_common_attributes

    # ------------------------------------------------------------------ encode

    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        """See :py:meth:`FailureConverter.to_failure`.

        An exception that is not a ``FailureError`` becomes an ``ApplicationError``
        whose type is the exception's class name.
        """
        if isinstance(exception, exc.FailureError):
            self._error_to_failure(exception, payload_converter, failure)
        else:
            wrapped = exc.ApplicationError(str(exception), type=type(exception).__name__)
            wrapped.__traceback__ = exception.__traceback__
            wrapped.__cause__ = exception.__cause__
            self._error_to_failure(wrapped, payload_converter, failure)
        if self._encode_common_attributes:
            failure.encoded_attributes.CopyFrom(
                payload_converter.to_payloads(
                    [{"message": failure.message, "stack_trace": failure.stack_trace}]
                )[0]
            )
            failure.message = "Encoded failure"
            failure.stack_trace = ""

    def _error_to_failure(
        self, error: exc.FailureError, converter: PayloadConverter, failure: Failure
    ) -> None:
        if error.failure is not None:
            failure.CopyFrom(error.failure)  # decoded earlier: send it back unchanged
            return
        failure.message = error.message
        if error.__traceback__:
            failure.stack_trace = "\n".join(traceback.format_tb(error.__traceback__))
        # The cause follows Python's rules: explicit __cause__, else unsuppressed __context__.
        cause = error.__cause__
        if cause is None and not error.__suppress_context__:
            cause = error.__context__
        if cause is not None:
            self.to_failure(cause, converter, failure.cause)
        _write_info(error, converter, failure)

    # ------------------------------------------------------------------ decode

    def from_failure(self, failure: Failure, payload_converter: PayloadConverter) -> BaseException:
        """See :py:meth:`FailureConverter.from_failure`."""
        if failure.HasField("encoded_attributes"):
            failure = _with_decoded_attributes(failure, payload_converter)
        error = _read_info(failure, payload_converter)
        error._failure = failure
        if failure.HasField("cause"):
            error.__cause__ = self.from_failure(failure.cause, payload_converter)
        return error


class DefaultFailureConverterWithEncodedAttributes(DefaultFailureConverter):
    """The default converter with message and stack trace moved where a codec reaches them."""

    def __init__(self) -> None:
        """Turn ``encode_common_attributes`` on."""
        super().__init__(encode_common_attributes=True)


def _with_decoded_attributes(failure: Failure, converter: PayloadConverter) -> Failure:
    """A copy of ``failure`` with message and stack trace restored from encoded attributes."""
    copy = Failure()
    copy.CopyFrom(failure)
    try:
        attributes = converter.from_payloads([copy.encoded_attributes])[0]
    except Exception:
        return copy  # unreadable attributes: keep the placeholder message
    if isinstance(attributes, dict):
        if isinstance(attributes.get("message"), str):
            copy.message = attributes["message"]
        if isinstance(attributes.get("stack_trace"), str):
            copy.stack_trace = attributes["stack_trace"]
    return copy


def _write_info(error: exc.FailureError, converter: PayloadConverter, failure: Failure) -> None:
    if isinstance(error, exc.ApplicationError):
        app = failure.application_failure_info
        app.SetInParent()
        if error.type:
            app.type = error.type
        app.non_retryable = error.non_retryable
        if error.details:
            app.details.CopyFrom(converter.to_payloads_wrapper(error.details))
        if error.next_retry_delay:
            app.next_retry_delay.FromTimedelta(error.next_retry_delay)
        if error.category:
            app.category = int(error.category)  # type: ignore[assignment]
    elif isinstance(error, exc.TimeoutError):
        timeout = failure.timeout_failure_info
        timeout.SetInParent()
        timeout.timeout_type = int(error.type or 0)  # type: ignore[assignment]
        if error.last_heartbeat_details:
            timeout.last_heartbeat_details.CopyFrom(
                converter.to_payloads_wrapper(error.last_heartbeat_details)
            )
    elif isinstance(error, exc.CancelledError):
        failure.canceled_failure_info.SetInParent()
        if error.details:
            failure.canceled_failure_info.details.CopyFrom(
                converter.to_payloads_wrapper(error.details)
            )
    elif isinstance(error, exc.TerminatedError):
        failure.terminated_failure_info.SetInParent()
    elif isinstance(error, exc.ServerError):
        failure.server_failure_info.SetInParent()
        failure.server_failure_info.non_retryable = error.non_retryable
    elif isinstance(error, exc.ActivityError):
        act = failure.activity_failure_info
        act.SetInParent()
        act.scheduled_event_id = error.scheduled_event_id
        act.started_event_id = error.started_event_id
        act.identity = error.identity
        act.activity_type.name = error.activity_type
        act.activity_id = error.activity_id
        act.retry_state = int(error.retry_state or 0)  # type: ignore[assignment]
    elif isinstance(error, exc.ChildWorkflowError):
        child = failure.child_workflow_execution_failure_info
        child.SetInParent()
        child.namespace = error.namespace
        child.workflow_execution.workflow_id = error.workflow_id
        child.workflow_execution.run_id = error.run_id
        child.workflow_type.name = error.workflow_type
        child.initiated_event_id = error.initiated_event_id
        child.started_event_id = error.started_event_id
        child.retry_state = int(error.retry_state or 0)  # type: ignore[assignment]
    elif isinstance(error, exc.NexusOperationError):
        nexus = failure.nexus_operation_execution_failure_info
        nexus.SetInParent()
        nexus.scheduled_event_id = error.scheduled_event_id
        nexus.endpoint = error.endpoint
        nexus.service = error.service
        nexus.operation = error.operation
        nexus.operation_token = error.operation_token


def _retry_state(value: int) -> exc.RetryState | None:
    return exc.RetryState(value) if value else None


def _read_info(failure: Failure, converter: PayloadConverter) -> exc.FailureError:
    kind = failure.WhichOneof("failure_info")
    message = failure.message
    details: Any
    if kind == "application_failure_info":
        app = failure.application_failure_info
        details = converter.from_payloads_wrapper(app.details)
        return exc.ApplicationError(
            message or "Application error",
            *details,
            type=app.type or None,
            non_retryable=app.non_retryable,
            next_retry_delay=(
                app.next_retry_delay.ToTimedelta() if app.HasField("next_retry_delay") else None
            ),
            category=exc.ApplicationErrorCategory(int(app.category)),
        )
    if kind == "timeout_failure_info":
        timeout = failure.timeout_failure_info
        return exc.TimeoutError(
            message or "Timeout",
            type=exc.TimeoutType(int(timeout.timeout_type)) if timeout.timeout_type else None,
            last_heartbeat_details=converter.from_payloads_wrapper(timeout.last_heartbeat_details),
        )
    if kind == "canceled_failure_info":
        details = converter.from_payloads_wrapper(failure.canceled_failure_info.details)
        return exc.CancelledError(message or "Cancelled", *details)
    if kind == "terminated_failure_info":
        return exc.TerminatedError(message or "Terminated")
    if kind == "server_failure_info":
        return exc.ServerError(
            message or "Server error", non_retryable=failure.server_failure_info.non_retryable
        )
    if kind == "activity_failure_info":
        act = failure.activity_failure_info
        return exc.ActivityError(
            message or "Activity error",
            scheduled_event_id=act.scheduled_event_id,
            started_event_id=act.started_event_id,
            identity=act.identity,
            activity_type=act.activity_type.name,
            activity_id=act.activity_id,
            retry_state=_retry_state(act.retry_state),
        )
    if kind == "child_workflow_execution_failure_info":
        child = failure.child_workflow_execution_failure_info
        return exc.ChildWorkflowError(
            message or "Child workflow error",
            namespace=child.namespace,
            workflow_id=child.workflow_execution.workflow_id,
            run_id=child.workflow_execution.run_id,
            workflow_type=child.workflow_type.name,
            initiated_event_id=child.initiated_event_id,
            started_event_id=child.started_event_id,
            retry_state=_retry_state(child.retry_state),
        )
    if kind == "nexus_operation_execution_failure_info":
        nexus = failure.nexus_operation_execution_failure_info
        return exc.NexusOperationError(
            message or "Nexus operation error",
            scheduled_event_id=nexus.scheduled_event_id,
            endpoint=nexus.endpoint,
            service=nexus.service,
            operation=nexus.operation,
            operation_token=nexus.operation_token,
        )
    # reset_workflow_failure_info, nexus_handler_failure_info (not modelled yet), or none.
    return exc.FailureError(message or "Failure error")
