"""The running activity attempt a worker reports on, named by task token or by id.

Shared by the activity operations (complete, fail, cancel, heartbeat): each finds the
attempt under the run's lock and applies its transition; an attempt that is not running
(any more) is NotFound, as Temporal answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from perdure.server.engine import activities
from perdure.server.engine.execution import Execution
from perdure.server.engine.state import ActivityInfo
from perdure.server.engine.tokens import ActivityTaskToken
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ActivityByToken:
    """The attempt the poll response's task token names."""

    token: ActivityTaskToken


@dataclass(frozen=True, slots=True)
class ActivityById:
    """The running attempt of `activity_id` (the "ById" RPCs); an empty run id means the
    workflow's current run."""

    workflow_id: str
    run_id: str
    activity_id: str


StartedActivity = ActivityByToken | ActivityById


async def update_started_activity(
    history: HistoryService,
    ns: Namespace,
    target: StartedActivity,
    action: Callable[[Execution, ActivityInfo], T],
) -> T:
    """Apply `action` to the running attempt `target` names, and commit."""
    if isinstance(target, ActivityByToken):
        token = target.token

        def by_token(ex: Execution) -> T:
            return action(ex, activities.require_started(ex, token))

        return await history.update(ns, token.workflow_id, token.run_id, by_token)
    activity_id = target.activity_id

    def by_id(ex: Execution) -> T:
        return action(ex, activities.find_started_by_id(ex, activity_id))

    return await history.update(ns, target.workflow_id, target.run_id, by_id)
