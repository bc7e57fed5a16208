"""Temporal's dynamic config keys: values parsed as its CLI does, namespaces over defaults."""

from __future__ import annotations

import pytest

from perdure.server.dynamic_config import DynamicConfig, parse_flag
from perdure.server.engine.history_limits import HistoryLimits


def test_flags_parse_as_json_or_text() -> None:
    assert parse_flag("limit.historyCount.error=50") == ("limit.historyCount.error", 50)
    assert parse_flag("frontend.namespaceRPS=1.5") == ("frontend.namespaceRPS", 1.5)
    assert parse_flag("some.flag=true") == ("some.flag", True)
    assert parse_flag("some.name=hello") == ("some.name", "hello")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_flag("limit.historyCount.error")


def test_namespace_values_win_over_server_values_over_defaults() -> None:
    config = DynamicConfig(
        {"limit.historyCount.error": 100, "limit.historySize.warn": 7},
        {"orders": {"limit.historyCount.error": 10}},
    )
    assert config.history_limits("orders").count_error == 10
    assert config.history_limits("other").count_error == 100
    limits = config.history_limits("other")
    assert limits.size_warn == 7 and limits.count_warn == HistoryLimits().count_warn


def test_bad_values_and_unknown_keys() -> None:
    with pytest.raises(ValueError, match="must be a number"):
        DynamicConfig({"frontend.namespaceRPS": "fast"})
    with pytest.raises(ValueError, match="negative"):
        DynamicConfig({}, {"a": {"limit.historyCount.error": -1}})
    assert DynamicConfig({"history.foo": 1, "frontend.rps": 3}).unknown_keys() == ["history.foo"]


def test_blob_limits_and_temporals_nesting_of_warn_and_error() -> None:
    from perdure.server.errors import InvalidArgument
    from perdure.server.frontend.limits import check_blob

    limits = DynamicConfig(
        {"limit.blobSize.error": 1500, "limit.blobSize.warn": 1200}
    ).frontend_limits()
    check_blob(1500, "input", limits)
    with pytest.raises(InvalidArgument, match=r"^Blob data size exceeds limit\.$"):
        check_blob(1501, "input", limits)
    # An error limit under the warn limit does nothing, as in Temporal.
    lax = DynamicConfig({"limit.blobSize.error": 1500}).frontend_limits()
    check_blob(100_000, "input", lax)
