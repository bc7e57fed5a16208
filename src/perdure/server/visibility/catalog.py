"""Which search attributes exist, their Temporal types and the visibility columns behind them.

Three kinds, as in Temporal: system attributes (kept by the server in the row's own
columns, never set by users), predefined ones (Temporal's names, some set by SDKs or the
server, e.g. TemporalChangeVersion) and custom ones (a namespace's alias map sends a user's
name to a pre-allocated column such as Keyword01, whose prefix is its type).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from perdure.server.store.base import (
    CUSTOM_COLUMN_SLOTS,
    VISIBILITY_PREDEFINED_COLUMNS,
    VISIBILITY_SYSTEM_COLUMNS,
)

# Temporal's indexed value type names (IndexedValueType without its prefix).
KEYWORD = "Keyword"
TEXT = "Text"
INT = "Int"
DOUBLE = "Double"
BOOL = "Bool"
DATETIME = "Datetime"
KEYWORD_LIST = "KeywordList"

SYSTEM_TYPES: Mapping[str, str] = {
    "WorkflowId": KEYWORD,
    "RunId": KEYWORD,
    "WorkflowType": KEYWORD,
    "ExecutionStatus": KEYWORD,
    "StartTime": DATETIME,
    "ExecutionTime": DATETIME,
    "CloseTime": DATETIME,
    "ExecutionDuration": INT,
    "HistoryLength": INT,
    "HistorySizeBytes": INT,
    "StateTransitionCount": INT,
    "TaskQueue": KEYWORD,
    "ParentWorkflowId": KEYWORD,
    "ParentRunId": KEYWORD,
    "RootWorkflowId": KEYWORD,
    "RootRunId": KEYWORD,
}
"""Attributes the server fills from the execution itself (each has a row column)."""

PREDEFINED_TYPES: Mapping[str, str] = {
    "BatcherNamespace": KEYWORD,
    "BatcherUser": KEYWORD,
    "BinaryChecksums": KEYWORD_LIST,
    "BuildIds": KEYWORD_LIST,
    "TemporalChangeVersion": KEYWORD_LIST,
    "TemporalExternalPayloadCount": INT,
    "TemporalExternalPayloadSizeBytes": INT,
    "TemporalNamespaceDivision": KEYWORD,
    "TemporalPauseInfo": KEYWORD_LIST,
    "TemporalReportedProblems": KEYWORD_LIST,
    "TemporalSchedulePaused": BOOL,
    "TemporalScheduledById": KEYWORD,
    "TemporalScheduledStartTime": DATETIME,
    "TemporalUsedWorkerDeploymentVersions": KEYWORD_LIST,
    "TemporalWorkerDeployment": KEYWORD,
    "TemporalWorkerDeploymentVersion": KEYWORD,
    "TemporalWorkflowVersioningBehavior": KEYWORD,
}
"""Temporal's predefined attributes (ListSearchAttributes reports them as system ones)."""

SETTABLE_PREDEFINED: frozenset[str] = frozenset(
    {
        "BatcherNamespace",
        "BatcherUser",
        "BinaryChecksums",
        "BuildIds",
        "TemporalChangeVersion",
        "TemporalNamespaceDivision",
        "TemporalPauseInfo",
        "TemporalReportedProblems",
        "TemporalSchedulePaused",
        "TemporalScheduledById",
        "TemporalScheduledStartTime",
    }
)
"""Predefined attributes a start or upsert may carry (the real server refuses the rest with
"X attribute can't be set in SearchAttributes": the server sets those itself)."""

NAMESPACE_DIVISION = "TemporalNamespaceDivision"

_QUERY_ALIASES: Mapping[str, str] = {"ScheduleId": "WorkflowId"}
"""Extra names the real server accepts in queries (besides predefined names without their
'Temporal' prefix, e.g. ChangeVersion)."""

_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Attribute:
    """A search attribute as a query or a row sees it.

    `column` is None for a predefined attribute without a visibility column yet: it is
    always NULL in queries and kept only in the row's search attributes blob.
    """

    name: str
    type: str
    column: str | None
    kind: str  # "system", "predefined" or "custom"


def column_type(column: str) -> str | None:
    """The type of a custom column from its name ('KeywordList02' -> 'KeywordList')."""
    prefix, digits = column[:-2], column[-2:]
    slots = CUSTOM_COLUMN_SLOTS.get(prefix)
    if slots is None or not digits.isdigit() or not 1 <= int(digits) <= slots:
        return None
    return prefix


def _safe(column: str) -> str:
    # Names reach SQL text only from base.py's column sets; refuse anything else loudly.
    if not _COLUMN_NAME.fullmatch(column):
        raise ValueError(f"unsafe visibility column name {column!r}")
    return column


def system_attribute(name: str) -> Attribute | None:
    """A system or predefined attribute by its exact name."""
    if name in SYSTEM_TYPES:
        return Attribute(name, SYSTEM_TYPES[name], _safe(VISIBILITY_SYSTEM_COLUMNS[name]), "system")
    if name in PREDEFINED_TYPES:
        column = VISIBILITY_PREDEFINED_COLUMNS.get(name)
        return Attribute(
            name, PREDEFINED_TYPES[name], None if column is None else _safe(column), "predefined"
        )
    return None


def is_reserved(name: str) -> bool:
    """System and predefined names, and everything starting with 'Temporal'."""
    return name in SYSTEM_TYPES or name in PREDEFINED_TYPES or name.startswith("Temporal")


def custom_attribute(name: str, aliases: Mapping[str, str]) -> Attribute | None:
    """A namespace's custom attribute through its alias map (column -> user's name)."""
    for column, alias in aliases.items():
        if alias == name:
            kind = column_type(column)
            return None if kind is None else Attribute(name, kind, _safe(column), "custom")
    return None


def resolve_for_query(name: str, aliases: Mapping[str, str]) -> Attribute | None:
    """The attribute a query names: system, predefined, custom, then the real server's
    shorthands (a predefined name without 'Temporal', ScheduleId for WorkflowId)."""
    found = system_attribute(name) or custom_attribute(name, aliases)
    if found is None and name in _QUERY_ALIASES:
        found = system_attribute(_QUERY_ALIASES[name])
    if found is None and not name.startswith("Temporal"):
        found = system_attribute("Temporal" + name)
    return found
