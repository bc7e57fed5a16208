"""The run's memo and search attributes as workflow code reads and changes them.

Changes become commands (ModifyWorkflowProperties, UpsertWorkflowSearchAttributes) and are
applied to Info at once, so that workflow code reads back what it wrote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from temporalio.api.common.v1 import Payload

import perdure.common
import perdure.converter
from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._command_buffer import CommandBuffer
from perdure.workflow import Info


class WorkflowProperties:
    """Memo and search attributes of one run."""

    def __init__(
        self,
        info: Info,
        payload_converter: perdure.converter.PayloadConverter,
        commands: CommandBuffer,
    ) -> None:
        self._info = info
        self._converter = payload_converter
        self._commands = commands
        self._memo_cache: dict[str, Any] | None = None

    def memo(self) -> Mapping[str, Any]:
        """The memo, decoded once."""
        if self._memo_cache is None:
            self._memo_cache = {
                k: self._converter.from_payload(v) for k, v in self._info.raw_memo.items()
            }
        return self._memo_cache

    def memo_value(self, key: str, default: Any, *, type_hint: type | None) -> Any:
        """One memo value."""
        payload = self._info.raw_memo.get(key)
        if not payload:
            if default is perdure.common._arg_unset:
                raise KeyError(f"Memo does not have a value for key {key}")
            return default
        return self._converter.from_payload(payload, type_hint)  # type: ignore[arg-type]

    def upsert_memo(self, updates: Mapping[str, Any]) -> None:
        """ModifyWorkflowProperties with the changed keys (None removes a key)."""
        encoded: dict[str, Payload] = {}
        removed: list[str] = []
        for key, value in updates.items():
            if value is None:
                removed.append(key)
            else:
                encoded[key] = self._converter.to_payload(value)
        if not encoded and not removed:
            return
        fields = dict(encoded)
        null = self._converter.to_payload(None)
        for key in removed:
            fields[key] = null
        self._commands.add(jobs.ModifyWorkflowProperties(fields))
        memo = dict(self._info.raw_memo)
        memo.update(encoded)
        for key in removed:
            memo.pop(key, None)
        object.__setattr__(self._info, "raw_memo", memo)
        self._memo_cache = None

    def upsert_search_attributes(
        self,
        attributes: perdure.common.SearchAttributes
        | Sequence[perdure.common.SearchAttributeUpdate[Any]],
    ) -> None:
        """UpsertWorkflowSearchAttributes, and keep Info's two views up to date."""
        fields: dict[str, Payload] = {}
        untyped = dict(self._info.search_attributes)
        typed = {pair.key.name: pair for pair in self._info.typed_search_attributes}
        if isinstance(attributes, Mapping):
            for name, values in attributes.items():
                fields[name] = perdure.converter.encode_search_attribute_values(values)
                untyped[name] = values
                key = perdure.common.SearchAttributeKey._guess_from_untyped_values(name, values)
                if not values:
                    typed.pop(name, None)
                elif key is not None:
                    kind = key.indexed_value_type
                    if kind == perdure.common.SearchAttributeIndexedValueType.KEYWORD_LIST:
                        typed[name] = perdure.common.SearchAttributePair(key, values)
                    elif len(values) == 1:
                        typed[name] = perdure.common.SearchAttributePair(key, values[0])
        else:
            for update in attributes:
                name = update.key.name
                fields[name] = perdure.converter.encode_typed_search_attribute_value(
                    update.key, update.value
                )
                if update.value is None:
                    typed.pop(name, None)
                    untyped[name] = []
                else:
                    typed[name] = perdure.common.SearchAttributePair(update.key, update.value)
                    kind = update.key.indexed_value_type
                    untyped[name] = (
                        list(update.value)
                        if kind == perdure.common.SearchAttributeIndexedValueType.KEYWORD_LIST
                        else [update.value]
                    )
        self._commands.add(jobs.UpsertSearchAttributes(fields))
        object.__setattr__(self._info, "search_attributes", untyped)
        object.__setattr__(
            self._info,
            "typed_search_attributes",
            perdure.common.TypedSearchAttributes(list(typed.values())),
        )
