"""Payload converters: Python values <-> ``temporal.api.common.v1.Payload``.

The default set and its byte layout match temporalio's (and the other official SDKs'),
so payloads written by either SDK read back the same in the other: ``binary/null``
for None, ``binary/plain`` for bytes, ``json/protobuf`` for proto messages, and
``json/plain`` (compact, key-sorted JSON) for everything else.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import json
import uuid
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import zip_longest
from typing import Any, ClassVar, Generic, NewType, Self, TypeVar, overload

from google.protobuf import json_format, symbol_database
from google.protobuf.message import DecodeError, Message
from temporalio.api.common.v1 import message_pb2 as common_pb

from perdure.common import RawValue
from perdure.converter._context import SerializationContext, WithSerializationContext
from perdure.converter._types import value_to_type

_T = TypeVar("_T")
ValueT = TypeVar("ValueT")
TransferTypeT = TypeVar("TransferTypeT")

Payload = common_pb.Payload


class PayloadConverter(ABC):
    """Converts many values to payloads and back (see :py:class:`CompositePayloadConverter`)."""

    default: ClassVar[PayloadConverter]
    """The default converter (that of ``DataConverter.default``)."""

    @abstractmethod
    def to_payloads(self, values: Sequence[Any]) -> list[Payload]:
        """Convert values to payloads; a :py:class:`~perdure.common.RawValue` passes through."""

    @abstractmethod
    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: list[Any] | None = None
    ) -> list[Any]:
        """Convert payloads to values, guided by ``type_hints`` (one per payload) if given.

        A :py:class:`~perdure.common.RawValue` hint returns the payload wrapped, unconverted.
        """

    def to_payloads_wrapper(self, values: Sequence[Any]) -> common_pb.Payloads:
        """:py:meth:`to_payloads` into a ``Payloads`` message."""
        return common_pb.Payloads(payloads=self.to_payloads(values))

    def from_payloads_wrapper(self, payloads: common_pb.Payloads | None) -> list[Any]:
        """:py:meth:`from_payloads` from a ``Payloads`` message (None or empty: no values)."""
        if not payloads or not payloads.payloads:
            return []
        return self.from_payloads(payloads.payloads)

    def to_payload(self, value: Any) -> Payload:
        """Convert one value."""
        return self.to_payloads([value])[0]

    @overload
    def from_payload(self, payload: Payload) -> Any: ...

    @overload
    def from_payload(self, payload: Payload, type_hint: type[_T]) -> _T: ...

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        """Convert one payload, to ``type_hint`` if given."""
        return self.from_payloads([payload], [type_hint] if type_hint else None)[0]


class EncodingPayloadConverter(ABC):
    """Converts values of one encoding; a member of a :py:class:`CompositePayloadConverter`."""

    @property
    @abstractmethod
    def encoding(self) -> str:
        """The ``encoding`` metadata value this converter writes and reads."""

    @abstractmethod
    def to_payload(self, value: Any) -> Payload | None:
        """The payload for ``value``, or None to let the next converter try."""

    @abstractmethod
    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        """The value of a payload of this encoding (raise if it cannot be read)."""


class CompositePayloadConverter(PayloadConverter, WithSerializationContext):
    """Tries its encoding converters in order to encode; decodes by the payload's encoding.

    Attributes:
        converters: The encoding converters by encoding name (bytes), in order.
    """

    converters: Mapping[bytes, EncodingPayloadConverter]

    def __init__(self, *converters: EncodingPayloadConverter) -> None:
        """Use ``converters``, tried in this order when encoding."""
        self._set_converters(*converters)

    def _set_converters(self, *converters: EncodingPayloadConverter) -> None:
        self.converters = {c.encoding.encode(): c for c in converters}

    def to_payloads(self, values: Sequence[Any]) -> list[Payload]:
        """Encode each value with the first converter that accepts it.

        Raises:
            RuntimeError: no converter accepts a value.
        """
        payloads: list[Payload] = []
        for index, value in enumerate(values):
            payload: Payload | None = None
            if isinstance(value, RawValue):
                payload = value.payload
            else:
                for converter in self.converters.values():
                    payload = converter.to_payload(value)
                    if payload is not None:
                        break
            if payload is None:
                raise RuntimeError(
                    f"Value at index {index} of type {type(value)} has no known converter"
                )
            payloads.append(payload)
        return payloads

    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: list[Any] | None = None
    ) -> list[Any]:
        """Decode each payload with the converter of its encoding.

        Raises:
            KeyError: a payload has an unknown encoding.
            RuntimeError: a converter failed to read its payload.
        """
        values: list[Any] = []
        for index, (payload, hint) in enumerate(zip_longest(payloads, type_hints or [])):
            if hint is RawValue:
                values.append(RawValue(payload))
                continue
            encoding: bytes = payload.metadata.get("encoding", b"<unknown>")
            converter = self.converters.get(encoding)
            if converter is None:
                raise KeyError(f"Unknown payload encoding {encoding.decode()}")
            try:
                values.append(converter.from_payload(payload, hint))
            except RuntimeError as err:
                raise RuntimeError(
                    f"Payload at index {index} with encoding {encoding.decode()} "
                    "could not be converted"
                ) from err
        return values

    def with_context(self, context: SerializationContext) -> Self:
        """A copy whose context-aware members got ``context``; ``self`` if none changed."""
        converters = self.get_converters_with_context(context)
        if converters is None:
            return self
        clone = type(self)()  # subclasses must keep a no-argument constructor
        clone._set_converters(*converters)
        return clone

    def get_converters_with_context(
        self, context: SerializationContext
    ) -> list[EncodingPayloadConverter] | None:
        """The members with ``context`` applied, or None when no member changed."""
        changed = False
        converters: list[EncodingPayloadConverter] = []
        for converter in self.converters.values():
            if isinstance(converter, WithSerializationContext):
                new = converter.with_context(context)
                changed = changed or new is not converter
                converter = new
            converters.append(converter)
        return converters if changed else None


class DefaultPayloadConverter(CompositePayloadConverter):
    """None, bytes, protobuf messages and anything JSON-able, as every Temporal SDK writes them."""

    default_encoding_payload_converters: tuple[EncodingPayloadConverter, ...]
    """The encoding converters used by default, in order (JSON last: it accepts anything)."""

    def __init__(self) -> None:
        """Use :py:attr:`default_encoding_payload_converters`."""
        super().__init__(*DefaultPayloadConverter.default_encoding_payload_converters)


class BinaryNullPayloadConverter(EncodingPayloadConverter):
    """``binary/null``: None as an empty payload."""

    @property
    def encoding(self) -> str:
        """``binary/null``."""
        return "binary/null"

    def to_payload(self, value: Any) -> Payload | None:
        """An empty payload for None."""
        if value is None:
            return Payload(metadata={"encoding": b"binary/null"})
        return None

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        """None (the payload must be empty)."""
        if payload.data:
            raise RuntimeError("Expected empty data set for binary/null")
        return None


class BinaryPlainPayloadConverter(EncodingPayloadConverter):
    """``binary/plain``: bytes as they are."""

    @property
    def encoding(self) -> str:
        """``binary/plain``."""
        return "binary/plain"

    def to_payload(self, value: Any) -> Payload | None:
        """The bytes themselves, for ``bytes`` values."""
        if isinstance(value, bytes):
            return Payload(metadata={"encoding": b"binary/plain"}, data=value)
        return None

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        """The payload's bytes."""
        return payload.data


