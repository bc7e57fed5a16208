"""Search attribute values of a start or upsert: validation and the visibility columns.

A `SearchAttributes` message maps names to json/plain payloads. The registered type of the
name decides (the payload's "type" metadata is only a hint, as on the real server); values
are checked as strictly as Temporal does and converted to the typed column values of a
`VisibilityRow`. A JSON null unsets the attribute.

Like Temporal, a value may also be given as a list of its type: an empty list unsets the
attribute, a one-element list is that element (a null element the type's zero value), a
longer one is invalid. For KeywordList, whose values are lists already, that means a list
holding one list.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.api.common.v1 import Payload, SearchAttributes

from perdure.server.errors import InvalidArgument
from perdure.server.store.base import SqlValue
from perdure.server.visibility import catalog as cat
from perdure.server.visibility.catalog import Attribute
from perdure.server.visibility.values import (
    INT64_MAX,
    INT64_MIN,
    go_format,
    parse_datetime,
    status_name,
    text_column_value,
)

VALUE_SIZE_LIMIT = 2 * 1024
"""Temporal's default SearchAttributesSizeOfValueLimit (bytes of one payload's data)."""
TOTAL_SIZE_LIMIT = 40 * 1024
"""Temporal's default SearchAttributesTotalSizeLimit (bytes of the serialized message)."""
NUMBER_OF_KEYS_LIMIT = 100
"""Temporal's default SearchAttributesNumberOfKeysLimit."""

JSON_PLAIN = b"json/plain"

Decoded = str | int | float | bool | list[str] | None
"""A payload's value once checked: list[str] for KeywordList, int nanoseconds for Datetime."""


@dataclass(frozen=True, slots=True)
class DecodedAttribute:
    attribute: Attribute
    value: Decoded


def decode_search_attributes(
    sa: SearchAttributes,
    aliases: Mapping[str, str],
    *,
    namespace: str = "",
    allow_server_set: bool = False,
    value_size_limit: int = VALUE_SIZE_LIMIT,
    total_size_limit: int = TOTAL_SIZE_LIMIT,
    number_of_keys_limit: int = NUMBER_OF_KEYS_LIMIT,
    skip_invalid: bool = False,
) -> dict[str, DecodedAttribute]:
    """Check every attribute of a start/upsert and decode its value; InvalidArgument if not.

    `allow_server_set` admits the predefined attributes only the server may set (worker
    deployment ones, ...), for the engine's own writes; system attributes such as
    WorkflowId are always refused. `skip_invalid` drops what does not fit instead of
    raising, and skips the size limits: for re-indexing attributes stored earlier, whose
    registration may have changed since (a removed or re-typed name).
    """
    fields = sa.indexed_fields
    if len(fields) > number_of_keys_limit and not skip_invalid:
        raise InvalidArgument(
            f"number of search attributes {len(fields)} exceeds limit {number_of_keys_limit}"
        )
    out: dict[str, DecodedAttribute] = {}
    for name in sorted(fields):
        payload = fields[name]
        try:
            attr = _settable(name, aliases, namespace, allow_server_set)
            if len(payload.data) > value_size_limit and not skip_invalid:
                raise InvalidArgument(
                    f"search attribute {name} value size {len(payload.data)} exceeds size "
                    f"limit {value_size_limit}"
                )
            out[name] = DecodedAttribute(attr, decode_value(name, attr.type, payload))
        except InvalidArgument:
            if not skip_invalid:
                raise
    size = sa.ByteSize()
    if size > total_size_limit and not skip_invalid:
        raise InvalidArgument(
            f"total size of search attributes {size} exceeds size limit {total_size_limit}"
        )
    return out


