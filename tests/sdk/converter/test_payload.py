"""Payload conversion: byte-for-byte the same as temporalio's, and typed decoding."""

from __future__ import annotations

import collections
import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum, IntEnum, StrEnum
from typing import Any, Literal, NewType, TypedDict

import pytest
import temporalio.converter as tconv
from temporalio.api.common.v1 import Payload, WorkflowExecution

from perdure import converter as pconv
from perdure.common import RawValue


class Color(IntEnum):
    RED = 1
    BLUE = 2


class Mood(StrEnum):
    HAPPY = "happy"


class Plain(Enum):
    A = "a"


@dataclasses.dataclass
class Inner:
    name: str
    when: datetime | None = None


@dataclasses.dataclass(frozen=True)
class Outer:
    inner: Inner
    items: list[Inner]
    by_color: dict[Color, int]
    tags: tuple[str, ...] = ()
    maybe: int | None = None
    computed: int = dataclasses.field(default=0, init=False)


class Movie(TypedDict):
    title: str
    year: int


UserId = NewType("UserId", int)

NOW = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)

VALUES: list[Any] = [
    None,
    b"\x00\x01raw",
    "text",
    "ünïcödé ✓",
    0,
    -12,
    3.25,
    True,
    [1, "a", None],
    {"b": 1, "a": [2, 3], "c": {"z": 1, "y": 2}},
    {1: "int key", 2: "x"},
    Color.BLUE,
    Mood.HAPPY,
    NOW,
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    Inner("x", NOW),
    Outer(Inner("i"), [Inner("j")], {Color.RED: 3}, ("t",), None),
    {"a", "b"} and sorted({"a", "b"}),
    (1, 2),
    WorkflowExecution(workflow_id="wf", run_id="r"),
    WorkflowExecution(),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_payload_bytes_match_temporalio(value: Any) -> None:
    ours = pconv.DataConverter.default.payload_converter.to_payloads([value])
    theirs = tconv.DataConverter.default.payload_converter.to_payloads([value])
    assert [p.SerializeToString(deterministic=True) for p in ours] == [
        p.SerializeToString(deterministic=True) for p in theirs
    ]
    # and each reads the other's payload to the same value
    assert pconv.PayloadConverter.default.from_payloads(theirs) == (
        tconv.PayloadConverter.default.from_payloads(ours)
    )


def test_binary_protobuf_roundtrip() -> None:
    conv = pconv.CompositePayloadConverter(pconv.BinaryProtoPayloadConverter())
    msg = WorkflowExecution(workflow_id="a", run_id="b")
    payload = conv.to_payload(msg)
    assert payload == tconv.BinaryProtoPayloadConverter().to_payload(msg)
    assert conv.from_payload(payload) == msg


HINTED: list[tuple[Any, Any]] = [
    (Outer, Outer(Inner("i", NOW), [Inner("j")], {Color.RED: 3, Color.BLUE: 1}, ("a", "b"), 4)),
    (list[Inner], [Inner("a"), Inner("b", NOW)]),
    (dict[int, str], {1: "a", 2: "b"}),
    (dict[bool, float], {True: 1.0}),
    (Mapping[str, Sequence[int]], {"x": [1, 2]}),
    (set[int], {1, 2}),
    (frozenset[str], frozenset({"a"})),
    (collections.deque[int], collections.deque([1, 2])),
    (tuple[int, str], (1, "a")),
    (tuple[int, ...], (1, 2, 3)),
    (Color, Color.BLUE),
    (Mood, Mood.HAPPY),
    (datetime, NOW),
    (uuid.UUID, uuid.UUID(int=7)),
    (int | None, None),
    (int | None, 5),
    (Literal["a", "b"], "b"),
    (UserId, UserId(3)),
    (Movie, Movie(title="t", year=1999)),
    (float, 3.0),
    (bytes, b"abc"),
    (Any, {"free": ["form"]}),
    (list, [1, "x"]),
]


@pytest.mark.parametrize("hint,value", HINTED, ids=lambda v: str(v)[:30])
def test_typed_decode_matches_temporalio(hint: Any, value: Any) -> None:
    payload = tconv.PayloadConverter.default.to_payload(value)
    ours = pconv.PayloadConverter.default.from_payload(payload, hint)
    theirs = tconv.PayloadConverter.default.from_payload(payload, hint)
    assert ours == theirs == value
    assert type(ours) is type(theirs)


@pytest.mark.parametrize(
    "hint,raw",
    [
        (int, "x"),
        (str, 1),
        (bool, 1),
        (Color, "RED"),
        (Literal["a"], "b"),
        (Inner, [1]),
        (Inner, {"when": "x"}),
        (tuple[int], [1, 2]),
        (datetime, "not a date"),
        (Plain, "a"),
        (None.__class__, 1),
    ],
)
def test_typed_decode_errors_like_temporalio(hint: Any, raw: Any) -> None:
    with pytest.raises(TypeError):
        tconv.value_to_type(hint, raw)
    with pytest.raises(TypeError):
        pconv.value_to_type(hint, raw)


def test_raw_value_passthrough() -> None:
    conv = pconv.PayloadConverter.default
    payload = conv.to_payload({"a": 1})
    assert conv.from_payloads([payload], [RawValue]) == [RawValue(payload)]
    assert conv.to_payloads([RawValue(payload)]) == [payload]


def test_unknown_encoding_and_bad_json() -> None:
    conv = pconv.PayloadConverter.default
    with pytest.raises(KeyError, match="Unknown payload encoding"):
        conv.from_payload(Payload(metadata={"encoding": b"nope"}))
    with pytest.raises(RuntimeError, match="could not be converted"):
        conv.from_payload(Payload(metadata={"encoding": b"json/plain"}, data=b"{"))
    with pytest.raises(TypeError):
        conv.to_payload(object())


def test_custom_json_type_converter_used_at_every_level() -> None:
    class Money:
        def __init__(self, cents: int) -> None:
            self.cents = cents

    class MoneyConverter(pconv.JSONTypeConverter):
        def to_typed_value(self, hint: Any, value: Any) -> Any:
            return Money(value) if hint is Money else pconv.JSONTypeConverter.Unhandled

    assert (
        pconv.value_to_type(dict[str, list[Money]], {"a": [5]}, [MoneyConverter()])["a"][0].cents
        == 5
    )

    class MoneyEncoder(pconv.AdvancedJSONEncoder):
        def default(self, o: Any) -> Any:
            return o.cents if isinstance(o, Money) else super().default(o)

    class MoneyPayloadConverter(pconv.CompositePayloadConverter):
        def __init__(self) -> None:
            super().__init__(
                pconv.BinaryNullPayloadConverter(),
                pconv.JSONPlainPayloadConverter(
                    encoder=MoneyEncoder, custom_type_converters=[MoneyConverter()]
                ),
            )

    conv = pconv.DataConverter(payload_converter_class=MoneyPayloadConverter).payload_converter
    payload = conv.to_payload([Money(7)])
    assert payload.data == b"[7]"
    assert conv.from_payload(payload, list[Money])[0].cents == 7


def test_transfer_type_converter() -> None:
    class Point:
        def __init__(self, x: int, y: int) -> None:
            self.x, self.y = x, y

    class PointTransfer(pconv.TransferTypeConverter[Point, list[int]]):
        transfer_type = list[int]

        def to_transfer_type(self, value: Point) -> list[int]:
            return [value.x, value.y]

        def from_transfer_type(self, value: list[int], type_hint: type[Point]) -> Point:
            return type_hint(*value)

    pconv.transfer_type_convertible(PointTransfer)(Point)
    conv = pconv.DataConverter().payload_converter
    payload = conv.to_payload(Point(1, 2))
    assert payload.data == b"[1,2]"
    point = conv.from_payload(payload, Point)
    assert (point.x, point.y) == (1, 2)
    with pytest.raises(TypeError):
        pconv.transfer_type_convertible(PointTransfer)(Point)


def test_context_is_applied_only_when_used() -> None:
    ctx = pconv.WorkflowSerializationContext(namespace="ns", workflow_id="wf")
    assert pconv.DataConverter.default.with_context(ctx) is pconv.DataConverter.default

    class Tagging(pconv.EncodingPayloadConverter, pconv.WithSerializationContext):
        def __init__(self, tag: str = "") -> None:
            self.tag = tag

        @property
        def encoding(self) -> str:
            return "test/tag"

        def to_payload(self, value: Any) -> Payload | None:
            return Payload(metadata={"encoding": b"test/tag"}, data=self.tag.encode())

        def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
            return payload.data.decode()

        def with_context(self, context: pconv.SerializationContext) -> Tagging:
            assert isinstance(context, pconv.WorkflowSerializationContext)
            return Tagging(context.workflow_id)

    class TagConverter(pconv.CompositePayloadConverter):
        def __init__(self) -> None:
            super().__init__(Tagging())

    data = pconv.DataConverter(payload_converter_class=TagConverter)
    with_ctx = data.with_context(ctx)
    assert with_ctx is not data
    assert with_ctx.payload_converter.to_payload(1).data == b"wf"
    assert data.payload_converter.to_payload(1).data == b""


def test_timedelta_is_not_silently_encoded() -> None:
    # temporalio refuses timedelta in json/plain; so must we, so payloads stay portable.
    with pytest.raises(TypeError):
        pconv.PayloadConverter.default.to_payload(timedelta(seconds=1))
    with pytest.raises(TypeError):
        tconv.PayloadConverter.default.to_payload(timedelta(seconds=1))


def test_public_names_match_temporalio() -> None:
    # Not provided yet: external payload storage (experimental in temporalio 1.35).
    not_yet = {n for n in dir(tconv) if n.startswith(("Storage", "ExternalStorage"))}
    not_yet |= {"create_payload_validation_error"}
    public = {n for n in dir(tconv) if not n.startswith("_")}
    assert sorted(n for n in public - not_yet if not hasattr(pconv, n)) == []
