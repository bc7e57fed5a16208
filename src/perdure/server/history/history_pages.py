"""Reading a run's history in pages, and the tokens that resume a page.

One token format for every reader: a workflow task's poll response hands out a token that
GetWorkflowExecutionHistory resumes (with the task's transient events at the end).
"""

from __future__ import annotations

import msgpack
from temporalio.api.history.v1 import message_pb2 as history_pb2

from perdure.server.engine.execution import HistoryEvent
from perdure.server.errors import InvalidArgument
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace
from perdure.server.store.base import ExecutionKey

_VERSION = 1


class PageToken:
    """Where the next page starts, where the read ends, and trailing transient events."""

    __slots__ = ("last_event_id", "next_event_id", "run_id", "transient")

    def __init__(
        self, run_id: str, next_event_id: int, last_event_id: int, transient: list[HistoryEvent]
    ) -> None:
        self.run_id = run_id
        self.next_event_id = next_event_id
        self.last_event_id = last_event_id
        self.transient = transient

    @classmethod
    def decode(cls, data: bytes) -> PageToken:
        try:
            version, run_id, next_id, last_id, transient = msgpack.unpackb(data)
            if version != _VERSION:
                raise ValueError(version)
            events = list(history_pb2.History.FromString(transient).events)
            return cls(run_id, next_id, last_id, events)
        except (ValueError, TypeError, msgpack.UnpackException) as err:
            raise InvalidArgument("Invalid NextPageToken.") from err


class HistoryPages:
    def __init__(self, history: HistoryService) -> None:
        self.history = history

    async def read(
        self, ns: Namespace, workflow_id: str, run_id: str, first: int, last: int, page: int
    ) -> list[HistoryEvent]:
        key = ExecutionKey(ns.id, workflow_id, run_id)
        return await self.history.read_events(key, first, last, page)

    @staticmethod
    def token(
        run_id: str, next_event_id: int, last_event_id: int, transient: list[HistoryEvent]
    ) -> bytes:
        data = history_pb2.History(events=transient).SerializeToString()
        return msgpack.packb((_VERSION, run_id, next_event_id, last_event_id, data))  # type: ignore[no-any-return]
