"""What a due timer does: the engine transition for each kind of timer row."""

from __future__ import annotations

import logging
from collections.abc import Callable

from perdure.server.engine import activities, closing, commands, runs, workflow_task
from perdure.server.engine.deadlines import TimerKind, TimerRef
from perdure.server.engine.execution import Execution
from perdure.server.errors import HistoryLimitExceeded, NamespaceNotFound, NotFound
from perdure.server.history.api.delete_workflow import expire
from perdure.server.history.outbox import OUTBOX_KINDS, Outbox
from perdure.server.history.service import HistoryService
from perdure.server.logs import execution_context
from perdure.server.namespaces import NamespaceRegistry
from perdure.server.store.base import TaskAlreadyClaimed, TimerRow

log = logging.getLogger(__name__)

_ACTIVITY = frozenset(
    {
        TimerKind.ACTIVITY_SCHEDULE_TO_START,
        TimerKind.ACTIVITY_SCHEDULE_TO_CLOSE,
        TimerKind.ACTIVITY_START_TO_CLOSE,
        TimerKind.ACTIVITY_HEARTBEAT,
        TimerKind.ACTIVITY_RETRY,
    }
)
_WORKFLOW_TASK = frozenset(
    {TimerKind.WORKFLOW_TASK_START_TO_CLOSE, TimerKind.WORKFLOW_TASK_SCHEDULE_TO_START}
)

Action = Callable[[Execution], None]


def action_for(ref: TimerRef, history: HistoryService) -> Action:
    kind = ref.kind
    if kind == TimerKind.USER_TIMER:
        return lambda ex: commands.fire_user_timer(ex, ref)
    if kind in _ACTIVITY:
        return lambda ex: activities.fire_timer(ex, ref)
    if kind in _WORKFLOW_TASK:
        return lambda ex: workflow_task.time_out(ex, ref)
    if kind in (TimerKind.WORKFLOW_RUN_TIMEOUT, TimerKind.WORKFLOW_EXECUTION_TIMEOUT):
        return lambda ex: closing.fire_timeout(ex, ref, history.new_id())
    if kind == TimerKind.WORKFLOW_BACKOFF:
        return lambda ex: runs.fire_backoff(ex, ref)
    raise ValueError(f"no handler for timer kind {kind!r}")


class TimerDispatcher:
    """Fires one timer row into its execution."""

    def __init__(self, history: HistoryService, namespaces: NamespaceRegistry) -> None:
        self._history = history
        self._namespaces = namespaces
        self._outbox = Outbox(history, namespaces)

    async def fire(self, row: TimerRow) -> None:
        with execution_context(workflow_id=row.workflow_id, run_id=row.run_id, timer=row.key):
            await self._fire(row)

    async def _fire(self, row: TimerRow) -> None:
        ref = TimerRef.decode(row.data)
        try:
            if ref.kind in OUTBOX_KINDS:
                await self._outbox.fire(row, ref)
                return
            ns = await self._namespaces.get_by_id(row.namespace_id)
            if ref.kind == TimerKind.DELETE_EXECUTION:
                await expire(self._history, ns, row.workflow_id, row.run_id, ref)
                return
            await self._history.update(
                ns, row.workflow_id, row.run_id, action_for(ref, self._history)
            )
        except (NotFound, NamespaceNotFound, HistoryLimitExceeded):
            # The run (or namespace) is gone, or was terminated instead of taking this
            # timer (its history was past a limit): its timers go with it.
            await self._history.store.delete_timers([row.key])
        except TaskAlreadyClaimed:
            # A later transition removed the timer (or another process fired it).
            log.debug("timer %s is gone; nothing to fire", row.key)
