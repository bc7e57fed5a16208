"""The asyncio tasks of one workflow run, named after it and cancelled on eviction."""

from __future__ import annotations

import asyncio
from typing import Any

from perdure.worker._workflow._mode import RunMode
from perdure.workflow import Info


class WorkflowTasks:
    """Every task created on the run's loop (the event loop's ``register_task`` hook)."""

    def __init__(self, info: Info, mode: RunMode) -> None:
        self._info = info
        self._mode = mode
        self._tasks: set[asyncio.Task[Any]] = set()

    def register(self, task: asyncio.Task[Any]) -> None:
        """Track ``task`` until it is done; its name says which run it belongs to."""
        self._mode.check_writable("create task", allow_during_eviction=True)
        info = self._info
        task.set_name(
            f"{task.get_name()} (workflow: {info.workflow_type}, id: {info.workflow_id}, "
            f"run: {info.run_id})"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if hasattr(task, "_log_destroy_pending"):
            task._log_destroy_pending = False

    def live(self) -> list[asyncio.Task[Any]]:
        """The tasks not done yet (for the stack trace queries)."""
        return list(self._tasks)

    def cancel_all(self) -> list[asyncio.Task[Any]]:
        """Cancel every live task (eviction); returns them."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        return tasks
