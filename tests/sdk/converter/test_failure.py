"""Failure conversion: the same protos as temporalio's, and full round trips."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import temporalio.converter as tconv
import temporalio.exceptions as texc
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure

from perdure import converter as pconv
from perdure import exceptions as pexc


def _raise_chain(mod: Any) -> BaseException:
    try:
        try:
            raise mod.ApplicationError(
                "inner",
                {"k": 1},
                "x",
                type="Inner",
                non_retryable=True,
                next_retry_delay=timedelta(seconds=2),
                category=mod.ApplicationErrorCategory.BENIGN,
            )
        except mod.ApplicationError as inner:
            raise mod.ActivityError(
                "activity failed",
                scheduled_event_id=5,
                started_event_id=6,
                identity="me@host",
                activity_type="Act",
                activity_id="1",
                retry_state=mod.RetryState.NON_RETRYABLE_FAILURE,
            ) from inner
    except mod.ActivityError as outer:
        return outer
    raise AssertionError


def _strip_stacks(failure: Failure) -> Failure:
    copy = Failure()
    copy.CopyFrom(failure)
    node = copy
    while True:
        node.stack_trace = ""
        if not node.HasField("cause"):
            return copy
        node = node.cause


def test_chain_encodes_like_temporalio() -> None:
    ours, theirs = Failure(), Failure()
    pconv.DataConverter.default.failure_converter.to_failure(
        _raise_chain(pexc), pconv.PayloadConverter.default, ours
    )
    tconv.DataConverter.default.failure_converter.to_failure(
        _raise_chain(texc), tconv.PayloadConverter.default, theirs
    )
    assert _strip_stacks(ours) == _strip_stacks(theirs)
    assert "_raise_chain" in ours.stack_trace and ours.cause.stack_trace


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.CancelledError("stop", 1, "two"),
        lambda m: m.TerminatedError("gone"),
        lambda m: m.TimeoutError("slow", type=m.TimeoutType.HEARTBEAT, last_heartbeat_details=[3]),
        lambda m: m.ServerError("srv", non_retryable=True),
        lambda m: m.ChildWorkflowError(
            "child",
            namespace="ns",
            workflow_id="c",
            run_id="r",
            workflow_type="T",
            initiated_event_id=3,
            started_event_id=4,
            retry_state=m.RetryState.TIMEOUT,
        ),
        lambda m: m.NexusOperationError(
            "nx",
            scheduled_event_id=2,
            endpoint="e",
            service="s",
            operation="o",
            operation_token="t",
        ),
        lambda m: m.ApplicationError("untyped"),
        lambda m: ValueError("plain python error"),
    ],
)
def test_each_kind_matches_temporalio_and_round_trips(make: Any) -> None:
    ours, theirs = Failure(), Failure()
    pconv.DefaultFailureConverter().to_failure(make(pexc), pconv.PayloadConverter.default, ours)
    tconv.DefaultFailureConverter().to_failure(make(texc), tconv.PayloadConverter.default, theirs)
    assert ours == theirs
    back = pconv.DefaultFailureConverter().from_failure(theirs, pconv.PayloadConverter.default)
    ref = tconv.DefaultFailureConverter().from_failure(theirs, tconv.PayloadConverter.default)
    assert type(back).__name__ == type(ref).__name__
    assert str(back) == str(ref)
    for attr in ("details", "type", "last_heartbeat_details", "retry_state", "workflow_id"):
        if hasattr(ref, attr):
            mine, reference = getattr(back, attr), getattr(ref, attr)
            if attr.endswith("details"):
                mine, reference = list(mine), list(reference)
            assert mine == reference, attr


def test_decoded_chain_keeps_causes_and_proto() -> None:
    failure = Failure()
    tconv.DataConverter.default.failure_converter.to_failure(
        _raise_chain(texc), tconv.PayloadConverter.default, failure
    )
    err = pconv.DataConverter.default.failure_converter.from_failure(
        failure, pconv.PayloadConverter.default
    )
    assert isinstance(err, pexc.ActivityError)
    assert err.activity_type == "Act" and err.retry_state == pexc.RetryState.NON_RETRYABLE_FAILURE
    cause = err.cause
    assert isinstance(cause, pexc.ApplicationError)
    assert cause.details == ({"k": 1}, "x") and cause.non_retryable
    assert cause.next_retry_delay == timedelta(seconds=2)
    assert cause.category == pexc.ApplicationErrorCategory.BENIGN
    assert err.failure == failure
    # re-encoding a decoded error sends the original proto back unchanged
    again = Failure()
    pconv.DefaultFailureConverter().to_failure(err, pconv.PayloadConverter.default, again)
    assert again == failure


def test_context_becomes_cause_unless_suppressed() -> None:
    conv = pconv.DefaultFailureConverter()
    try:
        try:
            raise KeyError("k")
        except KeyError:
            raise pexc.ApplicationError("while handling") from None
    except pexc.ApplicationError as err:
        suppressed = Failure()
        conv.to_failure(err, pconv.PayloadConverter.default, suppressed)
    try:
        try:
            raise KeyError("k")
        except KeyError:
            raise pexc.ApplicationError("while handling")  # noqa: B904
    except pexc.ApplicationError as err:
        implicit = Failure()
        conv.to_failure(err, pconv.PayloadConverter.default, implicit)
    assert not suppressed.HasField("cause")
    assert implicit.cause.application_failure_info.type == "KeyError"


def test_encoded_attributes_interoperate() -> None:
    err = pexc.ApplicationError("secret message", type="T")
    ours, theirs = Failure(), Failure()
    pconv.DefaultFailureConverterWithEncodedAttributes().to_failure(
        err, pconv.PayloadConverter.default, ours
    )
    tconv.DefaultFailureConverterWithEncodedAttributes().to_failure(
        texc.ApplicationError("secret message", type="T"), tconv.PayloadConverter.default, theirs
    )
    assert ours == theirs and ours.message == "Encoded failure"
    back = pconv.DefaultFailureConverter().from_failure(theirs, pconv.PayloadConverter.default)
    assert isinstance(back, pexc.ApplicationError) and back.message == "secret message"
    assert theirs.message == "Encoded failure"  # the input proto is not altered


class Rot(pconv.PayloadCodec):
    """Marks payloads as encoded and reverses their bytes."""

    async def encode(self, payloads: Any) -> list[Payload]:
        return [
            Payload(
                metadata={"encoding": b"test/rot", "inner": p.metadata["encoding"]},
                data=p.data[::-1],
            )
            for p in payloads
        ]

    async def decode(self, payloads: Any) -> list[Payload]:
        return [
            Payload(metadata={"encoding": p.metadata["inner"]}, data=p.data[::-1]) for p in payloads
        ]


async def test_codec_applies_to_values_and_failure_details() -> None:
    data = pconv.DataConverter(payload_codec=Rot())
    payloads = await data.encode(["hello", 1])
    assert payloads[0].data == b'"olleh"' and payloads[0].metadata["encoding"] == b"test/rot"
    assert await data.decode(payloads, [str, int]) == ["hello", 1]
    assert await data.decode_wrapper(await data.encode_wrapper([{"a": 1}])) == [{"a": 1}]

    failure = Failure()
    await data.encode_failure(_raise_chain(pexc), failure)
    detail = failure.cause.application_failure_info.details.payloads[0]
    assert detail.metadata["encoding"] == b"test/rot"
    err = await data.decode_failure(failure)
    assert isinstance(err.cause, pexc.ApplicationError) and err.cause.details[0] == {"k": 1}


async def test_memo_helpers() -> None:
    data = pconv.DataConverter.default
    memo = await data._encode_memo({"a": 1, "raw": Payload(metadata={"encoding": b"binary/null"})})
    assert await data._decode_memo(memo) == {"a": 1, "raw": None}
    assert await data._decode_memo_field(memo, "a", None, int) == 1
    assert await data._decode_memo_field(memo, "nope", "dflt", None) == "dflt"
