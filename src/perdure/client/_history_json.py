"""Reading workflow histories exported as JSON (``temporal workflow show -o json``, the UI).

The export is proto3 JSON of ``temporal.api.history.v1.History``. Older tools wrote enum
values in PascalCase without their prefix (``"eventType": "WorkflowExecutionStarted"``);
those are normalized (to ``EVENT_TYPE_WORKFLOW_EXECUTION_STARTED``) by walking the JSON
alongside the proto descriptor, so every enum field anywhere in an event is covered.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, EnumDescriptor
from temporalio.api.history.v1 import message_pb2 as history_pb

_CAPITALS = re.compile("([A-Z]+)")


def _enum_prefix(enum: EnumDescriptor) -> str:
    """The prefix shared by an enum's value names, e.g. ``EVENT_TYPE_``."""
    names = [value.name for value in enum.values]
    for name in names:
        if name.endswith("_UNSPECIFIED"):
            return name[: -len("UNSPECIFIED")]
    prefix = names[0] if names else ""
    for name in names[1:]:
        while not name.startswith(prefix):
            prefix = prefix[:-1]
    return prefix[: prefix.rfind("_") + 1]


def _fix_enum(enum: EnumDescriptor, value: Any) -> Any:
    if not isinstance(value, str) or value in enum.values_by_name:
        return value
    prefix = _enum_prefix(enum)
    if value.startswith(prefix):
        return value
    return prefix + _CAPITALS.sub(r"_\1", value).upper().lstrip("_")


def _walk(obj: dict[str, Any], descriptor: Descriptor) -> None:
    for key, value in obj.items():
        field = descriptor.fields_by_camelcase_name.get(key) or descriptor.fields_by_name.get(key)
        if field is None:
            continue
        enum, message = field.enum_type, field.message_type
        if enum is not None:
            if isinstance(value, list):
                obj[key] = [_fix_enum(enum, item) for item in value]
            else:
                obj[key] = _fix_enum(enum, value)
        elif message is not None:
            if message.full_name.startswith("google.protobuf."):
                continue  # well-known types have their own JSON forms
            if message.GetOptions().map_entry:
                value_type = message.fields_by_name["value"].message_type
                if isinstance(value, dict) and value_type is not None:
                    for item in value.values():
                        if isinstance(item, dict):
                            _walk(item, value_type)
                continue
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    _walk(item, message)


def history_from_json(history: str | dict[str, Any]) -> history_pb.History:
    """Parse an exported history, tolerating the older PascalCase enum style."""
    parsed: Any = json.loads(history) if isinstance(history, str) else copy.deepcopy(history)
    if not isinstance(parsed, dict):
        raise ValueError("JSON history not a dictionary")
    events = parsed.get("events")
    if not isinstance(events, list):
        raise ValueError("History does not have iterable 'events'")
    for event in events:
        if not isinstance(event, dict):
            raise ValueError("Event not a dictionary")
    _walk(parsed, history_pb.History.DESCRIPTOR)
    return json_format.ParseDict(parsed, history_pb.History(), ignore_unknown_fields=True)
