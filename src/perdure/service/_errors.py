"""RPC errors as the SDK raises them, whatever transport carried the call."""

from __future__ import annotations

from enum import IntEnum

from temporalio.api.common.v1 import grpc_status_pb2

from perdure.exceptions import TemporalError


class RPCStatusCode(IntEnum):
    """gRPC status codes."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class RPCError(TemporalError):
    """A call to the server failed.

    ``raw_grpc_status`` is the serialized ``google.rpc.Status`` the server sent in
    ``grpc-status-details-bin`` (empty if none); :py:attr:`grpc_status` decodes it, and
    its ``details`` carry Temporal's typed error details (e.g.
    ``WorkflowExecutionAlreadyStartedFailure``) that the client turns into typed errors.
    """

    def __init__(self, message: str, status: RPCStatusCode, raw_grpc_status: bytes) -> None:
        """Make an error for a call that ended with ``status``."""
        super().__init__(message)
        self._message = message
        self._status = status
        self._raw_grpc_status = raw_grpc_status
        self._grpc_status: grpc_status_pb2.GrpcStatus | None = None

    @property
    def message(self) -> str:
        """The server's message."""
        return self._message

    @property
    def status(self) -> RPCStatusCode:
        """The status code."""
        return self._status

    @property
    def raw_grpc_status(self) -> bytes:
        """The serialized ``google.rpc.Status`` (empty when the server sent none)."""
        return self._raw_grpc_status

    @property
    def grpc_status(self) -> grpc_status_pb2.GrpcStatus:
        """The decoded status with its typed ``details``."""
        if self._grpc_status is None:
            self._grpc_status = grpc_status_pb2.GrpcStatus.FromString(self._raw_grpc_status)
        return self._grpc_status