def _proto_class(payload: Payload) -> tuple[str, Any]:
    name = payload.metadata.get("messageType", b"<unknown>").decode()
    try:
        return name, symbol_database.Default().GetSymbol(name)
    except KeyError as err:
        raise RuntimeError(f"Unknown Protobuf type {name}") from err


class JSONProtoPayloadConverter(EncodingPayloadConverter):
    """``json/protobuf``: proto messages in proto3 JSON, compact and key-sorted."""

    def __init__(self, ignore_unknown_fields: bool = False) -> None:
        """``ignore_unknown_fields`` lets decoding skip fields the local proto lacks."""
        self._ignore_unknown_fields = ignore_unknown_fields

    @property
    def encoding(self) -> str:
        """``json/protobuf``."""
        return "json/protobuf"

    def to_payload(self, value: Any) -> Payload | None:
        """The JSON form of a proto message, with its full name in ``messageType``."""
        if not isinstance(value, Message) or value.DESCRIPTOR is None:
            return None
        # MessageToJson has no compact mode, so go through a dict.
        text = json.dumps(json_format.MessageToDict(value), separators=(",", ":"), sort_keys=True)
        return Payload(
            metadata={
                "encoding": b"json/protobuf",
                "messageType": value.DESCRIPTOR.full_name.encode(),
            },
            data=text.encode(),
        )

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        """The message named by ``messageType``, parsed from JSON."""
        _, cls = _proto_class(payload)
        try:
            return json_format.Parse(
                payload.data, cls(), ignore_unknown_fields=self._ignore_unknown_fields
            )
        except json_format.ParseError as err:
            raise RuntimeError("Failed parsing") from err


