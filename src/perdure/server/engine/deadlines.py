"""Deadlines: what each row of the durable timer queue stands for.

A timer row names its purpose (`TimerRef`: a kind and up to two numbers such as a
scheduled event id and an attempt). The key is derived from the purpose, so the engine
can remove a timer it no longer needs, and a stale timer (an attempt that already ended)
is recognised when it fires.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import msgpack


class TimerKind(enum.IntEnum):
    USER_TIMER = 1
    """a = the TimerStarted event id."""
    ACTIVITY_SCHEDULE_TO_START = 2
    """a = scheduled event id, b = attempt."""
    ACTIVITY_SCHEDULE_TO_CLOSE = 3
    """a = scheduled event id."""
    ACTIVITY_START_TO_CLOSE = 4
    """a = scheduled event id, b = attempt."""
    ACTIVITY_HEARTBEAT = 5
    """a = scheduled event id, b = attempt."""
    ACTIVITY_RETRY = 6
    """a = scheduled event id, b = the attempt that starts when it fires."""
    WORKFLOW_TASK_START_TO_CLOSE = 7
    """a = workflow task seq."""
    WORKFLOW_TASK_SCHEDULE_TO_START = 8
    """a = workflow task seq (sticky queues only)."""
    WORKFLOW_RUN_TIMEOUT = 9
    WORKFLOW_EXECUTION_TIMEOUT = 10
    WORKFLOW_BACKOFF = 11
    """Start delay, retry or cron backoff: schedules the first workflow task."""
    # Work on other executions, deferred so that each commit stays within one execution.
    START_CHILD = 20
    """a = initiated event id."""
    SIGNAL_EXTERNAL = 21
    """a = initiated event id."""
    CANCEL_EXTERNAL = 22
    """a = initiated event id."""
    NOTIFY_PARENT = 23
    """Tell the parent that this child closed."""
    APPLY_PARENT_CLOSE_POLICY = 24
    """a = initiated event id of the child to terminate or cancel."""
    DELETE_EXECUTION = 25
    """Retention: remove the closed run."""


@dataclass(frozen=True, slots=True)
class TimerRef:
    kind: TimerKind
    a: int = 0
    b: int = 0

    def key(self, run_id: str) -> str:
        return f"{run_id}/t{int(self.kind)}/{self.a}/{self.b}"

    def encode(self) -> bytes:
        return msgpack.packb((int(self.kind), self.a, self.b))  # type: ignore[no-any-return]

    @classmethod
    def decode(cls, data: bytes) -> TimerRef:
        kind, a, b = msgpack.unpackb(data)
        return cls(TimerKind(kind), a, b)


def workflow_task_key(run_id: str, seq: int) -> str:
    """The task-queue row of a run's workflow task number `seq`."""
    return f"{run_id}/w/{seq}"


def activity_task_key(run_id: str, scheduled_event_id: int, attempt: int) -> str:
    """The task-queue row of one attempt of an activity."""
    return f"{run_id}/a/{scheduled_event_id}/{attempt}"


def parse_workflow_task_key(key: str) -> int:
    """The workflow task seq a task row key names."""
    return int(key.rsplit("/", 1)[1])


def parse_activity_task_key(key: str) -> tuple[int, int]:
    """(scheduled event id, attempt) of an activity task row key."""
    _, _, sched, attempt = key.rsplit("/", 3)
    return int(sched), int(attempt)
