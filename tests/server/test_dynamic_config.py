"""server/dynamic_config.py: Temporal's dynamic config keys for Perdure's settings."""

from __future__ import annotations

import pytest

from perdure.server.dynamic_config import (
    DynamicConfigError,
    parse_flag_values,
    settings_from,
)
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
