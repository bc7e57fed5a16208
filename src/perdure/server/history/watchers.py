"""Wake-ups for history long polls (GetWorkflowExecutionHistory with wait_new_event)."""

from __future__ import annotations

import asyncio


class HistoryWatchers:
    """Callers wait on a run; every commit that writes events to it wakes them all.

    Callers that only care about the run closing (a client waiting for a result) wait on
    close-only events, so that the many commits of a long run do not wake them each time.
    """

    def __init__(self) -> None:
        self._events: dict[tuple[str, str], asyncio.Event] = {}
        self._closes: dict[tuple[str, str], asyncio.Event] = {}

    def notify(self, namespace_id: str, run_id: str, *, closed: bool = True) -> None:
        """A commit to the run; `closed=False` when it certainly did not close the run."""
        key = (namespace_id, run_id)
        tables = (self._events, self._closes) if closed else (self._events,)
        for table in tables:
            event = table.pop(key, None)
            if event is not None:
                event.set()

    def notify_all(self) -> None:
        """Wake every waiter to look again (commits of other processes may be unseen)."""
        events = [*self._events.values(), *self._closes.values()]
        self._events.clear()
        self._closes.clear()
        for event in events:
            event.set()

    def waiter(self, namespace_id: str, run_id: str, *, close_only: bool = False) -> asyncio.Event:
        table = self._closes if close_only else self._events
        key = (namespace_id, run_id)
        event = table.get(key)
        if event is None:
            event = table[key] = asyncio.Event()
        return event
