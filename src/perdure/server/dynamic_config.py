"""Temporal's dynamic config keys that Perdure honours, per namespace or server-wide.

Set with `--dynamic-config-value KEY=VALUE` (as on `temporal server start-dev`) or in the
settings file's `[dynamic_config]` table, with `[dynamic_config.namespaces.NAME]` tables
for one namespace. Values are read as Temporal's CLI reads them (JSON: 50, 1.5, true,
"text"; anything else is a string). Keys Perdure does not use are accepted and reported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from perdure.server.engine.history_limits import DEFAULT as DEFAULT_HISTORY
from perdure.server.engine.history_limits import HistoryLimits
from perdure.server.frontend.limits import DEFAULT as DEFAULT_FRONTEND
from perdure.server.frontend.limits import Limits

KNOWN: dict[str, str] = {
    "limit.historyCount.error": "terminate a run whose history has more events",
    "limit.historyCount.warn": "log when a history passes this many events",
    "limit.historySize.error": "terminate a run whose history has more bytes",
    "limit.historySize.warn": "log when a history passes this many bytes",
    "limit.blobSize.error": "refuse a payload (input, result, details, failure) this big",
    "limit.blobSize.warn": "log a payload this big (and only then judge the error limit)",
    "frontend.namespaceRPS": "requests per second one namespace may make (0: no limit)",
    "frontend.namespaceBurstRatio": "burst of frontend.namespaceRPS, as a multiple of it",
    "frontend.rps": "requests per second the whole server takes (0: no limit)",
    "perdure.clientRPS": "requests per second one client (credentials or address) may make",
}


def parse_value(text: str) -> object:
    try:
        value: object = json.loads(text)
    except ValueError:
        return text
    return value


def parse_flag(text: str) -> tuple[str, object]:
    """`KEY=VALUE` -> (key, value); ValueError when there is no `=`."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), parse_value(value.strip())


def _number(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number, not {value!r}")
    if value < 0:
        raise ValueError(f"{key} must not be negative")
    return float(value)


@dataclass(frozen=True)
class DynamicConfig:
    values: Mapping[str, object] = field(default_factory=dict)
    namespaces: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    """Namespace name -> its own values, over `values`."""

    def __post_init__(self) -> None:
        for key, value in [
            *self.values.items(),
            *(kv for ns in self.namespaces.values() for kv in ns.items()),
        ]:
            if key in KNOWN:
                _number(key, value)

    def unknown_keys(self) -> list[str]:
        keys = set(self.values) | {k for ns in self.namespaces.values() for k in ns}
        return sorted(keys - set(KNOWN))

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

    def frontend_limits(self) -> Limits:
        """The payload size limit (server-wide); the memo's stays Temporal's default."""
        d = DEFAULT_FRONTEND
        return Limits(
            blob_size_error=int(self.number("limit.blobSize.error", d.blob_size_error)),
            blob_size_warn=int(self.number("limit.blobSize.warn", d.blob_size_warn)),
            memo_size_error=d.memo_size_error,
            search_attributes_size_error=d.search_attributes_size_error,
            max_id_length=d.max_id_length,
        )

    def with_defaults(self, defaults: Mapping[str, object]) -> DynamicConfig:
        """This config with `defaults` under its own values."""
        return DynamicConfig({**defaults, **self.values}, self.namespaces)
