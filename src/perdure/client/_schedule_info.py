"""Schedules as read back (descriptions, listings) and the schedule handle."""

from __future__ import annotations

from abc import ABC
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.schedule.v1 import message_pb2 as schedule_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as ws

from perdure.common import SearchAttributes, TypedSearchAttributes, _arg_unset
from perdure.converter import (
    DataConverter,
    decode_search_attributes,
    decode_typed_search_attributes,
)

from ._interceptor import (
    BackfillScheduleInput,
    DeleteScheduleInput,
    DescribeScheduleInput,
    ListSchedulesInput,
    PauseScheduleInput,
    TriggerScheduleInput,
    UnpauseScheduleInput,
    UpdateScheduleInput,
)
from ._schedule import Schedule, ScheduleBackfill, ScheduleOverlapPolicy, ScheduleSpec, _utc

if TYPE_CHECKING:
    from perdure.client._client import Client

_T = TypeVar("_T")
_NO_METADATA: Mapping[str, str | bytes] = MappingProxyType({})


class _MemoReader:
    """``memo()`` and ``memo_value()`` over a proto memo."""

    data_converter: DataConverter

    def _raw_memo(self) -> common_pb.Memo:
        raise NotImplementedError

    async def memo(self) -> Mapping[str, Any]:
        """Every memo value, decoded without type hints."""
        return await self.data_converter._decode_memo(self._raw_memo())

    @overload
    async def memo_value(self, key: str, default: Any = _arg_unset) -> Any: ...

    @overload
    async def memo_value(self, key: str, *, type_hint: type[_T]) -> _T: ...

    @overload
    async def memo_value(self, key: str, default: Any, *, type_hint: type[_T]) -> Any: ...

    async def memo_value(
        self, key: str, default: Any = _arg_unset, *, type_hint: Any = None
    ) -> Any:
        """One memo value (``KeyError`` if absent without default)."""
        return await self.data_converter._decode_memo_field(
            self._raw_memo(), key, default, type_hint
        )


class ScheduleActionExecution(ABC):  # noqa: B024 - a marker base, like temporalio's
    """An action a schedule took (see :py:class:`ScheduleActionExecutionStartWorkflow`)."""


@dataclass
class ScheduleActionExecutionStartWorkflow(ScheduleActionExecution):
    """A workflow a schedule started."""

    workflow_id: str
    """Its workflow id."""
    first_execution_run_id: str
    """Its first run id."""

    @staticmethod
    def _from_proto(execution: common_pb.WorkflowExecution) -> ScheduleActionExecutionStartWorkflow:
        return ScheduleActionExecutionStartWorkflow(execution.workflow_id, execution.run_id)


@dataclass
class ScheduleActionResult:
    """One action taken: when it was due, when it happened, what it started."""

    scheduled_at: datetime
    """When it was due."""
    started_at: datetime
    """When it happened."""
    action: ScheduleActionExecution
    """What it started."""

    @staticmethod
    def _from_proto(result: schedule_pb.ScheduleActionResult) -> ScheduleActionResult:
        return ScheduleActionResult(
            scheduled_at=_utc(result.schedule_time),
            started_at=_utc(result.actual_time),
            action=ScheduleActionExecutionStartWorkflow._from_proto(result.start_workflow_result),
        )


@dataclass
class ScheduleInfo:
    """What a schedule has done and will do."""

    num_actions: int
    """Actions taken."""
    num_actions_missed_catchup_window: int
    """Actions skipped for being older than the catch-up window."""
    num_actions_skipped_overlap: int
    """Actions skipped by the overlap policy."""
    running_actions: Sequence[ScheduleActionExecution]
    """Workflows started by it that still run."""
    recent_actions: Sequence[ScheduleActionResult]
    """The latest actions, oldest first."""
    next_action_times: Sequence[datetime]
    """Upcoming action times."""
    created_at: datetime
    """Creation time."""
    last_updated_at: datetime | None
    """Last update time."""

    @staticmethod
    def _from_proto(info: schedule_pb.ScheduleInfo) -> ScheduleInfo:
        return ScheduleInfo(
            num_actions=info.action_count,
            num_actions_missed_catchup_window=info.missed_catchup_window,
            num_actions_skipped_overlap=info.overlap_skipped,
            running_actions=[
                ScheduleActionExecutionStartWorkflow._from_proto(w) for w in info.running_workflows
            ],
            recent_actions=[ScheduleActionResult._from_proto(r) for r in info.recent_actions],
            next_action_times=[_utc(t) for t in info.future_action_times],
            created_at=_utc(info.create_time),
            last_updated_at=_utc(info.update_time) if info.HasField("update_time") else None,
        )