def search_attribute_columns(
    sa: SearchAttributes,
    aliases: Mapping[str, str],
    *,
    namespace: str = "",
    allow_server_set: bool = False,
    skip_invalid: bool = False,
) -> dict[str, SqlValue]:
    """The typed visibility columns for a run's search attributes (VisibilityRow.columns).

    Pass the run's full, merged search attributes: columns not returned are NULL.
    Attributes without a column (some predefined ones) live only in the row's blob.
    Raises InvalidArgument like `decode_search_attributes` (unless `skip_invalid`).
    """
    decoded = decode_search_attributes(
        sa,
        aliases,
        namespace=namespace,
        allow_server_set=allow_server_set,
        skip_invalid=skip_invalid,
    )
    columns: dict[str, SqlValue] = {}
    for item in decoded.values():
        if item.attribute.column is not None:
            columns[item.attribute.column] = column_value(item.attribute.type, item.value)
    return columns


def visibility_search_attributes(
    sa: SearchAttributes,
    aliases: Mapping[str, str],
    *,
    namespace: str = "",
    skip_invalid: bool = False,
) -> SearchAttributes:
    """The search attributes as List returns them: typed, normalized, unset ones dropped.

    Like the real server's list results, every payload carries its registered "type",
    KeywordList nulls read as "", and datetimes are RFC3339 in UTC with at most 9 digits.
    Store this (serialized) as VisibilityRow.search_attributes.
    """
    decoded = decode_search_attributes(
        sa, aliases, namespace=namespace, allow_server_set=True, skip_invalid=skip_invalid
    )
    out = SearchAttributes()
    for name, item in decoded.items():
        if item.value is None:
            continue
        original = sa.indexed_fields[name]
        data = original.data
        if item.attribute.type == cat.KEYWORD_LIST:
            data = json.dumps(item.value, ensure_ascii=False, separators=(",", ":")).encode()
        elif item.attribute.type == cat.DATETIME:
            assert isinstance(item.value, int)
            data = json.dumps(format_datetime(item.value)).encode()
        elif data.lstrip().startswith(b"["):  # a one-element list lists as its element
            data = _json_scalar(item.value)
        out.indexed_fields[name].CopyFrom(typed_payload(data, item.attribute.type))
    return out


def _unsets(payload: Payload) -> bool:
    """Whether the payload is a JSON null or empty list (the attribute is unset)."""
    return payload.metadata.get("encoding") == JSON_PLAIN and payload.data.strip() in (
        b"null",
        b"[]",
    )


def _json_scalar(value: Decoded) -> bytes:
    """A scalar as Go's encoding/json writes it (a whole float64 without a fraction)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value)).encode()
    return json.dumps(value, ensure_ascii=False).encode()


def annotate_types(sa: SearchAttributes, aliases: Mapping[str, str]) -> SearchAttributes:
    """A copy whose payloads without "type" metadata get their registered type (Describe's
    behaviour: SDKs need the type to decode typed search attributes), without the
    attributes a null or an empty list unset."""
    out = SearchAttributes()
    out.CopyFrom(sa)
    for name in [name for name, payload in out.indexed_fields.items() if _unsets(payload)]:
        del out.indexed_fields[name]
    for name, payload in out.indexed_fields.items():
        if "type" not in payload.metadata:
            attr = cat.system_attribute(name) or cat.custom_attribute(name, aliases)
            if attr is not None:
                payload.metadata["type"] = attr.type.encode()
    return out


def group_values(group_by: Sequence[str], key: Sequence[SqlValue]) -> list[Payload]:
    """A count group's key as CountWorkflowExecutions reports it: for GROUP BY
    ExecutionStatus, the status name as a Keyword payload ('"Running"')."""
    if list(group_by) != ["status"] or len(key) != 1 or not isinstance(key[0], int):
        raise ValueError(f"no Temporal form for group {list(group_by)} = {list(key)}")
    return [typed_payload(json.dumps(status_name(key[0])).encode(), cat.KEYWORD)]


def typed_payload(data: bytes, kind: str) -> Payload:
    return Payload(metadata={"encoding": JSON_PLAIN, "type": kind.encode()}, data=data)


GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def format_datetime(nanos: int) -> str:
    """RFC3339 in UTC with the fraction's trailing zeros trimmed, like Go's RFC3339Nano.

    The clamp of every date before 1677 reads as Go's zero time, the one such date SDKs
    send (an unset ``time.Time``, a null list element), so that it lists as it was given.
    """
    if nanos == INT64_MIN:
        return GO_ZERO_TIME
    seconds, fraction = divmod(nanos, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{fraction:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


def column_value(kind: str, value: Decoded) -> SqlValue:
    """A decoded value in its column's stored form (see sql.py for how each is queried)."""
    if value is None:
        return None
    if kind == cat.KEYWORD_LIST:
        assert isinstance(value, list)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")) if value else None
    if kind == cat.TEXT:
        assert isinstance(value, str)
        return text_column_value(value)
    assert not isinstance(value, list)
    return value


