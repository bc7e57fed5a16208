"""The payload shorthand of Temporal's HTTP API, both ways (shapes as the real server
writes them: see test_http_api.py for the same against both servers)."""

from __future__ import annotations

import pytest
from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.frontend.json_mapping import (
    JsonMappingError,
    go_json,
    message_from_json,
    message_to_json,
    payload_from_json,
    payloads_to_json,
)

JSON = {"encoding": b"json/plain"}


def test_go_json_matches_gos_encoder() -> None:
    assert go_json({"b": 1.0, "a": [1e2, "x"]}) == b'{"a":[100,"x"],"b":1}'
    assert go_json(["<a>&"]) == b'["\\u003ca\\u003e\\u0026"]'
    assert go_json([1.5e300, 12345678901234567890, -0.0, 1e-7]) == (
        b"[1.5e+300,12345678901234567000,0,1e-7]"
    )
    assert go_json("é") == '"é"'.encode()


def test_payloads_read_from_shorthand_and_raw_forms() -> None:
    assert payload_from_json(None) == common_pb2.Payload(metadata={"encoding": b"binary/null"})
    assert payload_from_json({"metadata": "x"}).data == b'{"metadata":"x"}'
    raw = payload_from_json({"metadata": {"encoding": "YmluYXJ5L3BsYWlu"}, "data": "AAEC"})
    assert raw == common_pb2.Payload(metadata={"encoding": b"binary/plain"}, data=b"\0\1\2")
    proto = payload_from_json({"_protoMessageType": "a.B", "name": "z"})
    assert dict(proto.metadata) == {"encoding": b"json/protobuf", "messageType": b"a.B"}
    assert proto.data == b'{"name":"z"}'


def test_payloads_written_as_shorthand_when_each_has_one() -> None:
    plain = common_pb2.Payloads(payloads=[common_pb2.Payload(metadata=JSON, data=b'{"a":1}')])
    assert payloads_to_json(plain) == [{"a": 1}]
    mixed = common_pb2.Payloads(
        payloads=[
            common_pb2.Payload(metadata=JSON, data=b"1"),
            common_pb2.Payload(metadata={"encoding": b"binary/plain"}, data=b"\0"),
        ]
    )
    assert payloads_to_json(mixed) == {
        "payloads": [1, {"metadata": {"encoding": "YmluYXJ5L3BsYWlu"}, "data": "AA=="}]
    }


def test_messages_round_trip_with_nested_payloads() -> None:
    request = rr.StartWorkflowExecutionRequest()
    message_from_json(
        {"workflowType": {"name": "W"}, "input": ["x", None], "memo": {"fields": {"k": [1]}}},
        request,
    )
    assert request.memo.fields["k"].data == b"[1]"
    out = message_to_json(request)
    assert out["input"] == ["x", {"metadata": {"encoding": "YmluYXJ5L251bGw="}}]
    assert out["memo"] == {"fields": {"k": [1]}}
    assert message_to_json(request, shorthand=False)["memo"]["fields"]["k"]["data"] == "WzFd"


@pytest.mark.parametrize("body", [{"bogus": 1}, {"workflowType": {"name": 5}}, {"input": "x"}, []])
def test_bad_bodies_are_refused(body: object) -> None:
    with pytest.raises(JsonMappingError):
        message_from_json(body, rr.StartWorkflowExecutionRequest())