class BinaryProtoPayloadConverter(EncodingPayloadConverter):
    """``binary/protobuf``: proto messages in their wire form."""

    @property
    def encoding(self) -> str:
        """``binary/protobuf``."""
        return "binary/protobuf"

    def to_payload(self, value: Any) -> Payload | None:
        """The serialized message, with its full name in ``messageType``."""
        if not isinstance(value, Message) or value.DESCRIPTOR is None:
            return None
        return Payload(
            metadata={
                "encoding": b"binary/protobuf",
                "messageType": value.DESCRIPTOR.full_name.encode(),
            },
            data=value.SerializeToString(),
        )

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        """The message named by ``messageType``, parsed from bytes."""
        _, cls = _proto_class(payload)
        message = cls()
        try:
            message.ParseFromString(payload.data)
        except DecodeError as err:
            raise RuntimeError("Failed parsing") from err
        return message


class AdvancedJSONEncoder(json.JSONEncoder):
    """The default JSON encoder: adds datetimes (ISO 8601), dataclasses, UUIDs,
    objects with a ``dict()`` method (pydantic v1) and any iterable (as a list).
    """

    def default(self, o: Any) -> Any:
        """Encode what :py:class:`json.JSONEncoder` cannot."""
        if isinstance(o, datetime):
            return o.isoformat()
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        as_dict = getattr(o, "dict", None)
        if callable(as_dict):
            return as_dict()
        if not isinstance(o, list) and isinstance(o, collections.abc.Iterable):
            return list(o)
        if isinstance(o, uuid.UUID):
            return str(o)
        return super().default(o)


JSONTypeConverterUnhandled = NewType("JSONTypeConverterUnhandled", object)
"""The type of :py:attr:`JSONTypeConverter.Unhandled`."""


class JSONTypeConverter(ABC):
    """A hook that turns a ``json.loads`` result into a hinted type (before the defaults)."""

    Unhandled: ClassVar[JSONTypeConverterUnhandled] = JSONTypeConverterUnhandled(object())
    """Return this from :py:meth:`to_typed_value` to leave the hint to the next converter."""

    @abstractmethod
    def to_typed_value(self, hint: Any, value: Any) -> Any:
        """``value`` (a JSON scalar, list or dict) as ``hint``, or :py:attr:`Unhandled`."""


class JSONPlainPayloadConverter(EncodingPayloadConverter):
    """``json/plain``: compact, key-sorted JSON; decoding rebuilds the hinted type."""

    def __init__(
        self,
        *,
        encoder: type[json.JSONEncoder] | None = AdvancedJSONEncoder,
        decoder: type[json.JSONDecoder] | None = None,
        encoding: str = "json/plain",
        custom_type_converters: Sequence[JSONTypeConverter] = (),
    ) -> None:
        """Choose the JSON encoder/decoder classes, the encoding name and type hooks."""
        self._encoder = encoder
        self._decoder = decoder
        self._encoding = encoding
        self._custom_type_converters = custom_type_converters

    @property
    def encoding(self) -> str:
        """The encoding name (``json/plain`` by default)."""
        return self._encoding

    def to_payload(self, value: Any) -> Payload | None:
        """The JSON text of ``value`` (errors propagate: this converter is the last)."""
        if hasattr(value, "parse_obj"):
            warnings.warn(
                "If you're using Pydantic v2, use perdure.contrib.pydantic."
                "pydantic_data_converter; Pydantic v1 models are encoded through .dict()",
                stacklevel=2,
            )
        text = json.dumps(value, cls=self._encoder, separators=(",", ":"), sort_keys=True)
        return Payload(metadata={"encoding": self._encoding.encode()}, data=text.encode())

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        """The parsed JSON, converted to ``type_hint`` when given."""
        try:
            value = json.loads(payload.data, cls=self._decoder)
        except json.JSONDecodeError as err:
            raise RuntimeError("Failed parsing") from err
        if type_hint:
            value = value_to_type(type_hint, value, self._custom_type_converters)
        return value