# --------------------------------------------------------------------------- checks


def _settable(
    name: str, aliases: Mapping[str, str], namespace: str, allow_server_set: bool
) -> Attribute:
    attr = cat.system_attribute(name)
    if attr is not None:
        if attr.kind == "system" or not (allow_server_set or name in cat.SETTABLE_PREDEFINED):
            raise InvalidArgument(f"{name} attribute can't be set in SearchAttributes")
        return attr
    attr = cat.custom_attribute(name, aliases)
    if attr is None:
        raise InvalidArgument(
            f"Namespace {namespace} has no mapping defined for search attribute {name}"
        )
    return attr


def decode_value(name: str, kind: str, payload: Payload) -> Decoded:
    """One payload checked against its registered type; InvalidArgument with Temporal's
    "invalid value for search attribute X of type T: v" when it does not fit."""
    encoding = payload.metadata.get("encoding", b"")
    if encoding != JSON_PLAIN:
        raise _invalid(name, kind, f"payload encoding '{encoding.decode(errors='replace')}'"
                       " is not json/plain")  # fmt: skip
    try:
        value = json.loads(payload.data)
    except ValueError:
        raise _invalid(name, kind, f"not JSON: {payload.data[:64]!r}") from None
    if value is None or value == []:
        return None
    checked = _check(kind, value)
    if checked is None and isinstance(value, list) and len(value) == 1:
        checked = _ZERO.get(kind) if value[0] is None else _check(kind, value[0])
    if checked is None or _has_nul(checked):
        # Go decodes JSON numbers as float64, and prints them so: 1e20 -> 1e+20.
        number = isinstance(value, int | float) and not isinstance(value, bool)
        raise _invalid(name, kind, go_format(float(value) if number else value))
    return checked


_ZERO: dict[str, Decoded] = {
    cat.KEYWORD: "",
    cat.TEXT: "",
    cat.INT: 0,
    cat.DOUBLE: 0.0,
    cat.BOOL: False,
    cat.DATETIME: INT64_MIN,  # Go's zero time, 0001-01-01, clamped like any date before 1677
}
"""What a null element of a one-element list stands for (Go decodes null as the zero value)."""


def _check(kind: str, value: object) -> Decoded:
    if kind in (cat.KEYWORD, cat.TEXT):
        return value if isinstance(value, str) else None
    if kind == cat.INT:
        if isinstance(value, int) and not isinstance(value, bool):
            return value if INT64_MIN <= value <= INT64_MAX else None
        return None
    if kind == cat.DOUBLE:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
            return number if math.isfinite(number) else None
        return None
    if kind == cat.BOOL:
        return value if isinstance(value, bool) else None
    if kind == cat.DATETIME:
        return parse_datetime(value) if isinstance(value, str) else None
    if kind == cat.KEYWORD_LIST:
        if not isinstance(value, list):
            return None
        if not all(v is None or isinstance(v, str) for v in value):
            return None
        return ["" if v is None else v for v in value]
    return None


def _has_nul(value: Decoded) -> bool:
    # PostgreSQL cannot store NUL in text or jsonb; refuse it everywhere alike.
    if isinstance(value, str):
        return "\x00" in value
    return isinstance(value, list) and any("\x00" in v for v in value)


def _invalid(name: str, kind: str, shown: str) -> InvalidArgument:
    return InvalidArgument(f"invalid value for search attribute {name} of type {kind}: {shown}")
