"""Payload codecs: byte-level transforms (compression, encryption) applied after conversion."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.failure.v1 import message_pb2 as failure_pb


class PayloadCodec(ABC):
    """Encodes payloads on their way out and decodes them on their way in.

    Implementations must not mutate their inputs. They may change the number of
    payloads, but must return at least one and no more than they were given.
    """

    @abstractmethod
    async def encode(self, payloads: Sequence[common_pb.Payload]) -> list[common_pb.Payload]:
        """Encode payloads."""

    @abstractmethod
    async def decode(self, payloads: Sequence[common_pb.Payload]) -> list[common_pb.Payload]:
        """Decode payloads."""

    async def encode_wrapper(self, payloads: common_pb.Payloads) -> None:
        """Encode the payloads of a ``Payloads`` message in place."""
        encoded = await self.encode(payloads.payloads)
        del payloads.payloads[:]
        payloads.payloads.extend(encoded)

    async def decode_wrapper(self, payloads: common_pb.Payloads) -> None:
        """Decode the payloads of a ``Payloads`` message in place."""
        decoded = await self.decode(payloads.payloads)
        del payloads.payloads[:]
        payloads.payloads.extend(decoded)

    async def encode_failure(self, failure: failure_pb.Failure) -> None:
        """Encode, in place, every payload of a failure and its causes."""
        await _apply_to_failure_payloads(failure, self.encode_wrapper)

    async def decode_failure(self, failure: failure_pb.Failure) -> None:
        """Decode, in place, every payload of a failure and its causes."""
        await _apply_to_failure_payloads(failure, self.decode_wrapper)


async def _apply_to_failure_payloads(
    failure: failure_pb.Failure, transform: Callable[[common_pb.Payloads], Awaitable[None]]
) -> None:
    """Run ``transform`` over every payload set inside a failure chain, in place."""
    current: failure_pb.Failure | None = failure
    while current is not None:
        if current.HasField("encoded_attributes"):
            wrapped = common_pb.Payloads(payloads=[current.encoded_attributes])
            await transform(wrapped)
            current.encoded_attributes.CopyFrom(wrapped.payloads[0])
        info = current.WhichOneof("failure_info")
        holder: Any = getattr(current, info) if info else None
        for field in ("details", "last_heartbeat_details"):
            has = holder is not None and field in holder.DESCRIPTOR.fields_by_name
            if has and holder.HasField(field):
                await transform(getattr(holder, field))
        current = current.cause if current.HasField("cause") else None
