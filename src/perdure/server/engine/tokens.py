"""Task tokens: the opaque bytes a worker hands back to complete a task.

A token names the execution and the exact task attempt it was issued for, so a late or
duplicate completion is recognised and refused instead of being applied to a newer
attempt. Tokens are msgpack tuples with a version tag.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import msgpack

from perdure.server.errors import InvalidArgument

_VERSION = 1


class TokenKind(enum.IntEnum):
    WORKFLOW_TASK = 1
    ACTIVITY_TASK = 2
    QUERY_TASK = 3


@dataclass(frozen=True, slots=True)
class TaskToken:
    kind: TokenKind
    namespace_id: str
    workflow_id: str
    run_id: str
    scheduled_event_id: int = 0
    """Workflow task: its seq; activity: the ActivityTaskScheduled event id."""
    attempt: int = 0
    started_event_id: int = 0
    """Workflow task: its started event id."""
    activity_id: str = ""
    query_id: str = ""

    def encode(self) -> bytes:
        return msgpack.packb(  # type: ignore[no-any-return]
            (
                _VERSION,
                int(self.kind),
                self.namespace_id,
                self.workflow_id,
                self.run_id,
                self.scheduled_event_id,
                self.attempt,
                self.started_event_id,
                self.activity_id,
                self.query_id,
            )
        )

    @classmethod
    def decode(cls, data: bytes) -> TaskToken:
        try:
            fields = msgpack.unpackb(data)
            if not isinstance(fields, list | tuple) or fields[0] != _VERSION:
                raise ValueError("unknown token version")
            _, kind, ns, wf, run, sched, attempt, started, activity_id, query_id = fields
            return cls(TokenKind(kind), ns, wf, run, sched, attempt, started, activity_id, query_id)
        except (ValueError, TypeError, msgpack.UnpackException, IndexError) as err:
            raise InvalidArgument("Error deserializing task token.") from err
