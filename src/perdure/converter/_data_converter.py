"""DataConverter: payload conversion, then the codec; and failures, both ways."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.failure.v1 import message_pb2 as failure_pb

from perdure.common import _arg_unset
from perdure.converter._codec import PayloadCodec, _apply_to_failure_payloads
from perdure.converter._context import SerializationContext, WithSerializationContext
from perdure.converter._failure import DefaultFailureConverter, FailureConverter
from perdure.converter._payload import (
    DefaultPayloadConverter,
    PayloadConverter,
    _TransferTypePayloadConverter,
)

Payload = common_pb.Payload


@dataclass(frozen=True)
class DataConverter(WithSerializationContext):
    """How values become payloads on the wire and back.

    Outbound: the payload converter turns values into payloads, then the optional codec
    transforms their bytes (compression, encryption). Inbound is the reverse. Failures go
    through the failure converter, and their payloads through the codec.
    """

    payload_converter_class: type[PayloadConverter] = DefaultPayloadConverter
    """The payload converter class (instantiated without arguments)."""

    payload_codec: PayloadCodec | None = None
    """The codec applied to payload bytes, if any."""

    failure_converter_class: type[FailureConverter] = DefaultFailureConverter
    """The failure converter class (instantiated without arguments)."""

    payload_converter: PayloadConverter = dataclasses.field(init=False)
    """The payload converter made from :py:attr:`payload_converter_class`."""

    failure_converter: FailureConverter = dataclasses.field(init=False)
    """The failure converter made from :py:attr:`failure_converter_class`."""

    default: ClassVar[DataConverter]
    """The default data converter (JSON and friends, no codec)."""

    def __post_init__(self) -> None:
        """Instantiate the converter classes."""
        converter = _TransferTypePayloadConverter.wrap(self.payload_converter_class())
        object.__setattr__(self, "payload_converter", converter)
        object.__setattr__(self, "failure_converter", self.failure_converter_class())

    async def encode(self, values: Sequence[Any]) -> list[Payload]:
        """Convert values to payloads, then apply the codec."""
        payloads = self.payload_converter.to_payloads(values)
        if self.payload_codec:
            payloads = await self.payload_codec.encode(payloads)
        return payloads

    async def decode(
        self, payloads: Sequence[Payload], type_hints: list[Any] | None = None
    ) -> list[Any]:
        """Undo the codec, then convert payloads to values (to ``type_hints`` if given)."""
        if self.payload_codec:
            payloads = await self.payload_codec.decode(payloads)
        return self.payload_converter.from_payloads(payloads, type_hints)

    async def encode_wrapper(self, values: Sequence[Any]) -> common_pb.Payloads:
        """:py:meth:`encode` into a ``Payloads`` message."""
        return common_pb.Payloads(payloads=await self.encode(values))

    async def decode_wrapper(
        self, payloads: common_pb.Payloads | None, type_hints: list[Any] | None = None
    ) -> list[Any]:
        """:py:meth:`decode` from a ``Payloads`` message (None or empty: no values)."""
        if not payloads or not payloads.payloads:
            return []
        return await self.decode(payloads.payloads, type_hints)

    async def encode_failure(self, exception: BaseException, failure: failure_pb.Failure) -> None:
        """Write ``exception`` into ``failure``, then apply the codec to its payloads."""
        self.failure_converter.to_failure(exception, self.payload_converter, failure)
        if self.payload_codec:
            await self.payload_codec.encode_failure(failure)

    async def decode_failure(self, failure: failure_pb.Failure) -> BaseException:
        """Undo the codec on ``failure``'s payloads (in place), then build the exception."""
        if self.payload_codec:
            await _apply_to_failure_payloads(failure, self.payload_codec.decode_wrapper)
        return self.failure_converter.from_failure(failure, self.payload_converter)

    def with_context(self, context: SerializationContext) -> Self:
        """A copy whose context-aware parts got ``context``; ``self`` if none changed."""
        parts: dict[str, Any] = {
            "payload_converter": self.payload_converter,
            "payload_codec": self.payload_codec,
            "failure_converter": self.failure_converter,
        }
        changed = {
            name: part.with_context(context)
            for name, part in parts.items()
            if isinstance(part, WithSerializationContext)
        }
        changed = {name: part for name, part in changed.items() if part is not parts[name]}
        if not changed:
            return self
        clone = dataclasses.replace(self)
        for name, part in changed.items():
            object.__setattr__(clone, name, part)
        return clone

    # ------------------------------------------------------------------ memo helpers

    async def _encode_memo(self, source: Mapping[str, Any]) -> common_pb.Memo:
        memo = common_pb.Memo()
        await self._encode_memo_existing(source, memo)
        return memo

    async def _encode_memo_existing(self, source: Mapping[str, Any], memo: common_pb.Memo) -> None:
        for key, value in source.items():
            payload = value if isinstance(value, Payload) else (await self.encode([value]))[0]
            memo.fields[key].CopyFrom(payload)

    async def _decode_memo(self, source: common_pb.Memo) -> dict[str, Any]:
        return {key: (await self.decode([value]))[0] for key, value in source.fields.items()}

    async def _decode_memo_field(
        self, source: common_pb.Memo, key: str, default: Any, type_hint: Any
    ) -> Any:
        payload = source.fields.get(key)
        if not payload:
            if default is _arg_unset:
                raise KeyError(f"Memo does not have a value for key {key}")
            return default
        return (await self.decode([payload], [type_hint] if type_hint else None))[0]


DataConverter.default = DataConverter()


def default() -> DataConverter:
    """The default data converter (prefer ``DataConverter.default``)."""
    return DataConverter.default
