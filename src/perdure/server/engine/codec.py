"""Serialize the engine's dataclasses to compact bytes (msgpack) and back.

Mutable state lives for years, across code versions, so the encoding is by field name and
driven by type hints: a field added later (with a default) decodes from old rows, a field
removed is ignored. Protobuf messages inside are stored as their wire bytes.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

import msgpack
from google.protobuf.message import Message

T = TypeVar("T")

_Encoder = Callable[[Any], Any]
_Decoder = Callable[[Any], Any]

_ENCODERS: dict[Any, _Encoder] = {}
_DECODERS: dict[Any, _Decoder] = {}


def encode(value: object) -> bytes:
    """Serialize a dataclass instance."""
    return msgpack.packb(_encoder_for(type(value))(value), use_bin_type=True)  # type: ignore[no-any-return]


def decode(cls: type[T], data: bytes) -> T:
    """Deserialize bytes made by `encode` into an instance of `cls`."""
    raw = msgpack.unpackb(data, raw=False, strict_map_key=False)
    return _decoder_for(cls)(raw)  # type: ignore[no-any-return]


def _identity(value: Any) -> Any:
    return value


def _is_optional(tp: Any) -> tuple[bool, Any]:
    origin = get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return True, args[0]
    return False, tp


def _encoder_for(tp: Any) -> _Encoder:
    enc = _ENCODERS.get(tp)
    if enc is None:
        enc = _build_encoder(tp)
        _ENCODERS[tp] = enc
    return enc


def _decoder_for(tp: Any) -> _Decoder:
    dec = _DECODERS.get(tp)
    if dec is None:
        dec = _build_decoder(tp)
        _DECODERS[tp] = dec
    return dec


def _build_encoder(tp: Any) -> _Encoder:
    optional, inner = _is_optional(tp)
    if optional:
        inner_enc = _encoder_for(inner)
        return lambda v: None if v is None else inner_enc(v)
    if tp in (int, str, bytes, bool, float) or tp is Any:
        return _identity
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return lambda v: v.value
    if isinstance(tp, type) and issubclass(tp, Message):
        return lambda v: v.SerializeToString()
    if dataclasses.is_dataclass(tp):
        return _generate_dataclass_encoder(tp)
    origin = get_origin(tp)
    if origin in (list, tuple):
        args = get_args(tp)
        item_enc = _encoder_for(args[0]) if args else _identity
        return lambda v: [item_enc(x) for x in v]
    if origin is dict:
        key_tp, val_tp = get_args(tp)
        key_enc, val_enc = _encoder_for(key_tp), _encoder_for(val_tp)
        return lambda v: {key_enc(k): val_enc(x) for k, x in v.items()}
    raise TypeError(f"codec cannot encode {tp!r}")


def _build_decoder(tp: Any) -> _Decoder:
    optional, inner = _is_optional(tp)
    if optional:
        inner_dec = _decoder_for(inner)
        return lambda v: None if v is None else inner_dec(v)
    if tp in (int, str, bytes, bool) or tp is Any:
        return _identity
    if tp is float:
        return float
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp
    if isinstance(tp, type) and issubclass(tp, Message):
        msg_cls = tp
        return lambda v: msg_cls.FromString(v)
    if dataclasses.is_dataclass(tp):
        hints = get_type_hints(tp)
        fields = {f.name: _decoder_for(hints[f.name]) for f in dataclasses.fields(tp)}
        plain = {name for name, dec in fields.items() if dec is _identity}
        cls = tp

        def dec_dc(v: dict[str, Any]) -> Any:
            kwargs = {
                name: (x if name in plain else fields[name](x))
                for name, x in v.items()
                if name in fields
            }
            return cls(**kwargs)  # type: ignore[operator]

        return dec_dc
    origin = get_origin(tp)
    if origin is list:
        args = get_args(tp)
        item_dec = _decoder_for(args[0]) if args else _identity
        return lambda v: [item_dec(x) for x in v]
    if origin is tuple:
        args = get_args(tp)
        item_dec = _decoder_for(args[0]) if args else _identity
        return lambda v: tuple(item_dec(x) for x in v)
    if origin is dict:
        key_tp, val_tp = get_args(tp)
        key_dec, val_dec = _decoder_for(key_tp), _decoder_for(val_tp)
        return lambda v: {key_dec(k): val_dec(x) for k, x in v.items()}
    raise TypeError(f"codec cannot decode {tp!r}")


def _generate_dataclass_encoder(tp: Any) -> _Encoder:
    """One generated function per dataclass: plain fields are read inline, the others call
    their own encoder (the state is encoded on every commit, so this is a hot path)."""
    hints = get_type_hints(tp)
    namespace: dict[str, Any] = {}
    items = []
    for f in dataclasses.fields(tp):
        enc = _encoder_for(hints[f.name])
        if enc is _identity:
            items.append(f"{f.name!r}: v.{f.name}")
        else:
            namespace[f"_enc_{f.name}"] = enc
            items.append(f"{f.name!r}: _enc_{f.name}(v.{f.name})")
    source = "def encode(v):\n    return {" + ", ".join(items) + "}\n"
    exec(compile(source, f"<codec {tp.__name__}>", "exec"), namespace)
    return namespace["encode"]  # type: ignore[no-any-return]
