"""server/dynamic_config.py: Temporal's dynamic config keys for Perdure's settings."""

from __future__ import annotations

import pytest

from perdure.server.dynamic_config import (
    DynamicConfig,
    DynamicConfigError,
    parse_flag,
    parse_flag_values,
    settings_from,
)
from perdure.server.engine.history_limits import HistoryLimits
from perdure.server.engine.settings import EngineSettings
from perdure.server.frontend.limits import Limits


def test_flag_values_are_json_or_bare_words() -> None:
    assert parse_flag_values(
        ["limit.historyCount.suggestContinueAsNew=100", "a.b=true", 'c="x"', "d=word"]
    ) == {"limit.historyCount.suggestContinueAsNew": 100, "a.b": True, "c": "x", "d": "word"}
    with pytest.raises(DynamicConfigError, match="is not KEY=VALUE"):
        parse_flag_values(["no-equals-sign"])


def test_known_keys_set_settings_and_unknown_ones_are_warned_about() -> None:
    settings = settings_from(
        {
            "limit.historyCount.suggestContinueAsNew": 100,
            "limit.historySize.suggestContinueAsNew": 2048,
            "limit.numPendingActivities.error": 5,
            "limit.blobSize.error": 1024,
            "frontend.enableUpdateWorkflowExecution": True,
            "matching.numTaskqueueReadPartitions": 4,
        }
    )
    assert settings.engine == EngineSettings(
        suggest_continue_as_new_events=100,
        suggest_continue_as_new_bytes=2048,
        max_pending_activities=5,
    )
    assert settings.limits == Limits(blob_size_error=1024)
    assert settings.warnings == (
        "dynamic config key 'matching.numTaskqueueReadPartitions' is not used by Perdure; ignored",
    )
    assert settings_from({}) == settings_from({}).__class__()


@pytest.mark.parametrize("value", ["many", -1, True, 1.5])
def test_a_setting_needs_a_non_negative_integer(value: object) -> None:
    with pytest.raises(DynamicConfigError, match="must be a non-negative integer"):
        settings_from({"limit.historyCount.suggestContinueAsNew": value})


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

    limits = (
        DynamicConfig({"limit.blobSize.error": 1500, "limit.blobSize.warn": 1200}).settings().limits
    )
    check_blob(1500, "input", limits)
    with pytest.raises(InvalidArgument, match=r"^Blob data size exceeds limit\.$"):
        check_blob(1501, "input", limits)
    # An error limit under the warn limit does nothing, as in Temporal.
    lax = DynamicConfig({"limit.blobSize.error": 1500}).settings().limits
    check_blob(100_000, "input", lax)