DefaultPayloadConverter.default_encoding_payload_converters = (
    BinaryNullPayloadConverter(),
    BinaryPlainPayloadConverter(),
    JSONProtoPayloadConverter(),
    BinaryProtoPayloadConverter(),
    JSONPlainPayloadConverter(),
)


# --------------------------------------------------------------------------- transfer types

_TRANSFER_ATTR = "__temporal_transfer_type_converter"


class TransferTypeConverter(Generic[ValueT, TransferTypeT], ABC):
    """Maps a user type to a simpler "transfer" value that payload converters handle.

    Register it on the user class with :py:func:`transfer_type_convertible`.
    """

    transfer_type: type[TransferTypeT] | None = None
    """The type hint used to decode the transfer value, if any."""

    @abstractmethod
    def to_transfer_type(self, value: ValueT) -> TransferTypeT:
        """The transfer value for ``value``."""

    @abstractmethod
    def from_transfer_type(self, value: TransferTypeT, type_hint: type[ValueT]) -> ValueT:
        """The user value for a decoded transfer value."""


def transfer_type_convertible(
    converter_type: type[TransferTypeConverter[ValueT, TransferTypeT]],
) -> Any:
    """Class decorator: values of the class go through ``converter_type`` on the wire."""

    def decorate(cls: type[ValueT]) -> type[ValueT]:
        if hasattr(cls, _TRANSFER_ATTR):
            raise TypeError("class already has a transfer type converter")
        setattr(cls, _TRANSFER_ATTR, converter_type())
        return cls

    return decorate


def _transfer_converter(value_type: object) -> TransferTypeConverter[Any, Any] | None:
    converter = getattr(value_type, _TRANSFER_ATTR, None)
    return converter if isinstance(converter, TransferTypeConverter) else None


class _TransferTypePayloadConverter(PayloadConverter, WithSerializationContext):
    """Wraps the user's payload converter to apply registered transfer type converters."""

    def __init__(self, inner: PayloadConverter) -> None:
        self._inner = inner

    @staticmethod
    def wrap(converter: PayloadConverter) -> PayloadConverter:
        if isinstance(converter, _TransferTypePayloadConverter):
            return converter
        return _TransferTypePayloadConverter(converter)

    def to_payloads(self, values: Sequence[Any]) -> list[Payload]:
        converted = []
        for value in values:
            transfer = _transfer_converter(type(value))
            converted.append(value if transfer is None else transfer.to_transfer_type(value))
        return self._inner.to_payloads(converted)

    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: list[Any] | None = None
    ) -> list[Any]:
        if type_hints is None:
            return self._inner.from_payloads(payloads, None)
        transfers = [_transfer_converter(hint) for hint in type_hints]
        inner_hints = [
            hint if transfer is None else transfer.transfer_type
            for transfer, hint in zip(transfers, type_hints, strict=False)
        ]
        values = self._inner.from_payloads(payloads, inner_hints)
        return [
            value if transfer is None else transfer.from_transfer_type(value, hint)
            for value, transfer, hint in zip(values, transfers, type_hints, strict=False)
        ]

    def with_context(self, context: SerializationContext) -> Self:
        if not isinstance(self._inner, WithSerializationContext):
            return self
        inner = self._inner.with_context(context)
        return self if inner is self._inner else type(self)(inner)
