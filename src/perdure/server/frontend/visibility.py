"""Visibility RPCs (list, count, scan) and search attribute registration (OperatorService)."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import timestamp_pb2
from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.operatorservice.v1 import request_response_pb2 as op_rr
from temporalio.api.workflow.v1 import message_pb2 as workflow_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine.retry import duration
from perdure.server.errors import InvalidArgument
from perdure.server.frontend.context import FrontendContext
from perdure.server.frontend.deadline import Deadline
from perdure.server.namespaces import Namespace
from perdure.server.store.base import VisibilityRow
from perdure.server.visibility import (
    add_search_attributes,
    annotate_types,
    compile_query,
    list_search_attributes,
    remove_search_attributes,
    status_name,
)

DEFAULT_PAGE_SIZE = 1000


def execution_info(ns: Namespace, row: VisibilityRow) -> workflow_pb2.WorkflowExecutionInfo:
    """A list result, from the visibility row alone."""
    info = workflow_pb2.WorkflowExecutionInfo(
        status=row.status,  # type: ignore[arg-type]
        history_length=row.history_length,
        task_queue=row.task_queue,
        state_transition_count=row.state_transition_count,
        history_size_bytes=row.history_size_bytes,
    )
    info.execution.workflow_id = row.workflow_id
    info.execution.run_id = row.run_id
    info.type.name = row.workflow_type
    info.start_time.FromNanoseconds(row.start_time)
    info.execution_time.FromNanoseconds(row.execution_time)
    if row.close_time:
        info.close_time.FromNanoseconds(row.close_time)
    if row.execution_duration is not None:
        info.execution_duration.CopyFrom(duration(row.execution_duration))
    if row.memo:
        info.memo.MergeFromString(row.memo)
    if row.search_attributes:
        sa = common_pb2.SearchAttributes.FromString(row.search_attributes)
        if sa.indexed_fields:
            info.search_attributes.CopyFrom(annotate_types(sa, ns.search_attribute_aliases))
    if row.parent_workflow_id:
        info.parent_execution.workflow_id = row.parent_workflow_id
        info.parent_execution.run_id = row.parent_run_id or ""
    if row.root_workflow_id:
        info.root_execution.workflow_id = row.root_workflow_id
        info.root_execution.run_id = row.root_run_id
    return info


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class VisibilityRpcs(FrontendContext):
    visibility_dialect: str = "sqlite"

    async def _list(
        self, ns: Namespace, query: str, page_size: int, token: bytes
    ) -> tuple[list[workflow_pb2.WorkflowExecutionInfo], bytes]:
        compiled = compile_query(
            query, aliases=ns.search_attribute_aliases, dialect=self.visibility_dialect
        )
        page = await self.store.list_visibility(
            ns.id, compiled, page_size if page_size > 0 else DEFAULT_PAGE_SIZE, token
        )
        return [execution_info(ns, row) for row in page.items], page.next_page_token

    async def ListWorkflowExecutions(
        self, request: rr.ListWorkflowExecutionsRequest, deadline: Deadline
    ) -> rr.ListWorkflowExecutionsResponse:
        ns = await self.namespaces.get(request.namespace)
        items, token = await self._list(
            ns, request.query, request.page_size, request.next_page_token
        )
        return rr.ListWorkflowExecutionsResponse(executions=items, next_page_token=token)

    async def ScanWorkflowExecutions(
        self, request: rr.ScanWorkflowExecutionsRequest, deadline: Deadline
    ) -> rr.ScanWorkflowExecutionsResponse:
        ns = await self.namespaces.get(request.namespace)
        items, token = await self._list(
            ns, request.query, request.page_size, request.next_page_token
        )
        return rr.ScanWorkflowExecutionsResponse(executions=items, next_page_token=token)

    async def ListOpenWorkflowExecutions(
        self, request: rr.ListOpenWorkflowExecutionsRequest, deadline: Deadline
    ) -> rr.ListOpenWorkflowExecutionsResponse:
        ns = await self.namespaces.get(request.namespace)
        query = self._legacy_query(request, "ExecutionStatus = 'Running'", "StartTime")
        items, token = await self._list(
            ns, query, request.maximum_page_size, request.next_page_token
        )
        return rr.ListOpenWorkflowExecutionsResponse(executions=items, next_page_token=token)

    async def ListClosedWorkflowExecutions(
        self, request: rr.ListClosedWorkflowExecutionsRequest, deadline: Deadline
    ) -> rr.ListClosedWorkflowExecutionsResponse:
        ns = await self.namespaces.get(request.namespace)
        status = "ExecutionStatus != 'Running'"
        if request.HasField("status_filter"):
            name = status_name(request.status_filter.status)
            status = f"ExecutionStatus = {_quote(name)}"
        query = self._legacy_query(request, status, "CloseTime")
        items, token = await self._list(
            ns, query, request.maximum_page_size, request.next_page_token
        )
        return rr.ListClosedWorkflowExecutionsResponse(executions=items, next_page_token=token)

    @staticmethod
    def _legacy_query(request: Any, status: str, time_attribute: str) -> str:
        """The old filter-style list requests, as a query of the list-filter language."""
        parts = [status]
        if request.HasField("start_time_filter"):
            f = request.start_time_filter
            if f.HasField("earliest_time"):
                parts.append(f"{time_attribute} >= {_quote(_filter_time(f.earliest_time))}")
            if f.HasField("latest_time"):
                parts.append(f"{time_attribute} <= {_quote(_filter_time(f.latest_time))}")
        if request.HasField("execution_filter"):
            parts.append(f"WorkflowId = {_quote(request.execution_filter.workflow_id)}")
            if request.execution_filter.run_id:
                parts.append(f"RunId = {_quote(request.execution_filter.run_id)}")
        if request.HasField("type_filter"):
            parts.append(f"WorkflowType = {_quote(request.type_filter.name)}")
        return " AND ".join(parts)

    async def CountWorkflowExecutions(
        self, request: rr.CountWorkflowExecutionsRequest, deadline: Deadline
    ) -> rr.CountWorkflowExecutionsResponse:
        ns = await self.namespaces.get(request.namespace)
        compiled = compile_query(
            request.query,
            aliases=ns.search_attribute_aliases,
            dialect=self.visibility_dialect,
            for_count=True,
        )
        counts = await self.store.count_visibility(ns.id, compiled)
        resp = rr.CountWorkflowExecutionsResponse(count=sum(n for _, n in counts))
        if compiled.group_by:
            for values, n in counts:
                group = resp.groups.add(count=n)
                for value in values:
                    text = status_name(int(value)) if isinstance(value, int) else str(value)
                    group.group_values.add(
                        metadata={"encoding": b"json/plain", "type": b"Keyword"},
                        data=json.dumps(text).encode(),
                    )
        return resp

    async def GetSearchAttributes(
        self, request: rr.GetSearchAttributesRequest, deadline: Deadline
    ) -> rr.GetSearchAttributesResponse:
        listing = list_search_attributes({})
        return rr.GetSearchAttributesResponse(keys={**listing.system, **listing.custom})  # type: ignore[dict-item]

    # ------------------------------------------------------------------ OperatorService

    def _namespace_of(self, request: Any) -> str:
        if not request.namespace:
            raise InvalidArgument("Namespace is not set on request.")
        return str(request.namespace)

    async def AddSearchAttributes(
        self, request: op_rr.AddSearchAttributesRequest, deadline: Deadline
    ) -> op_rr.AddSearchAttributesResponse:
        if not request.search_attributes:
            raise InvalidArgument("SearchAttributes are not set on request.")
        to_add = dict(request.search_attributes)
        await self.namespaces.change_search_attribute_aliases(
            self._namespace_of(request), lambda aliases: add_search_attributes(aliases, to_add)
        )
        return op_rr.AddSearchAttributesResponse()

    async def RemoveSearchAttributes(
        self, request: op_rr.RemoveSearchAttributesRequest, deadline: Deadline
    ) -> op_rr.RemoveSearchAttributesResponse:
        if not request.search_attributes:
            raise InvalidArgument("SearchAttributes are not set on request.")
        names = list(request.search_attributes)
        await self.namespaces.change_search_attribute_aliases(
            self._namespace_of(request), lambda aliases: remove_search_attributes(aliases, names)
        )
        return op_rr.RemoveSearchAttributesResponse()

    async def ListSearchAttributes(
        self, request: op_rr.ListSearchAttributesRequest, deadline: Deadline
    ) -> op_rr.ListSearchAttributesResponse:
        ns = await self.namespaces.get(self._namespace_of(request))
        listing = list_search_attributes(ns.search_attribute_aliases)
        resp = op_rr.ListSearchAttributesResponse()
        resp.custom_attributes.update(listing.custom)  # type: ignore[arg-type]
        resp.system_attributes.update(listing.system)  # type: ignore[arg-type]
        return resp


def _filter_time(ts: timestamp_pb2.Timestamp) -> str:
    """A filter's time as the query language writes it: before year 1 is year 1 (Temporal
    lists nothing earlier); after 9999 is not a time its parser reads."""
    try:
        return str(ts.ToJsonString())
    except ValueError:
        if ts.seconds < 0:
            return "0001-01-01T00:00:00Z"
        raise InvalidArgument(
            f"invalid query: invalid expression: unable to parse datetime ({ts.seconds} s)"
        ) from None
