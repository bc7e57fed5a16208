"""A data converter for Pydantic v2 models (mirrors ``temporalio.contrib.pydantic``).

Pass :py:data:`pydantic_data_converter` as ``Client.connect(..., data_converter=...)``.
Encoding uses ``pydantic_core.to_json``, decoding ``TypeAdapter(hint).validate_json``,
so models, dataclasses, datetimes, UUIDs, sets and anything else pydantic understands
round-trip; the payloads are the same bytes temporalio's pydantic converter writes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import SchemaSerializer, to_json
from pydantic_core.core_schema import any_schema
from temporalio.api.common.v1 import message_pb2 as common_pb

from perdure.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
)


@dataclass
class ToJsonOptions:
    """How values are serialized to JSON."""

    exclude_unset: bool = False
    """Leave out model fields that were never set."""


class PydanticJSONPlainPayloadConverter(EncodingPayloadConverter):
    """``json/plain`` through pydantic: any type pydantic can validate decodes to its hint."""

    def __init__(
        self,
        to_json_options: ToJsonOptions | None = None,
        *,
        max_cached_type_adapters: int | None = 1024,
    ) -> None:
        """Keep up to ``max_cached_type_adapters`` TypeAdapters (LRU; None: unbounded)."""
        if max_cached_type_adapters is not None and max_cached_type_adapters < 0:
            raise ValueError("max_cached_type_adapters cannot be negative")
        self._to_json_options = to_json_options
        self._serializer = SchemaSerializer(any_schema())
        self._adapter = functools.lru_cache(maxsize=max_cached_type_adapters)(TypeAdapter)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the adapter cache (the lru wrapper cannot be pickled)."""
        state = self.__dict__.copy()
        state["_adapter"] = self._adapter.cache_info().maxsize
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore with an empty adapter cache of the same size."""
        self.__dict__.update(state)
        self._adapter = functools.lru_cache(maxsize=state["_adapter"])(TypeAdapter)

    @property
    def encoding(self) -> str:
        """``json/plain``."""
        return "json/plain"

    def to_payload(self, value: Any) -> common_pb.Payload | None:
        """The value serialized by ``pydantic_core``."""
        options = self._to_json_options
        data = (
            self._serializer.to_json(value, exclude_unset=options.exclude_unset)
            if options
            else to_json(value)
        )
        return common_pb.Payload(metadata={"encoding": b"json/plain"}, data=data)

    def from_payload(self, payload: common_pb.Payload, type_hint: Any = None) -> Any:
        """The JSON validated as ``type_hint`` (``Any`` when there is no hint)."""
        hint = Any if type_hint is None else type_hint
        try:
            adapter: TypeAdapter[Any] = self._adapter(hint)
        except TypeError:
            try:
                hash(hint)
            except TypeError:  # unhashable hint: build an adapter without caching it
                adapter = TypeAdapter(hint)
            else:
                raise
        return adapter.validate_json(payload.data)


class PydanticPayloadConverter(CompositePayloadConverter):
    """The default converters with ``json/plain`` handled by pydantic."""

    def __init__(
        self,
        to_json_options: ToJsonOptions | None = None,
        *,
        max_cached_type_adapters: int | None = 1024,
    ) -> None:
        """Use :py:class:`PydanticJSONPlainPayloadConverter` in place of plain JSON.

        To change the options through a ``DataConverter`` (which instantiates the class
        without arguments), subclass this with a no-argument ``__init__``.
        """
        pydantic_json = PydanticJSONPlainPayloadConverter(
            to_json_options, max_cached_type_adapters=max_cached_type_adapters
        )
        super().__init__(
            *(
                pydantic_json if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


pydantic_data_converter = DataConverter(payload_converter_class=PydanticPayloadConverter)
"""A data converter that handles everything pydantic can serialize and validate."""
