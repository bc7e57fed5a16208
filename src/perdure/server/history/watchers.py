"""Wake-ups for history long polls (GetWorkflowExecutionHistory with wait_new_event)."""

from __future__ import annotations

import asyncio


class HistoryWatchers:
    """Callers wait on a run; every commit that writes events to it wakes them all."""

    def __init__(self) -> None:
        self._events: dict[tuple[str, str], asyncio.Event] = {}

    def notify(self, namespace_id: str, run_id: str) -> None:
        event = self._events.pop((namespace_id, run_id), None)
        if event is not None:
            event.set()

    def notify_all(self) -> None:
        """Wake every waiter to look again (commits of other processes may be unseen)."""
        events = list(self._events.values())
        self._events.clear()
        for event in events:
            event.set()

    async def wait(self, namespace_id: str, run_id: str, timeout: float) -> bool:
        """Wait for the next commit to the run; False on timeout.

        Callers check the run's state after registering and before waiting (use
        `waiter()`), so a commit between their check and the wait is not missed.
        """
        event = self.waiter(namespace_id, run_id)
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def waiter(self, namespace_id: str, run_id: str) -> asyncio.Event:
        key = (namespace_id, run_id)
        event = self._events.get(key)
        if event is None:
            event = self._events[key] = asyncio.Event()
        return event
