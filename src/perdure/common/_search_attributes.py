"""Search attribute keys, values and collections (typed and legacy)."""

from __future__ import annotations

import itertools
import warnings
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any, ClassVar, Generic, NamedTuple, TypeAlias, TypeVar, get_origin, overload

from temporalio.api.enums.v1 import common_pb2 as enums_common_pb

_T = TypeVar("_T")

# --------------------------------------------------------------------------- search attributes

# Legacy (untyped) form: always lists, so a lone string is caught as a mistake.
SearchAttributeValues: TypeAlias = list[str] | list[int] | list[float] | list[bool] | list[datetime]
"""Values of one legacy (untyped) search attribute."""

SearchAttributes: TypeAlias = Mapping[str, SearchAttributeValues]
"""Legacy (untyped) search attributes, by name. Prefer :py:class:`TypedSearchAttributes`."""

SearchAttributeValue: TypeAlias = str | int | float | bool | datetime | Sequence[str]
"""Any value a typed search attribute can hold."""

SearchAttributeValueType = TypeVar(
    "SearchAttributeValueType", str, int, float, bool, datetime, Sequence[str]
)
"""The value type of a typed search attribute key."""

_Indexed = enums_common_pb.IndexedValueType


class SearchAttributeIndexedValueType(IntEnum):
    """How the server indexes a search attribute."""

    TEXT = _Indexed.INDEXED_VALUE_TYPE_TEXT
    KEYWORD = _Indexed.INDEXED_VALUE_TYPE_KEYWORD
    INT = _Indexed.INDEXED_VALUE_TYPE_INT
    DOUBLE = _Indexed.INDEXED_VALUE_TYPE_DOUBLE
    BOOL = _Indexed.INDEXED_VALUE_TYPE_BOOL
    DATETIME = _Indexed.INDEXED_VALUE_TYPE_DATETIME
    KEYWORD_LIST = _Indexed.INDEXED_VALUE_TYPE_KEYWORD_LIST


# Payload metadata "type" names as the server and the official SDKs write them.
_METADATA_TYPE_NAMES: dict[SearchAttributeIndexedValueType, str] = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}
_PYTHON_TYPES: dict[SearchAttributeIndexedValueType, Any] = {
    SearchAttributeIndexedValueType.TEXT: str,
    SearchAttributeIndexedValueType.KEYWORD: str,
    SearchAttributeIndexedValueType.INT: int,
    SearchAttributeIndexedValueType.DOUBLE: float,
    SearchAttributeIndexedValueType.BOOL: bool,
    SearchAttributeIndexedValueType.DATETIME: datetime,
    SearchAttributeIndexedValueType.KEYWORD_LIST: Sequence[str],
}


class SearchAttributeKey(ABC, Generic[SearchAttributeValueType]):
    """A search attribute's name and index type; make one with a ``for_*`` method."""

    @property
    @abstractmethod
    def name(self) -> str:
        """The attribute's name."""

    @property
    @abstractmethod
    def indexed_value_type(self) -> SearchAttributeIndexedValueType:
        """How the server indexes the attribute."""

    @property
    @abstractmethod
    def value_type(self) -> type[SearchAttributeValueType]:
        """The Python type of values (may be generic; see :py:attr:`origin_value_type`)."""

    @property
    def origin_value_type(self) -> type:
        """The value type without generics, usable with ``isinstance``."""
        origin = get_origin(self.value_type)
        return origin if origin is not None else self.value_type

    @property
    def _metadata_type(self) -> str:
        try:
            return _METADATA_TYPE_NAMES[self.indexed_value_type]
        except KeyError:
            raise ValueError(f"Unrecognized type: {self}") from None

    def value_set(
        self, value: SearchAttributeValueType
    ) -> SearchAttributeUpdate[SearchAttributeValueType]:
        """An update that sets this attribute to ``value``."""
        return _SearchAttributeUpdate(self, value)

    def value_unset(self) -> SearchAttributeUpdate[SearchAttributeValueType]:
        """An update that removes this attribute."""
        return _SearchAttributeUpdate(self, None)

    @staticmethod
    def for_text(name: str) -> SearchAttributeKey[str]:
        """A ``Text`` (full-text indexed) key."""
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.TEXT, str)

    @staticmethod
    def for_keyword(name: str) -> SearchAttributeKey[str]:
        """A ``Keyword`` (exact match) key."""
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.KEYWORD, str)

    @staticmethod
    def for_int(name: str) -> SearchAttributeKey[int]:
        """An ``Int`` key."""
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.INT, int)

    @staticmethod
    def for_float(name: str) -> SearchAttributeKey[float]:
        """A ``Double`` key."""
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.DOUBLE, float)

    @staticmethod
    def for_bool(name: str) -> SearchAttributeKey[bool]:
        """A ``Bool`` key."""
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.BOOL, bool)

    @staticmethod
    def for_datetime(name: str) -> SearchAttributeKey[datetime]:
        """A ``Datetime`` key."""
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.DATETIME, datetime)

    @staticmethod
    def for_keyword_list(name: str) -> SearchAttributeKey[Sequence[str]]:
        """A ``KeywordList`` key."""
        value_type: Any = Sequence[str]
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.KEYWORD_LIST, value_type)

    @staticmethod
    def _from_metadata_type(name: str, metadata_type: str) -> SearchAttributeKey | None:
        # Usually PascalCase ("KeywordList"), sometimes the enum name
        # ("INDEXED_VALUE_TYPE_KEYWORD_LIST").
        for indexed, type_name in _METADATA_TYPE_NAMES.items():
            enum_name = _Indexed.Name(indexed.value)  # type: ignore[arg-type]
            if metadata_type in (type_name, enum_name):
                return _SearchAttributeKey(name, indexed, _PYTHON_TYPES[indexed])
        return None

    @staticmethod
    def _guess_from_untyped_values(
        name: str, vals: SearchAttributeValues
    ) -> SearchAttributeKey | None:
        if not vals:
            return None
        first = vals[0]
        if len(vals) > 1:
            return SearchAttributeKey.for_keyword_list(name) if isinstance(first, str) else None
        if isinstance(first, str):
            return SearchAttributeKey.for_keyword(name)
        if isinstance(first, bool):
            return SearchAttributeKey.for_bool(name)
        if isinstance(first, int):
            return SearchAttributeKey.for_int(name)
        if isinstance(first, float):
            return SearchAttributeKey.for_float(name)
        if isinstance(first, datetime):
            return SearchAttributeKey.for_datetime(name)
        return None


