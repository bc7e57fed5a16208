"""The operations behind OperatorService Add/Remove/ListSearchAttributes, as pure functions.

A namespace's custom search attributes are its alias map (column -> user's name, stored in
`NamespaceConfig.custom_search_attribute_aliases`); these functions return the new map and
leave persisting it to the caller. Messages and quirks follow the real server (SQL
visibility): adding an existing name is a no-op, removing an unknown one too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from temporalio.api.enums.v1 import IndexedValueType

from perdure.server.errors import InvalidArgument
from perdure.server.store.base import CUSTOM_COLUMN_SLOTS
from perdure.server.visibility import catalog as cat


def _camel(enum_name: str) -> str:
    suffix = enum_name.removeprefix("INDEXED_VALUE_TYPE_")
    return "".join(part.capitalize() for part in suffix.split("_"))


TYPE_NAMES: Mapping[int, str] = {n: _camel(name) for name, n in IndexedValueType.items()}
"""IndexedValueType number -> Temporal's type name (2 -> 'Keyword', 0 -> 'Unspecified')."""
TYPE_NUMBERS: Mapping[str, int] = {name: n for n, name in TYPE_NAMES.items()}
"""Temporal's type name -> IndexedValueType number."""


@dataclass(frozen=True, slots=True)
class SearchAttributeListing:
    """What ListSearchAttributes returns (name -> IndexedValueType number); the SQL
    visibility of the real server leaves `storage_schema` empty."""

    custom: dict[str, int]
    system: dict[str, int]


def list_search_attributes(aliases: Mapping[str, str]) -> SearchAttributeListing:
    """Custom attributes from the alias map; system ones as the real server lists them
    (its system and predefined attributes together)."""
    custom = {
        name: TYPE_NUMBERS[kind]
        for column, name in aliases.items()
        if (kind := cat.column_type(column)) is not None
    }
    system = {name: TYPE_NUMBERS[kind] for name, kind in cat.SYSTEM_TYPES.items()}
    system.update({name: TYPE_NUMBERS[kind] for name, kind in cat.PREDEFINED_TYPES.items()})
    return SearchAttributeListing(custom=custom, system=system)


def add_search_attributes(aliases: Mapping[str, str], to_add: Mapping[str, int]) -> dict[str, str]:
    """The alias map with `to_add` (name -> IndexedValueType) given free columns.

    All or nothing: any error leaves nothing added. A name already registered is skipped
    whatever its type (as the real server does). Columns are taken lowest first.
    """
    if not to_add:
        raise InvalidArgument("SearchAttributes are not set on request.")
    new = dict(aliases)
    taken = set(aliases.values())
    for name, number in sorted(to_add.items()):
        kind = TYPE_NAMES.get(number)
        if kind is None:
            raise InvalidArgument(f"Unknown search attribute type: {number}.")
        if not name:
            raise InvalidArgument("Search attribute name must not be empty.")
        if cat.is_reserved(name):
            raise InvalidArgument(f"Search attribute {name} is reserved by system.")
        if name in taken:
            continue
        slots = CUSTOM_COLUMN_SLOTS.get(kind, 0)
        free = next((c for c in _columns(kind, slots) if c not in new), None)
        if free is None:
            raise InvalidArgument(
                "Unable to create search attributes: cannot have more than "
                f"{slots} search attribute of type {kind}."
            )
        new[free] = name
        taken.add(name)
    return new


def remove_search_attributes(aliases: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """The alias map without `names`; unknown names are ignored, non-custom ones refused.

    The caller should also clear the freed columns of the namespace's visibility rows, or a
    later attribute given the same column would see the old values.
    """
    wanted = list(names)
    if not wanted:
        raise InvalidArgument("SearchAttributes are not set on request.")
    refused = [n for n in wanted if n in cat.SYSTEM_TYPES or n in cat.PREDEFINED_TYPES]
    if refused:
        raise InvalidArgument(
            f"Unable to remove non-custom search attributes: {', '.join(refused)}."
        )
    gone = set(wanted)
    return {column: name for column, name in aliases.items() if name not in gone}


def removed_columns(aliases: Mapping[str, str], names: Iterable[str]) -> list[str]:
    """The columns that removing `names` frees (to be set NULL in the namespace's rows)."""
    gone = set(names)
    return sorted(c for c, n in aliases.items() if n in gone and cat.column_type(c) is not None)


def _columns(kind: str, slots: int) -> list[str]:
    return [f"{kind}{i:02d}" for i in range(1, slots + 1)]
