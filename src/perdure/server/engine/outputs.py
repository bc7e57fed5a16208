"""What the engine hands to the layer below: task and timer rows, and current-run facts.

The engine says what a transition needs persisted in its own terms; the history layer
maps these to the store's rows (server/history/rows.py). Keys are derived from what a
row is for (engine/deadlines.py), so a later transition can remove a row by key.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from perdure.server.engine.deadlines import TimerRef
from perdure.server.engine.state import Nanos


class TaskKind(enum.IntEnum):
    """Which poller a task is for (the numbers of Temporal's TaskQueueType)."""

    WORKFLOW = 1
    ACTIVITY = 2


@dataclass(frozen=True, slots=True)
class NewTask:
    """A workflow or activity task to put in a task queue."""

    key: str
    namespace_id: str
    task_queue: str
    kind: TaskKind
    workflow_id: str
    run_id: str
    scheduled_event_id: int
    created_time: Nanos
    expiry_time: Nanos | None = None
    """Schedule-to-start deadline, if any."""


@dataclass(frozen=True, slots=True)
class NewTimer:
    """A durable deadline (or deferred cross-execution work) of a run, due at `fire_time`."""

    key: str
    namespace_id: str
    workflow_id: str
    run_id: str
    fire_time: Nanos
    ref: TimerRef


class CurrentRun(Protocol):
    """What a start decision reads about a workflow id's current run (the history layer's
    current-execution record)."""

    @property
    def run_id(self) -> str: ...

    @property
    def status(self) -> int: ...

    @property
    def start_request_id(self) -> str: ...
