"""gRPC plumbing: register a handler object's methods as Temporal's services, map errors.

Handlers take the request and the caller's deadline (deadline.py), which each call's
ServicerContext is read for here; nothing below this module sees gRPC's context.

A handler method named like an RPC (`StartWorkflowExecution`) serves it; RPCs without one
answer UNIMPLEMENTED. Every `ServiceError` becomes its status code (`STATUS_CODES`: the
errors themselves know no transport) with the typed detail in `grpc-status-details-bin`
(a google.rpc.Status), as Temporal sends it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from temporalio.api.common.v1 import grpc_status_pb2
from temporalio.api.errordetails.v1 import message_pb2 as details_pb2
from temporalio.api.operatorservice.v1 import request_response_pb2 as op_rr
from temporalio.api.workflowservice.v1 import request_response_pb2 as wf_rr

from perdure.server import errors
from perdure.server.frontend.deadline import deadline_after
from perdure.server.frontend.dispatch import (
    OPERATOR_SERVICE,
    WORKFLOW_SERVICE,
    Call,
    Dispatcher,
)
from perdure.server.store.base import InvalidPageToken, StoreError
from perdure.server.store.base import Unavailable as StoreUnavailable

log = logging.getLogger(__name__)

# The services' methods are read off their messages (every method M has MRequest and
# MResponse), which avoids importing the service descriptors and their google.api options.
SERVICES = ((WORKFLOW_SERVICE, wf_rr), (OPERATOR_SERVICE, op_rr))


STATUS_CODES: dict[type[errors.ServiceError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.NamespaceNotFound: grpc.StatusCode.NOT_FOUND,
    errors.NamespaceAlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.WorkflowExecutionAlreadyStarted: grpc.StatusCode.ALREADY_EXISTS,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.QueryFailed: grpc.StatusCode.INVALID_ARGUMENT,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.Canceled: grpc.StatusCode.CANCELLED,
    errors.Internal: grpc.StatusCode.INTERNAL,
    errors.Unimplemented: grpc.StatusCode.UNIMPLEMENTED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
}
"""Error class -> the gRPC status Temporal answers it with (subclasses: their nearest base)."""


def status_code(error: errors.ServiceError) -> grpc.StatusCode:
    """The gRPC status of `error` (INTERNAL for an error class not in `STATUS_CODES`)."""
    for cls in type(error.status_source()).__mro__:
        code = STATUS_CODES.get(cls)
        if code is not None:
            return code
    return grpc.StatusCode.INTERNAL


def _multi_operation_failure(
    error: errors.MultiOperationFailed,
) -> details_pb2.MultiOperationExecutionFailure:
    """Every operation's status: the failed one's own, ABORTED for the others."""
    out = details_pb2.MultiOperationExecutionFailure()
    for i in range(error.count):
        status = out.statuses.add()
        if i == error.failed_index:
            status.code = status_code(error.error).value[0]
            status.message = error.error.message
            detail = error_detail(error.error)
            if detail is not None:
                packed = any_pb2.Any()
                packed.Pack(detail)
                status.details.append(packed)
        else:
            status.code = grpc.StatusCode.ABORTED.value[0]
            status.message = "Operation was aborted."
    return out


def error_detail(error: errors.ServiceError) -> Message | None:
    """The typed detail Temporal sends with `error`, if any."""
    if isinstance(error, errors.MultiOperationFailed):
        return _multi_operation_failure(error)
    return error.details()


def status_details(error: errors.ServiceError) -> bytes | None:
    detail = error_detail(error)
    if detail is None:
        return None
    packed = any_pb2.Any()
    packed.Pack(detail)
    status = grpc_status_pb2.GrpcStatus(
        code=status_code(error).value[0], message=error.message, details=[packed]
    )
    return status.SerializeToString()


def as_service_error(err: BaseException) -> errors.ServiceError:
    if isinstance(err, errors.ServiceError):
        return err
    if isinstance(err, InvalidPageToken):
        # A token the caller made up or took from another listing. (Temporal's
        # visibility answers UNKNOWN here; its history answers this.)
        return errors.InvalidArgument("Invalid NextPageToken.")
    if isinstance(err, StoreUnavailable):
        return errors.Unavailable(f"persistence unavailable: {err}")
    if isinstance(err, StoreError):
        return errors.Unavailable(f"persistence error: {err}")
    log.exception("internal error", exc_info=err)
    return errors.Internal(f"internal error: {type(err).__name__}: {err}")


def _headers(context: grpc.aio.ServicerContext) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if not key.endswith("-bin"):
            out[key.lower()] = value if isinstance(value, str) else value.decode("latin-1")
    return out


def _common_name(context: grpc.aio.ServicerContext) -> str:
    """The verified client certificate's common name (empty without mutual TLS)."""
    names = (context.auth_context() or {}).get("x509_common_name") or ()
    for name in names:
        return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
    return ""


def _wrap(
    dispatcher: Dispatcher, service: str, name: str
) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Message]]:
    """A gRPC method serving RPC `name` through `dispatcher`: the call's deadline and
    metadata in, errors out as statuses."""

    async def call(request: Any, context: grpc.aio.ServicerContext) -> Message:
        try:
            rpc = Call(
                service, name, _headers(context), context.peer() or "", _common_name(context)
            )
            return await dispatcher.call(rpc, request, deadline_after(context.time_remaining()))
        except Exception as err:
            error = as_service_error(err)
            code = status_code(error)
            log.debug("%s failed: %s %s", name, code.name, error.message)
            details = status_details(error)
            trailing = (("grpc-status-details-bin", details),) if details else ()
            await context.abort(code, error.message, trailing_metadata=trailing)
            raise AssertionError("unreachable") from None

    return call


def generic_handlers(dispatcher: Dispatcher) -> list[grpc.GenericRpcHandler]:
    """One generic handler per service, serving the RPCs the dispatcher has handlers for."""
    out = []
    for service_name, messages in SERVICES:
        methods: dict[str, grpc.RpcMethodHandler] = {}
        for message_name in messages.DESCRIPTOR.message_types_by_name:
            name = message_name.removesuffix("Request")
            if name == message_name or not hasattr(messages, name + "Response"):
                continue
            if dispatcher.handler(name) is None:
                continue
            request_cls = getattr(messages, message_name)
            response_cls = getattr(messages, name + "Response")
            methods[name] = grpc.unary_unary_rpc_method_handler(
                _wrap(dispatcher, service_name, name),
                request_deserializer=request_cls.FromString,
                response_serializer=response_cls.SerializeToString,
            )
        out.append(grpc.method_handlers_generic_handler(service_name, methods))
    return out


_SERVING = b"\x08\x01"
"""grpc.health.v1.HealthCheckResponse{status: SERVING}, encoded by hand (one varint field)."""


def health_handler() -> grpc.GenericRpcHandler:
    """grpc.health.v1.Health/Check, which SDKs and load balancers call: always SERVING
    while the server accepts requests."""

    async def check(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return _SERVING

    return grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)}
    )
