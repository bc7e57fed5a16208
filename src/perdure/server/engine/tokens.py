"""Task tokens: the opaque bytes a worker hands back to complete a task.

A token names the execution and the exact task attempt it was issued for, so a late or
duplicate completion is recognised and refused instead of being applied to a newer
attempt. There is one token type per kind of task; on the wire all three are one msgpack
tuple with a version tag: (version, kind, namespace id, workflow id, run id, number,
attempt, started event id, activity id, query id), where "number" is the workflow task's
seq or the activity's scheduled event id.
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


def _pack(
    kind: TokenKind,
    namespace_id: str,
    workflow_id: str,
    run_id: str,
    number: int = 0,
    attempt: int = 0,
    started_event_id: int = 0,
    activity_id: str = "",
    query_id: str = "",
) -> bytes:
    fields = (_VERSION, int(kind), namespace_id, workflow_id, run_id, number, attempt)
    return msgpack.packb((*fields, started_event_id, activity_id, query_id))  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class WorkflowTaskToken:
    namespace_id: str
    workflow_id: str
    run_id: str
    seq: int
    """The workflow task's number in its run (WorkflowTaskInfo.seq)."""
    attempt: int
    started_event_id: int

    def encode(self) -> bytes:
        return _pack(
            TokenKind.WORKFLOW_TASK,
            self.namespace_id,
            self.workflow_id,
            self.run_id,
            number=self.seq,
            attempt=self.attempt,
            started_event_id=self.started_event_id,
        )


@dataclass(frozen=True, slots=True)
class ActivityTaskToken:
    namespace_id: str
    workflow_id: str
    run_id: str
    scheduled_event_id: int
    attempt: int
    activity_id: str

    def encode(self) -> bytes:
        return _pack(
            TokenKind.ACTIVITY_TASK,
            self.namespace_id,
            self.workflow_id,
            self.run_id,
            number=self.scheduled_event_id,
            attempt=self.attempt,
            activity_id=self.activity_id,
        )


@dataclass(frozen=True, slots=True)
class QueryTaskToken:
    namespace_id: str
    workflow_id: str
    run_id: str
    query_id: str

    def encode(self) -> bytes:
        return _pack(
            TokenKind.QUERY_TASK,
            self.namespace_id,
            self.workflow_id,
            self.run_id,
            query_id=self.query_id,
        )


TaskToken = WorkflowTaskToken | ActivityTaskToken | QueryTaskToken


def decode(data: bytes) -> TaskToken:
    """The token `data` encodes; InvalidArgument if it is not one of ours."""
    try:
        fields = msgpack.unpackb(data)
        if not isinstance(fields, list | tuple) or fields[0] != _VERSION:
            raise ValueError("unknown token version")
        _, kind, ns, wf, run, number, attempt, started, activity_id, query_id = fields
        kind = TokenKind(kind)
    except (ValueError, TypeError, msgpack.UnpackException, IndexError) as err:
        raise InvalidArgument("Error deserializing task token.") from err
    if kind == TokenKind.WORKFLOW_TASK:
        return WorkflowTaskToken(ns, wf, run, number, attempt, started)
    if kind == TokenKind.ACTIVITY_TASK:
        return ActivityTaskToken(ns, wf, run, number, attempt, activity_id)
    return QueryTaskToken(ns, wf, run, query_id)


def decode_workflow_task(data: bytes) -> WorkflowTaskToken:
    token = decode(data)
    if not isinstance(token, WorkflowTaskToken):
        raise InvalidArgument("Task token is not for a workflow task.")
    return token


def decode_activity_task(data: bytes) -> ActivityTaskToken:
    token = decode(data)
    if not isinstance(token, ActivityTaskToken):
        raise InvalidArgument("Task token is not for an activity task.")
    return token


def decode_query_task(data: bytes) -> QueryTaskToken:
    token = decode(data)
    if not isinstance(token, QueryTaskToken):
        raise InvalidArgument("Task token is not for a query task.")
    return token
