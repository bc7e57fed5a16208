"""Async activity completion RPCs (by task token, or by workflow/activity ids)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from temporalio.api.failure.v1 import message_pb2 as failure_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as ws

from perdure.activity import ActivityCancellationDetails
from perdure.common import _arg_unset
from perdure.converter import DataConverter

from ._activity import AsyncActivityIDReference
from ._errors import AsyncActivityCancelledError
from ._interceptor import (
    CompleteAsyncActivityInput,
    FailAsyncActivityInput,
    HeartbeatAsyncActivityInput,
    ReportCancellationAsyncActivityInput,
)

if TYPE_CHECKING:
    from perdure.client._client import Client


class _AsyncActivityCalls:
    """Mixin of the client implementation: async activity completion.

    Each call has a by-token RPC and a by-id RPC whose requests share their fields, so
    a request is built as ``(by_token_type, by_id_type)`` and the addressing is filled in.
    """

    _client: Client

    def _request(
        self,
        id_or_token: AsyncActivityIDReference | bytes,
        by_token: Any,
        by_id: Any,
        **fields: Any,
    ) -> Any:
        common = {"namespace": self._client.namespace, "identity": self._client.identity}
        if isinstance(id_or_token, AsyncActivityIDReference):
            return by_id(
                workflow_id=id_or_token.workflow_id or "",
                run_id=id_or_token.run_id or "",
                activity_id=id_or_token.activity_id,
                **common,
                **fields,
            )
        return by_token(task_token=id_or_token, **common, **fields)

    def _activity_converter(self, override: DataConverter | None) -> DataConverter:
        return override or self._client.data_converter

    async def heartbeat_async_activity(self, input: HeartbeatAsyncActivityInput) -> None:
        converter = self._activity_converter(input.data_converter_override)
        details = await converter.encode_wrapper(input.details) if input.details else None
        service = self._client.workflow_service
        request = self._request(
            input.id_or_token,
            ws.RecordActivityTaskHeartbeatRequest,
            ws.RecordActivityTaskHeartbeatByIdRequest,
            details=details,
        )
        call = (
            service.record_activity_task_heartbeat_by_id
            if isinstance(input.id_or_token, AsyncActivityIDReference)
            else service.record_activity_task_heartbeat
        )
        response = await call(
            request, retry=True, metadata=input.rpc_metadata, timeout=input.rpc_timeout
        )
        if response.cancel_requested or response.activity_paused or response.activity_reset:
            raise AsyncActivityCancelledError(
                details=ActivityCancellationDetails(
                    cancel_requested=response.cancel_requested,
                    paused=response.activity_paused,
                    reset=response.activity_reset,
                )
            )

    async def complete_async_activity(self, input: CompleteAsyncActivityInput) -> None:
        converter = self._activity_converter(input.data_converter_override)
        result = (
            None if input.result is _arg_unset else await converter.encode_wrapper([input.result])
        )
        service = self._client.workflow_service
        request = self._request(
            input.id_or_token,
            ws.RespondActivityTaskCompletedRequest,
            ws.RespondActivityTaskCompletedByIdRequest,
            result=result,
        )
        call = (
            service.respond_activity_task_completed_by_id
            if isinstance(input.id_or_token, AsyncActivityIDReference)
            else service.respond_activity_task_completed
        )
        await call(request, retry=True, metadata=input.rpc_metadata, timeout=input.rpc_timeout)

    async def fail_async_activity(self, input: FailAsyncActivityInput) -> None:
        converter = self._activity_converter(input.data_converter_override)
        failure = failure_pb.Failure()
        await converter.encode_failure(input.error, failure)
        details = (
            await converter.encode_wrapper(input.last_heartbeat_details)
            if input.last_heartbeat_details
            else None
        )
        service = self._client.workflow_service
        request = self._request(
            input.id_or_token,
            ws.RespondActivityTaskFailedRequest,
            ws.RespondActivityTaskFailedByIdRequest,
            failure=failure,
            last_heartbeat_details=details,
        )
        call = (
            service.respond_activity_task_failed_by_id
            if isinstance(input.id_or_token, AsyncActivityIDReference)
            else service.respond_activity_task_failed
        )
        await call(request, retry=True, metadata=input.rpc_metadata, timeout=input.rpc_timeout)

    async def report_cancellation_async_activity(
        self, input: ReportCancellationAsyncActivityInput
    ) -> None:
        converter = self._activity_converter(input.data_converter_override)
        details = await converter.encode_wrapper(input.details) if input.details else None
        service = self._client.workflow_service
        request = self._request(
            input.id_or_token,
            ws.RespondActivityTaskCanceledRequest,
            ws.RespondActivityTaskCanceledByIdRequest,
            details=details,
        )
        call = (
            service.respond_activity_task_canceled_by_id
            if isinstance(input.id_or_token, AsyncActivityIDReference)
            else service.respond_activity_task_canceled
        )
        await call(request, retry=True, metadata=input.rpc_metadata, timeout=input.rpc_timeout)
