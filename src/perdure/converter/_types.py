"""Rebuilding typed values from ``json.loads`` output, guided by type hints.

This is what lets a workflow parameter annotated ``list[MyDataclass]`` receive
dataclasses rather than dicts. The rules follow temporalio's ``value_to_type`` so
that the same annotations decode the same way in both SDKs.
"""

from __future__ import annotations

import collections
import collections.abc
import dataclasses
import inspect
import types
import typing
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_type_hints

if TYPE_CHECKING:
    from perdure.converter._payload import JSONTypeConverter


def value_to_type(
    hint: Any, value: Any, custom_converters: Sequence[JSONTypeConverter] = ()
) -> Any:
    """Convert a JSON-loaded ``value`` (scalar, list or dict) to the type ``hint``.

    ``custom_converters`` are tried first, in order; the first answer that is not
    ``JSONTypeConverter.Unhandled`` wins.

    Raises:
        TypeError: the value does not fit the hint, or the hint is not supported.
    """
    return _Converter(custom_converters).convert(hint, value)


def _check(value: Any, expected: type | tuple[type, ...], what: str) -> None:
    if not isinstance(value, expected):
        raise TypeError(f"Expected value to be {what}, was {type(value)}")


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError as err:
            raise TypeError(f"Failed parsing datetime string: {value}") from err
    raise TypeError(f"Expected datetime or ISO8601 string, got {type(value)}")


