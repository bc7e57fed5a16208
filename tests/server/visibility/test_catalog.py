"""The attribute catalog: types, columns and how query names resolve."""

from __future__ import annotations

import pytest

from perdure.server.store.base import (
    VISIBILITY_PREDEFINED_COLUMNS,
    VISIBILITY_SYSTEM_COLUMNS,
    custom_columns,
)
from perdure.server.visibility import catalog as cat


def test_every_column_of_the_store_contract_is_known() -> None:
    assert set(cat.SYSTEM_TYPES) == set(VISIBILITY_SYSTEM_COLUMNS)
    assert set(VISIBILITY_PREDEFINED_COLUMNS) <= set(cat.PREDEFINED_TYPES)
    assert cat.SETTABLE_PREDEFINED.issubset(cat.PREDEFINED_TYPES)
    assert all(cat.column_type(c) == c[:-2] for c in custom_columns())


@pytest.mark.parametrize("column", ["Keyword11", "Keyword00", "Bool4", "Foo01", "Keyword1a", ""])
def test_column_type_rejects_what_is_not_a_slot(column: str) -> None:
    assert cat.column_type(column) is None


def test_resolution_order() -> None:
    aliases = {"Keyword01": "CustomerId", "Int02": "ChangeVersion", "Bogus01": "Broken"}
    found = cat.resolve_for_query("CustomerId", aliases)
    assert found == cat.Attribute("CustomerId", "Keyword", "Keyword01", "custom")
    # A custom name wins over the shorthand for a predefined one.
    assert cat.resolve_for_query("ChangeVersion", aliases) == cat.Attribute(
        "ChangeVersion", "Int", "Int02", "custom"
    )
    assert cat.resolve_for_query("ChangeVersion", {}) == cat.Attribute(
        "TemporalChangeVersion", "KeywordList", "TemporalChangeVersion", "predefined"
    )
    assert cat.resolve_for_query("ScheduleId", {}) == cat.Attribute(
        "WorkflowId", "Keyword", "workflow_id", "system"
    )
    assert cat.resolve_for_query("Broken", aliases) is None
    assert cat.resolve_for_query("Keyword01", aliases) is None
    assert cat.resolve_for_query("TemporalNope", {}) is None


def test_predefined_attribute_without_a_column() -> None:
    found = cat.system_attribute("TemporalPauseInfo")
    assert found == cat.Attribute("TemporalPauseInfo", "KeywordList", None, "predefined")


def test_reserved_names() -> None:
    assert cat.is_reserved("WorkflowId")
    assert cat.is_reserved("BuildIds")
    assert cat.is_reserved("TemporalAnything")
    assert not cat.is_reserved("CustomerId")
