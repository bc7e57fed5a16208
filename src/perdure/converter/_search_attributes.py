"""Search attributes <-> ``temporal.api.common.v1.SearchAttributes``.

Search attributes always use the default payload converter (never the user's, never a
codec): the server must be able to read them. Typed values carry a ``type`` metadata
entry (``Keyword``, ``Int``, ...) so that they decode to the right type.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from temporalio.api.common.v1 import message_pb2 as common_pb

from perdure.common import (
    SearchAttributeIndexedValueType,
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributes,
    SearchAttributeValue,
    SearchAttributeValues,
    TypedSearchAttributes,
)
from perdure.converter._data_converter import DataConverter


def _converter() -> Any:
    return DataConverter.default.payload_converter


def encode_search_attributes(
    attributes: SearchAttributes | TypedSearchAttributes, api: common_pb.SearchAttributes
) -> None:
    """Write typed (or legacy, deprecated, dict) search attributes into ``api``."""
    if isinstance(attributes, TypedSearchAttributes):
        for key, value in attributes:
            api.indexed_fields[key.name].CopyFrom(encode_typed_search_attribute_value(key, value))
        return
    for name, values in (attributes or {}).items():
        api.indexed_fields[name].CopyFrom(encode_search_attribute_values(values))


def encode_typed_search_attribute_value(
    key: SearchAttributeKey[Any], value: SearchAttributeValue | None
) -> common_pb.Payload:
    """The payload of one typed value; None gives an untyped null, which unsets it."""
    if value is None:
        null: common_pb.Payload = _converter().to_payload(None)
        return null  # no "type": the server treats it as unset
    if not isinstance(value, key.origin_value_type):
        raise TypeError(
            f"Value of type {value} not suitable for indexed value type {key.indexed_value_type}"
        )
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("Timezone must be present on all search attribute dates")
        value = value.isoformat()
    elif isinstance(value, Sequence) and not all(isinstance(item, str) for item in value):
        raise TypeError("All values of a keyword list must be strings")
    payload: common_pb.Payload = _converter().to_payload(value)
    payload.metadata["type"] = key._metadata_type.encode()
    return payload


def encode_search_attribute_values(vals: SearchAttributeValues) -> common_pb.Payload:
    """The payload of one legacy (list-valued) search attribute. Deprecated."""
    if not isinstance(vals, list):
        raise TypeError("Search attribute values must be lists")
    first_type: type | None = None
    safe: list[Any] = []
    for item in vals:
        if isinstance(item, datetime):
            if item.tzinfo is None:
                raise ValueError("Timezone must be present on all search attribute dates")
            safe.append(item.isoformat())
            continue
        if not isinstance(item, str | int | float | bool):
            raise TypeError(
                f"Search attribute value of type {type(item).__name__} "
                "not one of str, int, float, bool, or datetime"
            )
        if first_type is not None and type(item) is not first_type:
            raise TypeError("Search attribute values must have the same type for the same key")
        first_type = first_type or type(item)
        safe.append(item)
    return _converter().to_payloads([safe])[0]  # type: ignore[no-any-return]


def _encode_maybe_typed_search_attributes(
    non_typed: SearchAttributes | None,
    typed: TypedSearchAttributes | None,
    api: common_pb.SearchAttributes,
) -> None:
    """Encode whichever form was given; both at once is an error."""
    if non_typed:
        if typed and typed.search_attributes:
            raise ValueError(
                "Cannot provide both deprecated search attributes and typed search attributes"
            )
        encode_search_attributes(non_typed, api)
    elif typed and typed.search_attributes:
        encode_search_attributes(typed, api)


def decode_search_attributes(api: common_pb.SearchAttributes) -> SearchAttributes:
    """Legacy (deprecated) form: every value as a list; datetimes parsed."""
    result: dict[str, Any] = {}
    for name, payload in api.indexed_fields.items():
        value = _converter().from_payload(payload)
        values = value if isinstance(value, list) else [value]
        if payload.metadata.get("type") == b"Datetime":
            values = [datetime.fromisoformat(item) for item in values]
        result[name] = values
    return result


def decode_typed_search_attributes(api: common_pb.SearchAttributes) -> TypedSearchAttributes:
    """Typed form; values without (or with an unknown) ``type`` metadata are skipped."""
    pairs: list[SearchAttributePair[Any]] = []
    for name, payload in api.indexed_fields.items():
        metadata_type = payload.metadata.get("type")
        key = (
            SearchAttributeKey._from_metadata_type(name, metadata_type.decode())
            if metadata_type
            else None
        )
        if key is None:
            continue
        value = _converter().from_payload(payload)
        kind = key.indexed_value_type
        if kind != SearchAttributeIndexedValueType.KEYWORD_LIST and isinstance(value, list):
            if len(value) != 1:
                continue
            value = value[0]
        if kind == SearchAttributeIndexedValueType.DATETIME:
            value = datetime.fromisoformat(value)
        elif kind == SearchAttributeIndexedValueType.DOUBLE and type(value) is int:
            value = float(value)  # visibility returns whole doubles as JSON integers
        if isinstance(value, key.origin_value_type):
            pairs.append(SearchAttributePair(key, value))
    return TypedSearchAttributes(pairs)


def _decode_search_attribute_value(payload: common_pb.Payload) -> SearchAttributeValue:
    """One value, datetimes parsed (used for search attribute updates)."""
    value = _converter().from_payload(payload)
    if isinstance(value, str) and payload.metadata.get("type") == b"Datetime":
        return datetime.fromisoformat(value)
    return value  # type: ignore[no-any-return]
