"""Protobuf messages to and from JSON as Temporal's HTTP API writes them.

The proto3 JSON mapping (google.protobuf.json_format) with Temporal's one change, its
"payload shorthand": a `Payload` holding plain JSON is written as that JSON value, a
`json/protobuf` one as its message's JSON object plus a "_protoMessageType" key, and a
`Payloads` whose payloads all have a shorthand as a JSON array. `?noPayloadShorthand` turns
it off (`shorthand=False`). Reading accepts both forms: a JSON value that is not a raw
payload ({"metadata": {...}, "data": "..."} in base64) is a `json/plain` payload, `null` a
`binary/null` one. JSON data is re-encoded as the real server's (Go) encoder does it: keys
sorted, no spaces, numbers as doubles, "<", ">" and "&" escaped.
"""

from __future__ import annotations

import base64
import binascii
import json
from decimal import Decimal
from typing import Any, cast

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import message_pb2 as common_pb2

PAYLOAD = common_pb2.Payload.DESCRIPTOR.full_name
PAYLOADS = common_pb2.Payloads.DESCRIPTOR.full_name
PROTO_TYPE_KEY = "_protoMessageType"


class JsonMappingError(ValueError):
    """JSON that does not fit the message it is read into."""


# --------------------------------------------------------------------------- JSON data


def go_json(value: Any) -> bytes:
    """`value` encoded as Go's encoding/json encodes a decoded `interface{}`."""
    return _go(value).encode()


def _go(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return _go_number(float(value))
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, list):
        return "[" + ",".join(_go(v) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{_go_string(k)}:{_go(v)}" for k, v in items) + "}"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}
_HTML_ESCAPES.update({"\u2028": "\\u2028", "\u2029": "\\u2029"})


def _go_string(text: str) -> str:
    out = json.dumps(text, ensure_ascii=False)
    if any(c in out for c in _HTML_ESCAPES):
        out = "".join(_HTML_ESCAPES.get(c, c) for c in out)
    return out


def _go_number(number: float) -> str:
    """Shortest round-trip digits; exponent form only below 1e-6 or from 1e21."""
    if number == 0:
        return "0"
    size = abs(number)
    if size < 1e-6 or size >= 1e21:
        text = repr(number)
        mantissa, _, exponent = text.partition("e")
        sign, digits = exponent[0], exponent[1:].lstrip("0") or "0"
        return f"{mantissa}e{sign}{digits}" if sign in "+-" else text
    return format(Decimal(repr(number)).normalize(), "f")


def _reject_constant(name: str) -> Any:
    raise JsonMappingError(f"invalid JSON number {name}")


def parse_json(data: bytes | str) -> Any:
    """Decode JSON, refusing NaN and Infinity as Go does."""
    return json.loads(data, parse_constant=_reject_constant)


# --------------------------------------------------------------------------- payloads


def _raw(payload: common_pb2.Payload) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if payload.metadata:
        out["metadata"] = {
            k: base64.b64encode(v).decode() for k, v in sorted(payload.metadata.items())
        }
    if payload.data:
        out["data"] = base64.b64encode(payload.data).decode()
    return out


def _shorthand(payload: common_pb2.Payload) -> tuple[bool, Any]:
    """(True, its shorthand) when the payload has one, else (False, its raw form)."""
    meta = payload.metadata
    encoding = meta.get("encoding")
    if encoding == b"json/plain" and len(meta) == 1:
        try:
            return True, parse_json(payload.data)
        except (ValueError, UnicodeDecodeError):
            pass
    elif encoding == b"json/protobuf" and set(meta) == {"encoding", "messageType"}:
        try:
            value = parse_json(payload.data)
        except (ValueError, UnicodeDecodeError):
            value = None
        if isinstance(value, dict):
            return True, {PROTO_TYPE_KEY: meta["messageType"].decode(), **value}
    elif encoding == b"binary/null" and len(meta) == 1 and not payload.data:
        return True, _raw(payload)
    return False, _raw(payload)


def payload_to_json(payload: common_pb2.Payload) -> Any:
    return _shorthand(payload)[1]


def payloads_to_json(payloads: common_pb2.Payloads) -> Any:
    forms = [_shorthand(p) for p in payloads.payloads]
    if all(ok for ok, _ in forms):
        return [value for _, value in forms]
    return {"payloads": [value for _, value in forms]}


def _b64(text: Any) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        try:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            return None


def _raw_payload(value: dict[str, Any]) -> common_pb2.Payload | None:
    """The payload `value` spells in raw form, or None when it is not one."""
    metadata = value.get("metadata")
    if not isinstance(metadata, dict) or not set(value) <= {"metadata", "data"}:
        return None
    out = common_pb2.Payload()
    for key, text in metadata.items():
        decoded = _b64(text)
        if decoded is None:
            return None
        out.metadata[key] = decoded
    if "data" in value:
        data = _b64(value["data"])
        if data is None:
            return None
        out.data = data
    return out


