"""What the client reads back about workflows: executions, descriptions, counts, histories."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Self, TypeVar, overload

from google.protobuf import json_format
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import workflow_pb2 as enums_workflow_pb
from temporalio.api.history.v1 import message_pb2 as history_pb
from temporalio.api.sdk.v1 import user_metadata_pb2
from temporalio.api.workflow.v1 import message_pb2 as workflow_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as ws

from perdure.common import SearchAttributes, SearchAttributeValue, TypedSearchAttributes, _arg_unset
from perdure.converter import (
    DataConverter,
    WorkflowSerializationContext,
    decode_search_attributes,
    decode_typed_search_attributes,
)
from perdure.converter._search_attributes import _decode_search_attribute_value

if TYPE_CHECKING:
    from perdure.client._client import Client
    from perdure.client._interceptor import FetchWorkflowHistoryEventsInput, ListWorkflowsInput

_T = TypeVar("_T")
_NO_METADATA: Mapping[str, str | bytes] = MappingProxyType({})
_Status = enums_workflow_pb.WorkflowExecutionStatus


class WorkflowExecutionStatus(IntEnum):
    """Where a workflow run stands."""

    RUNNING = _Status.WORKFLOW_EXECUTION_STATUS_RUNNING
    COMPLETED = _Status.WORKFLOW_EXECUTION_STATUS_COMPLETED
    FAILED = _Status.WORKFLOW_EXECUTION_STATUS_FAILED
    CANCELED = _Status.WORKFLOW_EXECUTION_STATUS_CANCELED
    TERMINATED = _Status.WORKFLOW_EXECUTION_STATUS_TERMINATED
    CONTINUED_AS_NEW = _Status.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW
    TIMED_OUT = _Status.WORKFLOW_EXECUTION_STATUS_TIMED_OUT


def _time(message: Any, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    return getattr(message, field).ToDatetime().replace(tzinfo=UTC)  # type: ignore[no-any-return]


@dataclass
class WorkflowExecution:
    """One workflow run, as listing and describing return it."""

    close_time: datetime | None
    """When the run closed, if it has."""
    execution_time: datetime | None
    """When the run started or is due to start (after a delay or cron wait)."""
    history_length: int
    """Events in the run's history."""
    id: str
    """Workflow id."""
    namespace: str
    """Namespace."""
    parent_id: str | None
    """The parent's workflow id, for child workflows."""
    parent_run_id: str | None
    """The parent's run id, for child workflows."""
    root_id: str | None
    """The root workflow's id."""
    root_run_id: str | None
    """The root workflow's run id."""
    raw_info: workflow_pb.WorkflowExecutionInfo
    """The proto this was read from."""
    run_id: str
    """Run id."""
    search_attributes: SearchAttributes
    """Search attributes in the legacy form (deprecated; see :py:attr:`typed_search_attributes`)."""
    start_time: datetime
    """When the run was created."""
    status: WorkflowExecutionStatus | None
    """The run's status."""
    task_queue: str
    """Task queue."""
    typed_search_attributes: TypedSearchAttributes
    """Search attributes."""
    workflow_type: str
    """Workflow type name."""
    _context_free_data_converter: DataConverter

    @property
    def data_converter(self) -> DataConverter:
        """The converter for this workflow's payloads (with its serialization context)."""
        return self._context_free_data_converter.with_context(
            WorkflowSerializationContext(namespace=self.namespace, workflow_id=self.id)
        )

    @classmethod
    def _from_raw_info(
        cls,
        info: workflow_pb.WorkflowExecutionInfo,
        namespace: str,
        converter: DataConverter,
        **additional_fields: Any,
    ) -> Self:
        parent = info.parent_execution if info.HasField("parent_execution") else None
        root = info.root_execution if info.HasField("root_execution") else None
        return cls(
            close_time=_time(info, "close_time"),
            execution_time=_time(info, "execution_time"),
            history_length=info.history_length,
            id=info.execution.workflow_id,
            namespace=namespace,
            parent_id=parent.workflow_id if parent else None,
            parent_run_id=parent.run_id if parent else None,
            root_id=root.workflow_id if root else None,
            root_run_id=root.run_id if root else None,
            raw_info=info,
            run_id=info.execution.run_id,
            search_attributes=decode_search_attributes(info.search_attributes),
            start_time=info.start_time.ToDatetime().replace(tzinfo=UTC),
            status=WorkflowExecutionStatus(info.status) if info.status else None,
            task_queue=info.task_queue,
            typed_search_attributes=decode_typed_search_attributes(info.search_attributes),
            workflow_type=info.type.name,
            _context_free_data_converter=converter,
            **additional_fields,
        )

    async def memo(self) -> Mapping[str, Any]:
        """Every memo value, decoded without type hints (dataclasses come back as dicts)."""
        return await self.data_converter._decode_memo(self.raw_info.memo)

    @overload
    async def memo_value(self, key: str, default: Any = _arg_unset) -> Any: ...

    @overload
    async def memo_value(self, key: str, *, type_hint: type[_T]) -> _T: ...

    @overload
    async def memo_value(self, key: str, default: Any, *, type_hint: type[_T]) -> Any: ...

    async def memo_value(
        self, key: str, default: Any = _arg_unset, *, type_hint: Any = None
    ) -> Any:
        """One memo value, decoded to ``type_hint`` if given.

        Raises:
            KeyError: the key is absent and no default was given.
        """
        return await self.data_converter._decode_memo_field(
            self.raw_info.memo, key, default, type_hint
        )


