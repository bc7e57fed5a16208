"""The engine's tunable thresholds, with Temporal's defaults.

The composition root builds them from the server's dynamic config (server/dynamic_config.py,
Temporal's key names) and hands them to every transition through `Execution.settings`;
the engine never reads configuration itself.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class EngineSettings:
    suggest_continue_as_new_events: int = 4096
    """A workflow task that starts on a history of at least this many events suggests
    continue-as-new (limit.historyCount.suggestContinueAsNew)."""
    suggest_continue_as_new_bytes: int = 4 * MIB
    """... or of at least this many bytes (limit.historySize.suggestContinueAsNew)."""
    max_pending_activities: int = 2000
    """limit.numPendingActivities.error"""
    max_pending_children: int = 2000
    """limit.numPendingChildExecutions.error"""
    max_in_flight_updates: int = 10
    """history.maxInFlightUpdates"""
    max_total_updates: int = 2000
    """history.maxTotalUpdates"""


DEFAULT_SETTINGS = EngineSettings()