def _to_number(hint: type[int] | type[float]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        _check(value, (int, float), "int|float")
        return hint(value)

    return convert


def _to_bool(value: Any) -> bool:
    _check(value, bool, "bool")
    return bool(value)


def _to_str(value: Any) -> str:
    _check(value, str, "str")
    return str(value)


def _to_bytes(value: Any) -> bytes:
    # Python SDKs write bytes inside JSON as a list of ints (others use base64).
    _check(value, (str, bytes, list), "bytes")
    return bytes(value)


def _to_none(value: Any) -> None:
    if value is not None:
        raise TypeError(f"Expected None, got value of type {type(value)}")


_SIMPLE: dict[Any, Callable[[Any], Any]] = {
    datetime: _to_datetime,
    int: _to_number(int),
    float: _to_number(float),
    bool: _to_bool,
    str: _to_str,
    bytes: _to_bytes,
    type(None): _to_none,
}


def _usable_arg(args: tuple[Any, ...], index: int) -> Any:
    """The type argument at ``index`` unless absent, ``Any`` or an unbound TypeVar."""
    if len(args) <= index or args[index] is Any or isinstance(args[index], TypeVar):
        return None
    return args[index]


class _Converter:
    def __init__(self, custom: Sequence[JSONTypeConverter]) -> None:
        self._custom = custom

    def convert(self, hint: Any, value: Any) -> Any:
        if self._custom:
            from perdure.converter._payload import JSONTypeConverter

            for converter in self._custom:
                result = converter.to_typed_value(hint, value)
                if result is not JSONTypeConverter.Unhandled:
                    return result
        return self._convert(hint, value)

    def _convert(self, hint: Any, value: Any) -> Any:
        if hint is Any or hint is object:
            return value
        simple = _SIMPLE.get(hint)
        if simple is not None:
            return simple(value)
        supertype = getattr(hint, "__supertype__", None)  # typing.NewType
        if supertype is not None:
            return self.convert(supertype, value)

        origin = getattr(hint, "__origin__", hint)
        args: tuple[Any, ...] = getattr(hint, "__args__", ())
        if origin is Literal:
            if value not in args:
                raise TypeError(f"Value {value} not in literal values {args}")
            return value
        if origin is typing.Union or isinstance(hint, types.UnionType):
            for arg in args:
                try:
                    return self.convert(arg, value)
                except Exception:
                    continue
            raise TypeError(f"Failed converting to {hint} from {value}")
        if inspect.isclass(origin) and issubclass(origin, collections.abc.Mapping):
            return self._mapping(hint, origin, args, value)
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            return self._dataclass(hint, value)
        if isinstance(inspect.getattr_static(hint, "parse_obj", None), classmethod | staticmethod):
            # pydantic v1 models (v2 models go through perdure.contrib.pydantic's hook)
            if not isinstance(value, dict):
                raise TypeError(f"Cannot convert to {hint}, value is {type(value)} not dict")
            return hint.parse_obj(value)
        if inspect.isclass(hint) and issubclass(hint, Enum) and issubclass(hint, int | str):
            kind = int if issubclass(hint, int) else str
            if not isinstance(value, kind):
                raise TypeError(
                    f"Cannot convert to enum {hint}, value not a {kind.__name__}, "
                    f"value is {type(value)}"
                )
            return hint(value)
        if inspect.isclass(hint) and issubclass(hint, uuid.UUID):
            return hint(value)
        # Last, since many of the above are iterable too.
        if inspect.isclass(origin) and issubclass(origin, collections.abc.Iterable):
            return self._iterable(hint, origin, args, value)
        raise TypeError(f"Unserializable type during conversion: {hint}")

    def _mapping(self, hint: Any, origin: type, args: tuple[Any, ...], value: Any) -> Any:
        if not isinstance(value, collections.abc.Mapping):
            raise TypeError(f"Expected {hint}, value was {type(value)}")
        is_typed_dict = bool(
            getattr(origin, "__required_keys__", None) or getattr(origin, "__optional_keys__", None)
        )
        per_key = get_type_hints(origin) if is_typed_dict else None
        key_type, value_type = _usable_arg(args, 0), _usable_arg(args, 1)
        result: dict[Any, Any] = {}
        for key, item in value.items():
            if key_type is not None:
                try:
                    key = self._key(key_type, key)
                except Exception as err:
                    raise TypeError(
                        f"Failed converting key {key!r} to type {key_type} in mapping {hint}"
                    ) from err
            item_type = per_key.get(key) if per_key is not None else value_type
            if item_type is not None:
                try:
                    item = self.convert(item_type, item)
                except Exception as err:
                    raise TypeError(
                        f"Failed converting value for key {key!r} in mapping {hint}"
                    ) from err
            result[key] = item
        # A TypedDict is instantiated so that it validates.
        return hint(**result) if per_key is not None else result

    def _key(self, key_type: Any, key: Any) -> Any:
        # JSON object keys are strings; json.dumps wrote int/float/bool/None keys as text.
        if isinstance(key, str):
            if key_type is int or key_type is float:
                key = key_type(key)
            elif (
                inspect.isclass(key_type)
                and issubclass(key_type, Enum)
                and issubclass(key_type, int)
            ):
                key = int(key)
            elif key_type is bool:
                key = {"true": True, "false": False}[key]
            elif key_type is type(None):
                key = {"null": None}[key]
        if not isinstance(key_type, type) or not isinstance(key, key_type):
            key = self.convert(key_type, key)
        return key

    def _dataclass(self, hint: type, value: Any) -> Any:
        if not isinstance(value, dict):
            raise TypeError(f"Cannot convert to dataclass {hint}, value is {type(value)} not dict")
        field_types = get_type_hints(hint)
        init_values: dict[str, Any] = {}
        late_values: dict[str, Any] = {}
        for field in dataclasses.fields(hint):
            if field.name not in value:
                continue  # a missing required field fails in the constructor below
            try:
                converted = self.convert(field_types[field.name], value[field.name])
            except Exception as err:
                raise TypeError(
                    f"Failed converting field {field.name} on dataclass {hint}"
                ) from err
            (init_values if field.init else late_values)[field.name] = converted
        instance = hint(**init_values)
        # init=False fields are serialized too; restore them (works on frozen classes).
        for name, field_value in late_values.items():
            object.__setattr__(instance, name, field_value)
        return instance

    def _iterable(self, hint: Any, origin: type, args: tuple[Any, ...], value: Any) -> Any:
        if not isinstance(value, collections.abc.Iterable):
            raise TypeError(f"Expected {hint}, value was {type(value)}")
        untyped = not args or (
            len(args) == 1 and (isinstance(args[0], TypeVar) or args[0] is Ellipsis)
        )
        items: list[Any] = []
        if untyped:
            items = list(value)
        else:
            for index, item in enumerate(value):
                item_type = self._item_type(hint, origin, args, index)
                try:
                    items.append(self.convert(item_type, item))
                except Exception as err:
                    raise TypeError(f"Failed converting {hint} index {index}") from err
        if origin in (tuple, set, frozenset, collections.deque):
            return origin(items)
        return items

    @staticmethod
    def _item_type(hint: Any, origin: type, args: tuple[Any, ...], index: int) -> Any:
        if origin is not tuple:
            return args[0]
        if index < len(args) and args[index] is not Ellipsis:
            return args[index]
        if args[-1] is Ellipsis:
            return args[-2]  # tuple[X, ...]
        raise TypeError(f"Type {hint} only expecting {len(args)} values, got at least {index + 1}")