def payload_from_json(value: Any) -> common_pb2.Payload:
    if value is None:
        return common_pb2.Payload(metadata={"encoding": b"binary/null"})
    if isinstance(value, dict):
        raw = _raw_payload(value)
        if raw is not None:
            return raw
        if PROTO_TYPE_KEY in value:
            message = {k: v for k, v in value.items() if k != PROTO_TYPE_KEY}
            return common_pb2.Payload(
                metadata={
                    "encoding": b"json/protobuf",
                    "messageType": str(value[PROTO_TYPE_KEY]).encode(),
                },
                data=go_json(message),
            )
    return common_pb2.Payload(metadata={"encoding": b"json/plain"}, data=go_json(value))


def payloads_from_json(value: Any) -> common_pb2.Payloads:
    if isinstance(value, dict) and isinstance(value.get("payloads"), list) and len(value) == 1:
        value = value["payloads"]
    if not isinstance(value, list):
        raise JsonMappingError("payloads must be a JSON array")
    return common_pb2.Payloads(payloads=[payload_from_json(v) for v in value])


# --------------------------------------------------------------------------- messages


def _reaches_payloads(descriptor: Descriptor) -> bool:
    """Whether messages of this type can hold a Payload (cached per type)."""
    return _reach(descriptor.full_name, descriptor)


_REACH: dict[str, bool] = {}


def _reach(name: str, descriptor: Descriptor) -> bool:
    known = _REACH.get(name)
    if known is not None:
        return known
    seen: dict[str, Descriptor] = {}
    stack = [descriptor]
    while stack:
        d = stack.pop()
        if d.full_name in seen:
            continue
        seen[d.full_name] = d
        stack.extend(f.message_type for f in d.fields if f.message_type is not None)
    bearing = {PAYLOAD, PAYLOADS}
    changed = True
    while changed:
        changed = False
        for full_name, d in seen.items():
            if full_name not in bearing and any(
                f.message_type is not None and f.message_type.full_name in bearing for f in d.fields
            ):
                bearing.add(full_name)
                changed = True
    for full_name in seen:
        _REACH.setdefault(full_name, full_name in bearing)
    return _REACH[name]


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def message_to_json(message: Message, *, shorthand: bool = True) -> dict[str, Any]:
    """`message` as Temporal's HTTP API writes it."""
    out: dict[str, Any] = json_format.MessageToDict(message)
    if shorthand:
        _shorten(message, out)
    return out


def _out(value: Message, as_json: Any) -> Any:
    name = value.DESCRIPTOR.full_name
    if name == PAYLOAD:
        return payload_to_json(value)  # type: ignore[arg-type]
    if name == PAYLOADS:
        return payloads_to_json(value)  # type: ignore[arg-type]
    _shorten(value, as_json)
    return as_json


def _shorten(message: Message, as_json: dict[str, Any]) -> None:
    for field, value in message.ListFields():
        if field.message_type is None or field.json_name not in as_json:
            continue
        key = field.json_name
        if _is_map(field):
            inner = field.message_type.fields_by_name["value"]
            if inner.message_type is None or not _reaches_payloads(inner.message_type):
                continue
            mapped = as_json[key]
            for k, v in value.items():
                mapped[str(k)] = _out(v, mapped[str(k)])
        elif not _reaches_payloads(field.message_type):
            continue
        elif _repeated(field):
            as_json[key] = [_out(v, j) for v, j in zip(value, as_json[key], strict=True)]
        else:
            as_json[key] = _out(value, as_json[key])


def message_from_json(value: Any, message: Message) -> None:
    """Read `value` (decoded JSON) into `message`; JsonMappingError when it does not fit."""
    if not isinstance(value, dict):
        raise JsonMappingError(
            f"request body must be a JSON object for {message.DESCRIPTOR.full_name}"
        )
    try:
        expanded = _expand(cast(Descriptor, message.DESCRIPTOR), value)
        json_format.ParseDict(expanded, message)
    except json_format.ParseError as err:
        raise JsonMappingError(str(err)) from None


def _in(descriptor: Descriptor, value: Any) -> Any:
    if descriptor.full_name == PAYLOAD:
        return json_format.MessageToDict(payload_from_json(value))
    if descriptor.full_name == PAYLOADS:
        return json_format.MessageToDict(payloads_from_json(value))
    if isinstance(value, dict):
        return _expand(descriptor, value)
    return value


def _field(descriptor: Descriptor, key: str) -> FieldDescriptor | None:
    for field in descriptor.fields:
        if key in (field.json_name, field.name):
            return field
    return None


def _expand(descriptor: Descriptor, value: dict[str, Any]) -> dict[str, Any]:
    """`value` with shorthand payloads written out in raw form, for json_format."""
    if not _reaches_payloads(descriptor):
        return value
    out = dict(value)
    for key, item in value.items():
        field = _field(descriptor, key)
        if field is None or field.message_type is None or item is None:
            continue
        if _is_map(field):
            inner = field.message_type.fields_by_name["value"]
            if inner.message_type is not None and isinstance(item, dict):
                target = inner.message_type
                out[key] = {k: _in(target, v) for k, v in item.items() if v is not None}
        elif _repeated(field):
            if isinstance(item, list):
                out[key] = [_in(field.message_type, v) for v in item]
        else:
            out[key] = _in(field.message_type, item)
    return out
