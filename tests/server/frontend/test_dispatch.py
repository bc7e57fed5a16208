"""The dispatcher: handlers found by RPC name, interceptors run around them in order."""

from __future__ import annotations

import pytest
from google.protobuf.message import Message
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import InvalidArgument
from perdure.server.frontend.deadline import Deadline
from perdure.server.frontend.dispatch import WORKFLOW_SERVICE, Call, Dispatcher, Next


class Handlers:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Deadline]] = []

    async def GetSystemInfo(
        self, request: rr.GetSystemInfoRequest, deadline: Deadline
    ) -> rr.GetSystemInfoResponse:
        self.seen.append(("GetSystemInfo", deadline))
        return rr.GetSystemInfoResponse(server_version="test")


class Recorder:
    def __init__(self, name: str, log: list[str], refuse: bool = False) -> None:
        self.name, self.log, self.refuse = name, log, refuse

    async def intercept(
        self, call: Call, request: Message, deadline: Deadline, proceed: Next
    ) -> Message:
        self.log.append(f"{self.name}>{call.method}:{call.headers.get('authorization', '')}")
        if self.refuse:
            raise InvalidArgument("refused")
        response = await proceed(request, deadline)
        self.log.append(f"{self.name}<")
        return response


CALL = Call(WORKFLOW_SERVICE, "GetSystemInfo", {"authorization": "Bearer x"}, "peer")


async def test_interceptors_run_in_order_around_the_handler() -> None:
    handlers, log = Handlers(), []
    dispatcher = Dispatcher(handlers, [Recorder("a", log), Recorder("b", log)])
    resp = await dispatcher.call(CALL, rr.GetSystemInfoRequest(), 12.5)
    assert isinstance(resp, rr.GetSystemInfoResponse) and resp.server_version == "test"
    assert log == ["a>GetSystemInfo:Bearer x", "b>GetSystemInfo:Bearer x", "b<", "a<"]
    assert handlers.seen == [("GetSystemInfo", 12.5)]


async def test_an_interceptor_refusing_the_call_keeps_it_from_the_handler() -> None:
    handlers, log = Handlers(), []
    dispatcher = Dispatcher(handlers, [Recorder("a", log, refuse=True), Recorder("b", log)])
    with pytest.raises(InvalidArgument):
        await dispatcher.call(CALL, rr.GetSystemInfoRequest(), None)
    assert log == ["a>GetSystemInfo:Bearer x"]
    assert handlers.seen == []


def test_rpcs_without_a_handler_are_not_served() -> None:
    dispatcher = Dispatcher(Handlers())
    assert dispatcher.handler("GetSystemInfo") is not None
    assert dispatcher.handler("CreateSchedule") is None
