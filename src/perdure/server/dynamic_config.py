"""Temporal's dynamic config keys, for the settings Perdure has, per namespace or
server-wide.

Users of Temporal's dev server pass `--dynamic-config-value KEY=VALUE` (VALUE in JSON);
`perdure server start-dev` and `start` take the same flag, and `start` also reads the
settings file's `[dynamic_config]` table, with `[dynamic_config.namespaces.NAME]` tables for
one namespace. Keys naming a Perdure setting set it; keys for behaviour Perdure always has
(update, multi-operation, eager start) are accepted as they are; any other key is ignored
with a warning, so a command line written for Temporal's dev server still starts Perdure.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from perdure.server.engine.history_limits import DEFAULT as DEFAULT_HISTORY
from perdure.server.engine.history_limits import HistoryLimits
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
    "limit.blobSize.warn": "blob_size_warn",
    "limit.memoSize.error": "memo_size_error",
    "limit.searchAttributesTotalSize.error": "search_attributes_size_error",
    "limit.maxIDLength": "max_id_length",
}
"""Temporal key -> frontend Limits field (server-wide)."""

NUMBER_KEYS: Mapping[str, str] = {
    "limit.historyCount.error": "terminate a run whose history has more events",
    "limit.historyCount.warn": "log when a history passes this many events",
    "limit.historySize.error": "terminate a run whose history has more bytes",
    "limit.historySize.warn": "log when a history passes this many bytes",
    "frontend.namespaceRPS": "requests per second one namespace may make (0: no limit)",
    "frontend.namespaceBurstRatio": "burst of frontend.namespaceRPS, as a multiple of it",
    "frontend.rps": "requests per second the whole server takes (0: no limit)",
    "perdure.clientRPS": "requests per second one client (credentials or address) may make",
}
"""Keys read as numbers where they are used (history limits per namespace, rates)."""

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

KNOWN: frozenset[str] = frozenset({*ENGINE_KEYS, *LIMIT_KEYS, *NUMBER_KEYS, *ALWAYS_ON})


class DynamicConfigError(ValueError):
    """A KEY=VALUE that cannot be read, or a value of the wrong type for its key."""


@dataclass(frozen=True)
class Settings:
    """What the server-wide values come to: the engine's and the frontend's settings, and
    a warning for each key that was ignored."""

    engine: EngineSettings = field(default_factory=EngineSettings)
    limits: Limits = field(default_factory=Limits)
    warnings: tuple[str, ...] = ()


def parse_value(text: str) -> object:
    """VALUE as Temporal's CLI reads it: JSON, else the text itself."""
    try:
        value: object = json.loads(text)
    except ValueError:
        return text
    return value


def parse_flag(text: str) -> tuple[str, object]:
    """`KEY=VALUE` -> (key, value)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise DynamicConfigError(f"dynamic config value {text!r} is not KEY=VALUE")
    return key.strip(), parse_value(value.strip())


def parse_flag_values(items: Iterable[str]) -> dict[str, object]:
    """Several `KEY=VALUE` pairs, the later over the earlier."""
    return dict(parse_flag(item) for item in items)


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
        elif key in NUMBER_KEYS:
            _number(key, value)
        elif key not in ALWAYS_ON:
            warnings.append(f"dynamic config key {key!r} is not used by Perdure; ignored")
    return Settings(
        engine=dataclasses.replace(EngineSettings(), **engine),
        limits=dataclasses.replace(Limits(), **limits),
        warnings=tuple(warnings),
    )


@dataclass(frozen=True)
class DynamicConfig:
    """The values server-wide, and per namespace over them; checked when made, so that a
    bad value stops the start with one line."""

    values: Mapping[str, object] = field(default_factory=dict)
    namespaces: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    """Namespace name -> its own values, over `values` (history limits)."""

    def __post_init__(self) -> None:
        settings_from(self.values)
        for ns in self.namespaces.values():
            for key, value in ns.items():
                if key in NUMBER_KEYS:
                    _number(key, value)

    def settings(self) -> Settings:
        return settings_from(self.values)

    def unknown_keys(self) -> list[str]:
        keys = set(self.values) | {k for ns in self.namespaces.values() for k in ns}
        return sorted(keys - KNOWN)

    def number(self, key: str, default: float, namespace: str | None = None) -> float:
        if namespace is not None and key in self.namespaces.get(namespace, {}):
            return _number(key, self.namespaces[namespace][key])
        if key in self.values:
            return _number(key, self.values[key])
        return default

    def history_limits(self, namespace: str) -> HistoryLimits:
        d = DEFAULT_HISTORY
        return HistoryLimits(
            count_warn=int(self.number("limit.historyCount.warn", d.count_warn, namespace)),
            count_error=int(self.number("limit.historyCount.error", d.count_error, namespace)),
            size_warn=int(self.number("limit.historySize.warn", d.size_warn, namespace)),
            size_error=int(self.number("limit.historySize.error", d.size_error, namespace)),
        )

    def with_defaults(self, defaults: Mapping[str, object]) -> DynamicConfig:
        """This config with `defaults` under its own values."""
        return DynamicConfig({**defaults, **self.values}, self.namespaces)


def _int(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DynamicConfigError(f"dynamic config {key} must be a non-negative integer")
    return value


def _number(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DynamicConfigError(f"dynamic config {key} must be a number, not {value!r}")
    if value < 0:
        raise DynamicConfigError(f"dynamic config {key} must not be negative")
    return float(value)