async def _encode_user_metadata(
    converter: DataConverter,
    summary: str | common_pb.Payload | None,
    details: str | common_pb.Payload | None,
) -> user_metadata_pb2.UserMetadata | None:
    """The UI summary/details of a workflow (or timer, activity...), as payloads."""
    if summary is None and details is None:
        return None
    metadata = user_metadata_pb2.UserMetadata()
    if summary is not None:
        metadata.summary.CopyFrom(
            summary
            if isinstance(summary, common_pb.Payload)
            else (await converter.encode([summary]))[0]
        )
    if details is not None:
        metadata.details.CopyFrom(
            details
            if isinstance(details, common_pb.Payload)
            else (await converter.encode([details]))[0]
        )
    return metadata


async def _decode_user_metadata(
    converter: DataConverter, metadata: user_metadata_pb2.UserMetadata | None
) -> tuple[str | None, str | None]:
    """(summary, details) of user metadata."""
    if metadata is None:
        return None, None
    summary = (
        (await converter.decode([metadata.summary]))[0] if metadata.HasField("summary") else None
    )
    details = (
        (await converter.decode([metadata.details]))[0] if metadata.HasField("details") else None
    )
    return summary, details


@dataclass
class WorkflowExecutionDescription(WorkflowExecution):
    """A workflow run as ``describe`` returns it."""

    raw_description: ws.DescribeWorkflowExecutionResponse
    """The proto this was read from."""
    _static_summary: str | None = None
    _static_details: str | None = None
    _metadata_decoded: bool = False

    async def static_summary(self) -> str | None:
        """The fixed one-line summary given at start, if any."""
        await self._decode_metadata()
        return self._static_summary

    async def static_details(self) -> str | None:
        """The fixed details given at start, if any."""
        await self._decode_metadata()
        return self._static_details

    async def _decode_metadata(self) -> None:
        if not self._metadata_decoded:
            self._static_summary, self._static_details = await _decode_user_metadata(
                self.data_converter, self.raw_description.execution_config.user_metadata
            )
            self._metadata_decoded = True

    @staticmethod
    async def _from_raw_description(
        description: ws.DescribeWorkflowExecutionResponse,
        namespace: str,
        converter: DataConverter,
    ) -> WorkflowExecutionDescription:
        return WorkflowExecutionDescription._from_raw_info(
            description.workflow_execution_info,
            namespace=namespace,
            converter=converter,
            raw_description=description,
        )


