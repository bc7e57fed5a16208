"""Temporal's TestService (time skipping) over a `TimeSkipper`.

The same RPCs as Temporal's time-skipping test server, so a client drives Perdure's
virtual clock as it would drive that server's: in process (embedded mode) or over gRPC.
"""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2
from google.protobuf.message import Message
from temporalio.api.testservice.v1 import request_response_pb2 as ts

from perdure.server.frontend.deadline import Deadline
from perdure.server.frontend.dispatch import Dispatcher
from perdure.server.frontend.rpc import _wrap
from perdure.server.timers.skipping import TimeSkipper

SERVICE_NAME = "temporal.api.testservice.v1.TestService"
METHODS: dict[str, tuple[type[Message], type[Message]]] = {
    "LockTimeSkipping": (ts.LockTimeSkippingRequest, ts.LockTimeSkippingResponse),
    "UnlockTimeSkipping": (ts.UnlockTimeSkippingRequest, ts.UnlockTimeSkippingResponse),
    "Sleep": (ts.SleepRequest, ts.SleepResponse),
    "SleepUntil": (ts.SleepUntilRequest, ts.SleepResponse),
    "UnlockTimeSkippingWithSleep": (ts.SleepRequest, ts.SleepResponse),
    "GetCurrentTime": (empty_pb2.Empty, ts.GetCurrentTimeResponse),
}


class TestServiceRpcs:
    """The handlers, over the skipper of one engine."""

    __test__ = False  # not a pytest test class

    def __init__(self, skipper: TimeSkipper) -> None:
        self.skipper = skipper

    async def LockTimeSkipping(
        self, request: ts.LockTimeSkippingRequest, deadline: Deadline
    ) -> ts.LockTimeSkippingResponse:
        self.skipper.lock()
        return ts.LockTimeSkippingResponse()

    async def UnlockTimeSkipping(
        self, request: ts.UnlockTimeSkippingRequest, deadline: Deadline
    ) -> ts.UnlockTimeSkippingResponse:
        self.skipper.unlock()
        return ts.UnlockTimeSkippingResponse()

    async def Sleep(self, request: ts.SleepRequest, deadline: Deadline) -> ts.SleepResponse:
        """Wait until virtual time has moved by `duration` (time stays locked)."""
        skipper = self.skipper
        until = skipper.clock.now_ns() + request.duration.ToNanoseconds()
        await skipper.sleep_until(until, unlock=False)
        return ts.SleepResponse()

    async def SleepUntil(
        self, request: ts.SleepUntilRequest, deadline: Deadline
    ) -> ts.SleepResponse:
        await self.skipper.sleep_until(request.timestamp.ToNanoseconds(), unlock=False)
        return ts.SleepResponse()

    async def UnlockTimeSkippingWithSleep(
        self, request: ts.SleepRequest, deadline: Deadline
    ) -> ts.SleepResponse:
        """Unlock, let time skip until it has moved by `duration`, lock again."""
        skipper = self.skipper
        until = skipper.clock.now_ns() + request.duration.ToNanoseconds()
        await skipper.sleep_until(until, unlock=True)
        return ts.SleepResponse()

    async def GetCurrentTime(
        self, request: empty_pb2.Empty, deadline: Deadline
    ) -> ts.GetCurrentTimeResponse:
        resp = ts.GetCurrentTimeResponse()
        resp.time.FromNanoseconds(self.skipper.clock.now_ns())
        return resp


def test_service_handler(rpcs: TestServiceRpcs) -> grpc.GenericRpcHandler:
    """The TestService for a gRPC server, errors mapped as for the frontend."""
    methods = {
        name: grpc.unary_unary_rpc_method_handler(
            _wrap(Dispatcher(rpcs), SERVICE_NAME, name),
            request_deserializer=request_type.FromString,
            response_serializer=response_type.SerializeToString,
        )
        for name, (request_type, response_type) in METHODS.items()
    }
    return grpc.method_handlers_generic_handler(SERVICE_NAME, methods)
