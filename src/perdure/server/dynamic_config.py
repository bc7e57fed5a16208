"""Temporal's dynamic config keys, for the settings Perdure has.

Users of Temporal's dev server pass `--dynamic-config-value KEY=VALUE` (VALUE in JSON);
`perdure server start-dev` takes the same flag and `perdure server start` a
`[dynamic_config]` table in its TOML file. Keys naming a Perdure setting set it; keys for
behaviour Perdure always has (update, multi-operation, eager start) are accepted as they
are; any other key is ignored with a warning, so a command line written for Temporal's
dev server still starts Perdure.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from perdure.server.engine.settings import EngineSettings
from perdure.server.frontend.limits import Limits

ENGINE_KEYS: Mapping[str, str] = {
    "limit.historyCount.suggestContinueAsNew": "suggest_continue_as_new_events",
    "limit.historySize.suggestContinueAsNew": "suggest_continue_as_new_bytes",
    "limit.numPendingActivities.error": "max_pending_activities",
    "limit.numPendingChildExecutions.error": "max_pending_children",
    "history.maxInFlightUpdates": "max_in_flight_updates",
    "history.maxTotalUpdates": "max_total_updates",
}
"""Temporal key -> EngineSettings field."""

LIMIT_KEYS: Mapping[str, str] = {
    "limit.blobSize.error": "blob_size_error",
    "limit.memoSize.error": "memo_size_error",
    "limit.searchAttributesTotalSize.error": "search_attributes_size_error",
    "limit.maxIDLength": "max_id_length",
}
"""Temporal key -> frontend Limits field."""

ALWAYS_ON: frozenset[str] = frozenset(
    {
        "frontend.enableUpdateWorkflowExecution",
        "frontend.enableUpdateWorkflowExecutionAsyncAccepted",
        "frontend.enableExecuteMultiOperation",
        "system.enableEagerWorkflowStart",
        "system.forceSearchAttributesCacheRefreshOnRead",
        "frontend.enableWorkerVersioningWorkflowAPIs",
        "frontend.enableWorkerVersioningDataAPIs",
        "frontend.workerVersioningDataAPIs",
        "frontend.workerVersioningWorkflowAPIs",
    }
)
"""Keys users pass to turn on what Perdure always does (or accepts): nothing to set."""


class DynamicConfigError(ValueError):
    """A KEY=VALUE that cannot be read, or a value of the wrong type for its key."""


@dataclass(frozen=True)
class Settings:
    """What the dynamic config comes to: the engine's and the frontend's settings, and
    a warning for each key that was ignored."""

    engine: EngineSettings = field(default_factory=EngineSettings)
    limits: Limits = field(default_factory=Limits)
    warnings: tuple[str, ...] = ()


def parse_flag_values(items: Iterable[str]) -> dict[str, object]:
    """`KEY=VALUE` pairs as Temporal's CLI takes them (VALUE is JSON; a bare word is
    taken as a string, as the CLI's YAML-friendly parsing does)."""
    values: dict[str, object] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise DynamicConfigError(f"dynamic config value {item!r} is not KEY=VALUE")
        try:
            values[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            values[key.strip()] = text
    return values


def settings_from(values: Mapping[str, object]) -> Settings:
    """The settings `values` (Temporal key -> value) give; unknown keys are warned about."""
    engine: dict[str, int] = {}
    limits: dict[str, int] = {}
    warnings: list[str] = []
    for key, value in values.items():
        if key in ENGINE_KEYS:
            engine[ENGINE_KEYS[key]] = _int(key, value)
        elif key in LIMIT_KEYS:
            limits[LIMIT_KEYS[key]] = _int(key, value)
        elif key not in ALWAYS_ON:
            warnings.append(f"dynamic config key {key!r} is not used by Perdure; ignored")
    return Settings(
        engine=dataclasses.replace(EngineSettings(), **engine),
        limits=dataclasses.replace(Limits(), **limits),
        warnings=tuple(warnings),
    )


def _int(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DynamicConfigError(f"dynamic config {key} must be a non-negative integer")
    return value