@dataclass(frozen=True)
class _SearchAttributeKey(SearchAttributeKey[SearchAttributeValueType]):
    _name: str
    _indexed_value_type: SearchAttributeIndexedValueType
    _value_type: type[SearchAttributeValueType]

    @property
    def name(self) -> str:
        return self._name

    @property
    def indexed_value_type(self) -> SearchAttributeIndexedValueType:
        return self._indexed_value_type

    @property
    def value_type(self) -> type[SearchAttributeValueType]:
        return self._value_type


class SearchAttributePair(NamedTuple, Generic[SearchAttributeValueType]):
    """A typed search attribute key with its value."""

    key: SearchAttributeKey[SearchAttributeValueType]
    value: SearchAttributeValueType


class SearchAttributeUpdate(ABC, Generic[SearchAttributeValueType]):
    """A change to one search attribute: set a value, or unset it."""

    @property
    @abstractmethod
    def key(self) -> SearchAttributeKey[SearchAttributeValueType]:
        """The attribute being changed."""

    @property
    @abstractmethod
    def value(self) -> SearchAttributeValueType | None:
        """The new value, or ``None`` to unset."""


@dataclass(frozen=True)
class _SearchAttributeUpdate(SearchAttributeUpdate[SearchAttributeValueType]):
    _key: SearchAttributeKey[SearchAttributeValueType]
    _value: SearchAttributeValueType | None

    @property
    def key(self) -> SearchAttributeKey[SearchAttributeValueType]:
        return self._key

    @property
    def value(self) -> SearchAttributeValueType | None:
        return self._value


@dataclass(frozen=True)
class TypedSearchAttributes(Collection[SearchAttributePair]):
    """An immutable set of typed search attributes, sorted by name, names unique."""

    search_attributes: Sequence[SearchAttributePair]
    """The pairs, sorted by key name. Do not mutate; build a new instance instead."""

    empty: ClassVar[TypedSearchAttributes]
    """The empty collection."""

    def __post_init__(self) -> None:
        """Sort the pairs by name and refuse duplicate names."""
        pairs = sorted(self.search_attributes, key=lambda pair: pair.key.name)
        for before, after in itertools.pairwise(pairs):
            if before.key.name == after.key.name:
                raise ValueError(
                    f"Duplicate search attribute entries found for key {after.key.name}"
                )
        object.__setattr__(self, "search_attributes", pairs)

    def __len__(self) -> int:
        """Number of attributes."""
        return len(self.search_attributes)

    def __iter__(self) -> Iterator[SearchAttributePair]:
        """Iterate over the pairs in name order."""
        return iter(self.search_attributes)

    def __contains__(self, key: object) -> bool:
        """Whether a key equal to ``key`` (same name and type) is present."""
        return any(pair.key == key for pair in self.search_attributes)

    def __getitem__(
        self, key: SearchAttributeKey[SearchAttributeValueType]
    ) -> SearchAttributeValueType:
        """The value for ``key``; ``KeyError`` when absent."""
        for pair in self.search_attributes:
            if pair.key == key:
                value: SearchAttributeValueType = pair.value
                return value
        raise KeyError(key.name)

    @overload
    def get(
        self, key: SearchAttributeKey[SearchAttributeValueType]
    ) -> SearchAttributeValueType | None: ...

    @overload
    def get(
        self, key: SearchAttributeKey[SearchAttributeValueType], default: _T
    ) -> SearchAttributeValueType | _T: ...

    def get(self, key: SearchAttributeKey[SearchAttributeValueType], default: Any = None) -> Any:
        """The value for ``key``, or ``default`` when absent (like ``dict.get``)."""
        try:
            return self[key]
        except KeyError:
            return default

    def updated(self, *search_attributes: SearchAttributePair) -> TypedSearchAttributes:
        """A copy with these pairs added, replacing pairs of the same name."""
        by_name = {pair.key.name: pair for pair in self.search_attributes}
        for pair in search_attributes:
            by_name[pair.key.name] = pair
        return TypedSearchAttributes(list(by_name.values()))


TypedSearchAttributes.empty = TypedSearchAttributes(search_attributes=[])


def _warn_on_deprecated_search_attributes(attributes: object, stack_level: int = 2) -> None:
    """Warn once per call site that dict-based search attributes are deprecated."""
    if attributes and isinstance(attributes, Mapping):
        warnings.warn(
            "Dictionary-based search attributes are deprecated",
            DeprecationWarning,
            stacklevel=1 + stack_level,
        )
