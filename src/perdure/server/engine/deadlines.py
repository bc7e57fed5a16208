"""Deadlines: what each row of the durable timer queue stands for.

A timer row names its purpose (`TimerRef`: a kind, the event id or workflow task seq it
belongs to, and an attempt where attempts have deadlines of their own). The key is
derived from the purpose, so the engine can remove a timer it no longer needs, and a
stale timer (an attempt that already ended) is recognised when it fires.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import msgpack


class TimerKind(enum.IntEnum):
    USER_TIMER = 1
    """target_id = the TimerStarted event id."""
    ACTIVITY_SCHEDULE_TO_START = 2
    """target_id = scheduled event id; attempt = the attempt."""
    ACTIVITY_SCHEDULE_TO_CLOSE = 3
    """target_id = scheduled event id."""
    ACTIVITY_START_TO_CLOSE = 4
    """target_id = scheduled event id; attempt = the attempt."""
    ACTIVITY_HEARTBEAT = 5
    """target_id = scheduled event id; attempt = the attempt."""
    ACTIVITY_RETRY = 6
    """target_id = scheduled event id; attempt = the attempt that starts when it fires."""
    WORKFLOW_TASK_START_TO_CLOSE = 7
    """target_id = workflow task seq."""
    WORKFLOW_TASK_SCHEDULE_TO_START = 8
    """target_id = workflow task seq (sticky queues only)."""
    WORKFLOW_RUN_TIMEOUT = 9
    WORKFLOW_EXECUTION_TIMEOUT = 10
    WORKFLOW_BACKOFF = 11
    """Start delay, retry or cron backoff: schedules the first workflow task."""
    # Work on other executions, deferred so that each commit stays within one execution.
    START_CHILD = 20
    """target_id = initiated event id."""
    SIGNAL_EXTERNAL = 21
    """target_id = initiated event id."""
    CANCEL_EXTERNAL = 22
    """target_id = initiated event id."""
    NOTIFY_PARENT = 23
    """Tell the parent that this child closed."""
    APPLY_PARENT_CLOSE_POLICY = 24
    """target_id = initiated event id of the child to terminate or cancel."""
    DELETE_EXECUTION = 25
    """Retention: remove the closed run."""


@dataclass(frozen=True, slots=True)
class TimerRef:
    """What a timer row is for; the same purpose always gives the same key."""

    kind: TimerKind
    target_id: int = 0
    """The event id (or workflow task seq) the timer belongs to; `TimerKind` says which."""
    attempt: int = 0
    """The activity attempt it is a deadline of (0 for the other kinds)."""

    def key(self, run_id: str) -> str:
        return f"{run_id}/t{int(self.kind)}/{self.target_id}/{self.attempt}"

    def encode(self) -> bytes:
        return msgpack.packb((int(self.kind), self.target_id, self.attempt))  # type: ignore[no-any-return]

    @classmethod
    def decode(cls, data: bytes) -> TimerRef:
        kind, target_id, attempt = msgpack.unpackb(data)
        return cls(TimerKind(kind), target_id, attempt)


# Temporal's order of an activity's deadlines that fall on the same instant: its timeout
# types in enum order (start-to-close, schedule-to-start, schedule-to-close, heartbeat).
# So an activity that never started, whose schedule-to-start and schedule-to-close
# deadlines coincide (only schedule-to-close set), times out SCHEDULE_TO_START.
_EQUAL_DEADLINE_ORDER = (
    TimerKind.ACTIVITY_START_TO_CLOSE,
    TimerKind.ACTIVITY_SCHEDULE_TO_START,
    TimerKind.ACTIVITY_SCHEDULE_TO_CLOSE,
    TimerKind.ACTIVITY_HEARTBEAT,
)


def first_of_equal(kinds: Iterable[TimerKind]) -> TimerKind:
    """Of deadlines due at the same instant, the one that counts."""
    return min(kinds, key=_EQUAL_DEADLINE_ORDER.index)


def workflow_task_key(run_id: str, seq: int) -> str:
    """The task-queue row of a run's workflow task number `seq`."""
    return f"{run_id}/w/{seq}"


def activity_task_key(run_id: str, scheduled_event_id: int, attempt: int) -> str:
    """The task-queue row of one attempt of an activity."""
    return f"{run_id}/a/{scheduled_event_id}/{attempt}"


def parse_workflow_task_key(key: str) -> int:
    """The workflow task seq a task row key names."""
    return int(key.rsplit("/", 1)[1])


class ActivityTaskKey(NamedTuple):
    scheduled_event_id: int
    attempt: int


def parse_activity_task_key(key: str) -> ActivityTaskKey:
    """The activity attempt an activity task row key names."""
    _, _, sched, attempt = key.rsplit("/", 3)
    return ActivityTaskKey(int(sched), int(attempt))