@dataclass
class ScheduleDescription(_MemoReader):
    """A schedule as ``describe`` returns it."""

    id: str
    """Schedule id."""
    schedule: Schedule
    """The schedule."""
    info: ScheduleInfo
    """What it did and will do."""
    typed_search_attributes: TypedSearchAttributes
    """The schedule's search attributes."""
    search_attributes: SearchAttributes
    """Legacy form of the search attributes (deprecated)."""
    data_converter: DataConverter
    """The converter for the memo."""
    raw_description: ws.DescribeScheduleResponse
    """The proto this was read from."""

    def _raw_memo(self) -> common_pb.Memo:
        return self.raw_description.memo

    @staticmethod
    def _from_proto(
        id: str, description: ws.DescribeScheduleResponse, converter: DataConverter
    ) -> ScheduleDescription:
        return ScheduleDescription(
            id=id,
            schedule=Schedule._from_proto(description.schedule),
            info=ScheduleInfo._from_proto(description.info),
            typed_search_attributes=decode_typed_search_attributes(description.search_attributes),
            search_attributes=decode_search_attributes(description.search_attributes),
            data_converter=converter,
            raw_description=description,
        )


@dataclass
class ScheduleUpdateInput:
    """What an update callback receives."""

    description: ScheduleDescription
    """The current schedule."""


@dataclass
class ScheduleUpdate:
    """What an update callback returns."""

    schedule: Schedule
    """The new schedule."""
    search_attributes: TypedSearchAttributes | None = None
    """New search attributes (None: unchanged; empty: remove all)."""


class ScheduleListAction(ABC):  # noqa: B024 - a marker base, like temporalio's
    """A listed schedule's action (see :py:class:`ScheduleListActionStartWorkflow`)."""


@dataclass
class ScheduleListActionStartWorkflow(ScheduleListAction):
    """A listed schedule starts this workflow type."""

    workflow: str
    """The workflow type."""


@dataclass
class ScheduleListState:
    """A listed schedule's state."""

    note: str | None
    """Its note."""
    paused: bool
    """Whether it is paused."""


@dataclass
class ScheduleListSchedule:
    """A listed schedule's action, spec and state."""

    action: ScheduleListAction
    """What it does."""
    spec: ScheduleSpec
    """When."""
    state: ScheduleListState
    """Paused or not."""

    @staticmethod
    def _from_proto(info: schedule_pb.ScheduleListInfo) -> ScheduleListSchedule:
        if not info.HasField("workflow_type"):
            raise ValueError("Unknown action on schedule")
        return ScheduleListSchedule(
            action=ScheduleListActionStartWorkflow(workflow=info.workflow_type.name),
            spec=ScheduleSpec._from_proto(info.spec),
            state=ScheduleListState(note=info.notes or None, paused=info.paused),
        )


@dataclass
class ScheduleListInfo:
    """A listed schedule's recent and upcoming actions."""

    recent_actions: Sequence[ScheduleActionResult]
    """Latest actions, oldest first."""
    next_action_times: Sequence[datetime]
    """Upcoming action times."""

    @staticmethod
    def _from_proto(info: schedule_pb.ScheduleListInfo) -> ScheduleListInfo:
        return ScheduleListInfo(
            recent_actions=[ScheduleActionResult._from_proto(r) for r in info.recent_actions],
            next_action_times=[_utc(t) for t in info.future_action_times],
        )


@dataclass
class ScheduleListDescription(_MemoReader):
    """A schedule as ``list_schedules`` returns it."""

    id: str
    """Schedule id."""
    schedule: ScheduleListSchedule | None
    """Action, spec and state (absent on servers without advanced visibility)."""
    info: ScheduleListInfo | None
    """Recent and upcoming actions (same caveat)."""
    typed_search_attributes: TypedSearchAttributes
    """Search attributes."""
    search_attributes: SearchAttributes
    """Legacy form of the search attributes (deprecated)."""
    data_converter: DataConverter
    """The converter for the memo."""
    raw_entry: schedule_pb.ScheduleListEntry
    """The proto this was read from."""

    def _raw_memo(self) -> common_pb.Memo:
        return self.raw_entry.memo

    @staticmethod
    def _from_proto(
        entry: schedule_pb.ScheduleListEntry, converter: DataConverter
    ) -> ScheduleListDescription:
        has_info = entry.HasField("info")
        return ScheduleListDescription(
            id=entry.schedule_id,
            schedule=ScheduleListSchedule._from_proto(entry.info) if has_info else None,
            info=ScheduleListInfo._from_proto(entry.info) if has_info else None,
            typed_search_attributes=decode_typed_search_attributes(entry.search_attributes),
            search_attributes=decode_search_attributes(entry.search_attributes),
            data_converter=converter,
            raw_entry=entry,
        )


