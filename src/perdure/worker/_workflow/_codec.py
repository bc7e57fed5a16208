"""Apply the payload codec to whole workflow tasks: history in (decode), commands out (encode).

Only used when the data converter has a codec. Every Payload reachable from the message is
transformed in one codec call, except search attributes and headers (never encoded, as in
temporalio by default) and protocol messages, whose packed bodies are unpacked first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.protocol.v1 import Message as ProtocolMessage
from temporalio.api.update.v1 import Acceptance, Rejection, Request, Response

_PAYLOAD = Payload.DESCRIPTOR.full_name
_SKIP = frozenset({"search_attributes", "header", "headers"})
_BODIES: tuple[type[Message], ...] = (Request, Response, Rejection, Acceptance)

Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


def _repeated(field: Any) -> bool:
    flag = getattr(field, "is_repeated", None)  # protobuf >= 6; older ones have `label`
    return bool(flag) if flag is not None else field.label == 3


def _collect(message: Message, out: list[Payload]) -> None:
    for field, value in message.ListFields():
        if field.name in _SKIP or field.message_type is None:
            continue
        if field.message_type.full_name == _PAYLOAD:
            if _repeated(field):
                out.extend(value)
            else:
                out.append(value)
            continue
        if field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.message_type is None:
                continue
            if value_field.message_type.full_name == _PAYLOAD:
                out.extend(value.values())
            else:
                for item in value.values():
                    _collect(item, out)
            continue
        if _repeated(field):
            for item in value:
                _collect(item, out)
        else:
            _collect(value, out)


async def transform(messages: Iterable[Message], fn: Transform) -> None:
    """Replace every payload under ``messages`` by ``fn`` of it, in one batch."""
    payloads: list[Payload] = []
    for message in messages:
        _collect(message, payloads)
    if not payloads:
        return
    replaced = await fn(payloads)
    for old, new in zip(payloads, replaced, strict=True):
        old.CopyFrom(new)


async def transform_protocol(messages: Iterable[ProtocolMessage], fn: Transform) -> None:
    """Like :py:func:`transform` for update protocol messages (packed bodies)."""
    for message in messages:
        for body_type in _BODIES:
            if message.body.Is(body_type.DESCRIPTOR):  # type: ignore[arg-type]
                body = body_type()
                message.body.Unpack(body)
                await transform([body], fn)
                message.body.Pack(body)
                break