@dataclass
class WorkflowExecutionCountAggregationGroup:
    """One group of a ``GROUP BY`` count."""

    count: int
    """Approximate number of workflows in the group."""
    group_values: Sequence[SearchAttributeValue]
    """The group's search attribute values."""

    @staticmethod
    def _from_raw(
        raw: ws.CountWorkflowExecutionsResponse.AggregationGroup,
    ) -> WorkflowExecutionCountAggregationGroup:
        return WorkflowExecutionCountAggregationGroup(
            count=raw.count,
            group_values=[_decode_search_attribute_value(value) for value in raw.group_values],
        )


@dataclass
class WorkflowExecutionCount:
    """The answer of ``count_workflows``."""

    count: int
    """Approximate number of matching workflows (the sum of the groups, if grouped)."""
    groups: Sequence[WorkflowExecutionCountAggregationGroup]
    """Groups for a ``GROUP BY`` query, else empty."""

    @staticmethod
    def _from_raw(raw: ws.CountWorkflowExecutionsResponse) -> WorkflowExecutionCount:
        return WorkflowExecutionCount(
            count=raw.count,
            groups=[
                WorkflowExecutionCountAggregationGroup._from_raw(group) for group in raw.groups
            ],
        )


class WorkflowHistoryEventFilterType(IntEnum):
    """Which events a history fetch returns."""

    ALL_EVENT = enums_workflow_pb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT
    """Every event."""
    CLOSE_EVENT = enums_workflow_pb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT
    """Only the event that closed the run."""