class ScheduleAsyncIterator:
    """Schedules of a ``list_schedules`` call, fetched page by page as iterated."""

    def __init__(self, client: Client, input: ListSchedulesInput) -> None:
        """Use :py:meth:`Client.list_schedules` rather than this."""
        self._client = client
        self._input = input
        self._next_page_token = input.next_page_token
        self._current_page: Sequence[ScheduleListDescription] | None = None
        self._current_page_index = 0

    @property
    def current_page_index(self) -> int:
        """Index in the current page of the next item."""
        return self._current_page_index

    @property
    def current_page(self) -> Sequence[ScheduleListDescription] | None:
        """The current page, once fetched."""
        return self._current_page

    @property
    def next_page_token(self) -> bytes | None:
        """The next page's token, if any."""
        return self._next_page_token

    async def fetch_next_page(self, *, page_size: int | None = None) -> None:
        """Fetch the next page."""
        response = await self._client.workflow_service.list_schedules(
            ws.ListSchedulesRequest(
                namespace=self._client.namespace,
                maximum_page_size=page_size or self._input.page_size,
                next_page_token=self._next_page_token or b"",
                query=self._input.query or "",
            ),
            retry=True,
            metadata=self._input.rpc_metadata,
            timeout=self._input.rpc_timeout,
        )
        self._current_page = [
            ScheduleListDescription._from_proto(entry, self._client.data_converter)
            for entry in response.schedules
        ]
        self._current_page_index = 0
        self._next_page_token = response.next_page_token or None

    def __aiter__(self) -> ScheduleAsyncIterator:
        """Iterate over the schedules."""
        return self

    async def __anext__(self) -> ScheduleListDescription:
        """The next schedule, fetching a page when needed."""
        while self._current_page is None or self._current_page_index >= len(self._current_page):
            if self._current_page is not None and self._next_page_token is None:
                raise StopAsyncIteration
            await self.fetch_next_page()
        entry = self._current_page[self._current_page_index]
        self._current_page_index += 1
        return entry


class ScheduleHandle:
    """A schedule to describe, pause, trigger, backfill, update or delete.

    Attributes:
        id: The schedule id.
    """

    def __init__(self, client: Client, id: str) -> None:
        """Use :py:meth:`Client.get_schedule_handle` or ``create_schedule``."""
        self._client = client
        self.id = id

    async def backfill(
        self,
        *backfill: ScheduleBackfill,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> None:
        """Take the actions of past periods as if they passed now."""
        if not backfill:
            raise ValueError("At least one backfill required")
        await self._client._impl.backfill_schedule(
            BackfillScheduleInput(self.id, backfill, rpc_metadata, rpc_timeout)
        )

    async def delete(
        self,
        *,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> None:
        """Delete the schedule (workflows it started keep running)."""
        await self._client._impl.delete_schedule(
            DeleteScheduleInput(self.id, rpc_metadata, rpc_timeout)
        )

    async def describe(
        self,
        *,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> ScheduleDescription:
        """The schedule and what it did."""
        return await self._client._impl.describe_schedule(
            DescribeScheduleInput(self.id, rpc_metadata, rpc_timeout)
        )

    async def pause(
        self,
        *,
        note: str | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> None:
        """Pause it, with a note."""
        await self._client._impl.pause_schedule(
            PauseScheduleInput(self.id, note, rpc_metadata, rpc_timeout)
        )

    async def trigger(
        self,
        *,
        overlap: ScheduleOverlapPolicy | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> None:
        """Take an action now (``overlap`` overrides the policy)."""
        await self._client._impl.trigger_schedule(
            TriggerScheduleInput(self.id, overlap, rpc_metadata, rpc_timeout)
        )

    async def unpause(
        self,
        *,
        note: str | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> None:
        """Resume it, with a note."""
        await self._client._impl.unpause_schedule(
            UnpauseScheduleInput(self.id, note, rpc_metadata, rpc_timeout)
        )

    async def update(
        self,
        updater: Callable[
            [ScheduleUpdateInput], ScheduleUpdate | Awaitable[ScheduleUpdate | None] | None
        ],
        *,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> None:
        """Change the schedule: ``updater`` gets the current description and returns the
        update (or None to leave it); it may be called more than once.
        """
        await self._client._impl.update_schedule(
            UpdateScheduleInput(self.id, updater, rpc_metadata, rpc_timeout)
        )
