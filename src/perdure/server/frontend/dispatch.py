"""One call path for every transport: find the handler of an RPC and run it through the
server's call interceptors.

The gRPC adapter (rpc.py) turns each call into a `Call` and hands it here, and so does any
other transport that serves Temporal's API (the HTTP/JSON mapping): whatever must hold for
every call whichever way it came in (authorization, rate limits, metrics) is a
`CallInterceptor`, passed at construction, never a concern of one transport alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from google.protobuf.message import Message

from perdure.server.frontend.deadline import Deadline

Handler = Callable[[Any, Deadline], Awaitable[Message]]
"""A frontend handler: the request and the caller's deadline (deadline.py)."""

WORKFLOW_SERVICE = "temporal.api.workflowservice.v1.WorkflowService"
OPERATOR_SERVICE = "temporal.api.operatorservice.v1.OperatorService"


@dataclass(frozen=True)
class Call:
    """One incoming RPC, as every transport describes it."""

    service: str
    """The full service name, e.g. "temporal.api.workflowservice.v1.WorkflowService"."""
    method: str
    """The RPC's name, e.g. "StartWorkflowExecution"."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Request metadata with lower-case keys (gRPC metadata, HTTP headers)."""
    peer: str = ""
    """Who called, as the transport knows it (for logs and limits)."""
    tls_common_name: str = ""
    """The common name of the client certificate TLS verified (mutual TLS), else ""."""


Next = Callable[[Message, Deadline], Awaitable[Message]]


class CallInterceptor(Protocol):
    """Runs around every call: may refuse it (raise a ServiceError), observe or time it."""

    async def intercept(
        self, call: Call, request: Message, deadline: Deadline, proceed: Next
    ) -> Message: ...


class Dispatcher:
    """Finds the handler of `Call.method` on the frontend and runs it through the chain."""

    def __init__(self, frontend: object, interceptors: Sequence[CallInterceptor] = ()) -> None:
        self._frontend = frontend
        self._interceptors = tuple(interceptors)

    def handler(self, method: str) -> Handler | None:
        """The frontend's handler of `method`, or None when it does not serve it."""
        found: Handler | None = getattr(self._frontend, method, None)
        return found

    async def call(self, call: Call, request: Message, deadline: Deadline) -> Message:
        """Serve `call`; the caller has checked that `handler(call.method)` exists."""
        handler = self.handler(call.method)
        if handler is None:
            raise LookupError(f"no handler for {call.method}")
        proceed: Next = handler
        for interceptor in reversed(self._interceptors):
            proceed = _bind(interceptor, call, proceed)
        return await proceed(request, deadline)


def _bind(interceptor: CallInterceptor, call: Call, proceed: Next) -> Next:
    async def run(request: Message, deadline: Deadline) -> Message:
        return await interceptor.intercept(call, request, deadline, proceed)

    return run