class WorkflowExecutionAsyncIterator:
    """Workflow runs of a ``list_workflows`` query, fetched page by page as iterated."""

    def __init__(self, client: Client, input: ListWorkflowsInput) -> None:
        """Use :py:meth:`Client.list_workflows` rather than this."""
        self._client = client
        self._input = input
        self._next_page_token = input.next_page_token
        self._current_page: Sequence[WorkflowExecution] | None = None
        self._current_page_index = 0
        self._limit = input.limit
        self._yielded = 0

    @property
    def current_page_index(self) -> int:
        """Index in the current page of the next item to return."""
        return self._current_page_index

    @property
    def current_page(self) -> Sequence[WorkflowExecution] | None:
        """The current page, once fetched."""
        return self._current_page

    @property
    def next_page_token(self) -> bytes | None:
        """The token of the next page, if there is one."""
        return self._next_page_token

    async def fetch_next_page(self, *, page_size: int | None = None) -> None:
        """Fetch the next page (``page_size`` overrides the iterator's)."""
        size = page_size or self._input.page_size
        if self._limit is not None:
            size = min(size, self._limit - self._yielded)
        response = await self._client.workflow_service.list_workflow_executions(
            ws.ListWorkflowExecutionsRequest(
                namespace=self._client.namespace,
                page_size=size,
                next_page_token=self._next_page_token or b"",
                query=self._input.query or "",
            ),
            retry=True,
            metadata=self._input.rpc_metadata,
            timeout=self._input.rpc_timeout,
        )
        self._current_page = [
            WorkflowExecution._from_raw_info(
                info, self._client.namespace, self._client.data_converter
            )
            for info in response.executions
        ]
        self._current_page_index = 0
        self._next_page_token = response.next_page_token or None

    def __aiter__(self) -> WorkflowExecutionAsyncIterator:
        """Iterate over all matching runs."""
        return self

    async def __anext__(self) -> WorkflowExecution:
        """The next run, fetching a page when needed."""
        if self._limit is not None and self._yielded >= self._limit:
            raise StopAsyncIteration
        while self._current_page is None or self._current_page_index >= len(self._current_page):
            if self._current_page is not None and self._next_page_token is None:
                raise StopAsyncIteration
            await self.fetch_next_page()
        execution = self._current_page[self._current_page_index]
        self._current_page_index += 1
        self._yielded += 1
        return execution

    async def map_histories(
        self,
        *,
        event_filter_type: WorkflowHistoryEventFilterType | None = None,
        skip_archival: bool = False,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> AsyncIterator[WorkflowHistory]:
        """The history of each listed run, in turn."""
        async for execution in self:
            yield await self._client.get_workflow_handle(
                execution.id, run_id=execution.run_id
            ).fetch_history(
                event_filter_type=event_filter_type or WorkflowHistoryEventFilterType.ALL_EVENT,
                skip_archival=skip_archival,
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
            )


@dataclass(frozen=True)
class WorkflowHistory:
    """A workflow id and the events of one of its runs."""

    workflow_id: str
    """The workflow id."""
    events: Sequence[history_pb.HistoryEvent]
    """The events, in order."""

    @property
    def run_id(self) -> str:
        """The run id, read from the first (``WorkflowExecutionStarted``) event."""
        if not self.events:
            raise RuntimeError("No events")
        if not self.events[0].HasField("workflow_execution_started_event_attributes"):
            raise RuntimeError("First event is not workflow start")
        return self.events[0].workflow_execution_started_event_attributes.original_execution_run_id

    @staticmethod
    def from_json(workflow_id: str, history: str | dict[str, Any]) -> WorkflowHistory:
        """Read a history exported as JSON (CLI, UI, or :py:meth:`to_json`)."""
        from perdure.client._history_json import history_from_json

        return WorkflowHistory(workflow_id, list(history_from_json(history).events))

    def to_json(self) -> str:
        """The history in Temporal's JSON export format (without the workflow id)."""
        return json_format.MessageToJson(history_pb.History(events=self.events))

    def to_json_dict(self) -> dict[str, Any]:
        """:py:meth:`to_json` as a dict."""
        return json_format.MessageToDict(history_pb.History(events=self.events))


class WorkflowHistoryEventAsyncIterator:
    """History events, fetched page by page as iterated."""

    def __init__(self, client: Client, input: FetchWorkflowHistoryEventsInput) -> None:
        """Use :py:meth:`WorkflowHandle.fetch_history_events` rather than this."""
        self._client = client
        self._input = input
        self._next_page_token = input.next_page_token
        self._current_page: Sequence[history_pb.HistoryEvent] | None = None
        self._current_page_index = 0

    @property
    def current_page_index(self) -> int:
        """Index in the current page of the next event to return."""
        return self._current_page_index

    @property
    def current_page(self) -> Sequence[history_pb.HistoryEvent] | None:
        """The current page, once fetched."""
        return self._current_page

    @property
    def next_page_token(self) -> bytes | None:
        """The token of the next page, if there is one."""
        return self._next_page_token

    async def fetch_next_page(self, *, page_size: int | None = None) -> None:
        """Fetch the next page.

        A long poll (``wait_new_event``) that the server ends without an event returns
        an empty page with a token; iteration then simply asks again.
        """
        request = ws.GetWorkflowExecutionHistoryRequest(
            namespace=self._client.namespace,
            execution=common_pb.WorkflowExecution(
                workflow_id=self._input.id, run_id=self._input.run_id or ""
            ),
            maximum_page_size=page_size or self._input.page_size or 0,
            next_page_token=self._next_page_token or b"",
            wait_new_event=self._input.wait_new_event,
            history_event_filter_type=int(self._input.event_filter_type),  # type: ignore[arg-type]
            skip_archival=self._input.skip_archival,
        )
        response = await self._client.workflow_service.get_workflow_execution_history(
            request,
            retry=True,
            metadata=self._input.rpc_metadata,
            timeout=self._input.rpc_timeout,
        )
        self._current_page = list(response.history.events)
        self._current_page_index = 0
        self._next_page_token = response.next_page_token or None

    def __aiter__(self) -> WorkflowHistoryEventAsyncIterator:
        """Iterate over the events."""
        return self

    async def __anext__(self) -> history_pb.HistoryEvent:
        """The next event, fetching a page when needed."""
        while self._current_page is None or self._current_page_index >= len(self._current_page):
            if self._current_page is not None and self._next_page_token is None:
                raise StopAsyncIteration
            await self.fetch_next_page()
        event = self._current_page[self._current_page_index]
        self._current_page_index += 1
        return event
