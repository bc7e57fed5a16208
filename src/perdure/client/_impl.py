"""The innermost outbound interceptor: turns each client call into RPCs.

Requests are built as Temporal API protos and sent through the client's
:py:class:`~perdure.service.ServiceClient` only, so the same code serves the gRPC
transport and the in-process embedded server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import update_pb2 as enums_update_pb
from temporalio.api.errordetails.v1 import message_pb2 as errordetails_pb
from temporalio.api.failure.v1 import message_pb2 as failure_pb
from temporalio.api.update.v1 import message_pb2 as update_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as ws

from perdure.common import HeaderCodecBehavior
from perdure.converter import DataConverter, WorkflowSerializationContext, encode_search_attributes
from perdure.exceptions import WorkflowAlreadyStartedError
from perdure.service import RPCError, RPCStatusCode

from ._errors import (
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from ._executions import (
    WorkflowExecutionAsyncIterator,
    WorkflowExecutionCount,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHistoryEventAsyncIterator,
    _encode_user_metadata,
)
from ._impl_activity import _AsyncActivityCalls
from ._impl_schedule import _ScheduleCalls
from ._interceptor import (
    CancelWorkflowInput,
    CountWorkflowsInput,
    DescribeWorkflowInput,
    FetchWorkflowHistoryEventsInput,
    ListWorkflowsInput,
    OutboundInterceptor,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    StartWorkflowUpdateWithStartInput,
    TerminateWorkflowInput,
    UpdateWithStartStartWorkflowInput,
    UpdateWithStartUpdateWorkflowInput,
)
from ._workflow import WorkflowHandle, WorkflowUpdateHandle, WorkflowUpdateStage

if TYPE_CHECKING:
    from perdure.client._client import Client

_ACCEPTED = enums_update_pb.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED


def _execution(workflow_id: str, run_id: str | None) -> common_pb.WorkflowExecution:
    return common_pb.WorkflowExecution(workflow_id=workflow_id, run_id=run_id or "")


def _already_started(err: RPCError, workflow_id: str, workflow_type: str) -> Exception | None:
    """``WorkflowAlreadyStartedError`` if the status carries that detail."""
    details = err.grpc_status.details if err.raw_grpc_status else []
    started = errordetails_pb.WorkflowExecutionAlreadyStartedFailure()
    if details and details[0].Unpack(started):
        return WorkflowAlreadyStartedError(
            workflow_id,
            workflow_type,
            run_id=started.run_id,
            first_run_id=started.first_execution_run_id or None,
        )
    return None


class _ClientImpl(_AsyncActivityCalls, _ScheduleCalls, OutboundInterceptor):
    """Sends the calls; every other interceptor wraps this one."""

    def __init__(self, client: Client) -> None:  # no next: this is the end of the chain
        self._client = client

    def _converter(self, workflow_id: str) -> DataConverter:
        return self._client.data_converter.with_context(
            WorkflowSerializationContext(namespace=self._client.namespace, workflow_id=workflow_id)
        )

    async def _apply_headers(
        self, source: Mapping[str, common_pb.Payload] | None, dest: Any
    ) -> None:
        """Copy headers into a request, through the codec if the client asks for it."""
        if not source:
            return
        codec = self._client.data_converter.payload_codec
        encode = self._client._config["header_codec_behavior"] == HeaderCodecBehavior.CODEC
        for key, payload in source.items():
            if encode and codec is not None:
                payload = (await codec.encode([payload]))[0]
            dest[key].CopyFrom(payload)

    # ------------------------------------------------------------------ start

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        request: ws.StartWorkflowExecutionRequest | ws.SignalWithStartWorkflowExecutionRequest
        service = self._client.workflow_service
        eager = None
        if input.request_eager_start and input.start_signal is None:
            starter = self._client._eager_workflow_starters.get(input.task_queue)
            if starter is not None and starter.try_reserve_eager_workflow_slot(input.task_queue):
                eager = starter
        try:
            if input.start_signal is not None:
                request = ws.SignalWithStartWorkflowExecutionRequest(signal_name=input.start_signal)
                if input.start_signal_args:
                    request.signal_input.payloads.extend(
                        await self._converter(input.id).encode(input.start_signal_args)
                    )
                await self._fill_start_request(request, input)
                response: Any = await service.signal_with_start_workflow_execution(
                    request, retry=True, metadata=input.rpc_metadata, timeout=input.rpc_timeout
                )
                first_run_id = response.first_execution_run_id or (
                    response.run_id if response.started else None
                )
            else:
                # Eager start only when a local worker took a slot: otherwise the task the
                # server hands back would wait for its timeout.
                request = ws.StartWorkflowExecutionRequest(
                    request_eager_execution=eager is not None
                )
                await self._fill_start_request(request, input)
                response = await service.start_workflow_execution(
                    request, retry=True, metadata=input.rpc_metadata, timeout=input.rpc_timeout
                )
                first_run_id = response.first_execution_run_id or response.run_id
        except RPCError as err:
            if eager is not None:
                eager.release_eager_workflow_slot()
            if err.status == RPCStatusCode.ALREADY_EXISTS:
                already = _already_started(err, input.id, input.workflow)
                if already is not None:
                    raise already from None
            raise
        except BaseException:
            if eager is not None:
                eager.release_eager_workflow_slot()
            raise
        if eager is not None:
            if response.HasField("eager_workflow_task"):
                eager.handle_eager_workflow_task(response.eager_workflow_task)
            else:
                eager.release_eager_workflow_slot()
        return WorkflowHandle(
            self._client,
            request.workflow_id,
            result_run_id=response.run_id,
            first_execution_run_id=first_run_id,
            result_type=input.ret_type,
            start_workflow_response=response,
        )

    async def _fill_start_request(
        self,
        request: ws.StartWorkflowExecutionRequest | ws.SignalWithStartWorkflowExecutionRequest,
        input: StartWorkflowInput | UpdateWithStartStartWorkflowInput,
    ) -> None:
        converter = self._converter(input.id)
        request.namespace = self._client.namespace
        request.workflow_id = input.id
        request.workflow_type.name = input.workflow
        request.task_queue.name = input.task_queue
        if input.args:
            request.input.payloads.extend(await converter.encode(input.args))
        if input.execution_timeout is not None:
            request.workflow_execution_timeout.FromTimedelta(input.execution_timeout)
        if input.run_timeout is not None:
            request.workflow_run_timeout.FromTimedelta(input.run_timeout)
        if input.task_timeout is not None:
            request.workflow_task_timeout.FromTimedelta(input.task_timeout)
        request.identity = self._client.identity
        request.request_id = str(uuid.uuid4())
        request.workflow_id_reuse_policy = int(input.id_reuse_policy)  # type: ignore[assignment]
        request.workflow_id_conflict_policy = int(input.id_conflict_policy)  # type: ignore[assignment]
        if input.retry_policy is not None:
            input.retry_policy.apply_to_proto(request.retry_policy)
        request.cron_schedule = input.cron_schedule
        if input.memo is not None:
            await converter._encode_memo_existing(input.memo, request.memo)
        if input.search_attributes is not None:
            encode_search_attributes(input.search_attributes, request.search_attributes)
        metadata = await _encode_user_metadata(
            converter, input.static_summary, input.static_details
        )
        if metadata is not None:
            request.user_metadata.CopyFrom(metadata)
        if input.start_delay is not None:
            request.workflow_start_delay.FromTimedelta(input.start_delay)
        await self._apply_headers(input.headers, request.header.fields)
        request.priority.CopyFrom(input.priority._to_proto())
        if input.versioning_override is not None:
            request.versioning_override.CopyFrom(input.versioning_override._to_proto())

    # ------------------------------------------------------------------ other workflow calls

    async def cancel_workflow(self, input: CancelWorkflowInput) -> None:
        await self._client.workflow_service.request_cancel_workflow_execution(
            ws.RequestCancelWorkflowExecutionRequest(
                namespace=self._client.namespace,
                workflow_execution=_execution(input.id, input.run_id),
                identity=self._client.identity,
                request_id=str(uuid.uuid4()),
                first_execution_run_id=input.first_execution_run_id or "",
                reason=input.reason,
            ),
            retry=True,
            metadata=input.rpc_metadata,
            timeout=input.rpc_timeout,
        )

    async def describe_workflow(self, input: DescribeWorkflowInput) -> WorkflowExecutionDescription:
        response = await self._client.workflow_service.describe_workflow_execution(
            ws.DescribeWorkflowExecutionRequest(
                namespace=self._client.namespace, execution=_execution(input.id, input.run_id)
            ),
            retry=True,
            metadata=input.rpc_metadata,
            timeout=input.rpc_timeout,
        )
        return await WorkflowExecutionDescription._from_raw_description(
            response, namespace=self._client.namespace, converter=self._client.data_converter
        )

    def fetch_workflow_history_events(
        self, input: FetchWorkflowHistoryEventsInput
    ) -> WorkflowHistoryEventAsyncIterator:
        return WorkflowHistoryEventAsyncIterator(self._client, input)

    def list_workflows(self, input: ListWorkflowsInput) -> WorkflowExecutionAsyncIterator:
        return WorkflowExecutionAsyncIterator(self._client, input)

    async def count_workflows(self, input: CountWorkflowsInput) -> WorkflowExecutionCount:
        response = await self._client.workflow_service.count_workflow_executions(
            ws.CountWorkflowExecutionsRequest(
                namespace=self._client.namespace, query=input.query or ""
            ),
            retry=True,
            metadata=input.rpc_metadata,
            timeout=input.rpc_timeout,
        )
        return WorkflowExecutionCount._from_raw(response)

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        converter = self._converter(input.id)
        request = ws.QueryWorkflowRequest(
            namespace=self._client.namespace, execution=_execution(input.id, input.run_id)
        )
        if input.reject_condition:
            request.query_reject_condition = int(input.reject_condition)  # type: ignore[assignment]
        request.query.query_type = input.query
        if input.args:
            request.query.query_args.payloads.extend(await converter.encode(input.args))
        await self._apply_headers(input.headers, request.query.header.fields)
        try:
            response = await self._client.workflow_service.query_workflow(
                request, retry=True, metadata=input.rpc_metadata, timeout=input.rpc_timeout
            )
        except RPCError as err:
            if err.status == RPCStatusCode.INVALID_ARGUMENT:
                raise WorkflowQueryFailedError(err.message) from None
            raise
        if response.HasField("query_rejected"):
            status = response.query_rejected.status
            raise WorkflowQueryRejectedError(WorkflowExecutionStatus(status) if status else None)
        if not response.query_result.payloads:
            return None
        hints = [input.ret_type] if input.ret_type else None
        values = await converter.decode(response.query_result.payloads, hints)
        return values[0] if values else None

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        request = ws.SignalWorkflowExecutionRequest(
            namespace=self._client.namespace,
            workflow_execution=_execution(input.id, input.run_id),
            signal_name=input.signal,
            identity=self._client.identity,
            request_id=str(uuid.uuid4()),
        )
        if input.args:
            request.input.payloads.extend(await self._converter(input.id).encode(input.args))
        await self._apply_headers(input.headers, request.header.fields)
        await self._client.workflow_service.signal_workflow_execution(
            request, retry=True, metadata=input.rpc_metadata, timeout=input.rpc_timeout
        )

    async def terminate_workflow(self, input: TerminateWorkflowInput) -> None:
        request = ws.TerminateWorkflowExecutionRequest(
            namespace=self._client.namespace,
            workflow_execution=_execution(input.id, input.run_id),
            reason=input.reason or "",
            identity=self._client.identity,
            first_execution_run_id=input.first_execution_run_id or "",
        )
        if input.args:
            request.details.payloads.extend(await self._converter(input.id).encode(input.args))
        await self._client.workflow_service.terminate_workflow_execution(
            request, retry=True, metadata=input.rpc_metadata, timeout=input.rpc_timeout
        )

    # ------------------------------------------------------------------ updates

    async def start_workflow_update(
        self, input: StartWorkflowUpdateInput
    ) -> WorkflowUpdateHandle[Any]:
        request = await self._update_request(input, input.id)
        # Ask again until the update is durable (accepted); the server may answer earlier.
        while True:
            try:
                response = await self._client.workflow_service.update_workflow_execution(
                    request, retry=True, metadata=input.rpc_metadata, timeout=input.rpc_timeout
                )
            except RPCError as err:
                if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                    raise WorkflowUpdateRPCTimeoutOrCancelledError() from err
                raise
            except asyncio.CancelledError as err:
                raise WorkflowUpdateRPCTimeoutOrCancelledError() from err
            if response.stage >= _ACCEPTED:
                break
        handle: WorkflowUpdateHandle[Any] = WorkflowUpdateHandle(
            self._client,
            request.request.meta.update_id,
            input.id,
            workflow_run_id=response.update_ref.workflow_execution.run_id,
            result_type=input.ret_type,
            known_outcome=response.outcome if response.HasField("outcome") else None,
        )
        if input.wait_for_stage == WorkflowUpdateStage.COMPLETED:
            await handle._poll_until_outcome()
        return handle

    async def _update_request(
        self, input: StartWorkflowUpdateInput | UpdateWithStartUpdateWorkflowInput, workflow_id: str
    ) -> ws.UpdateWorkflowExecutionRequest:
        pinned = isinstance(input, StartWorkflowUpdateInput)
        request = ws.UpdateWorkflowExecutionRequest(
            namespace=self._client.namespace,
            workflow_execution=_execution(workflow_id, input.run_id if pinned else None),  # type: ignore[union-attr]
            first_execution_run_id=(input.first_execution_run_id if pinned else None) or "",  # type: ignore[union-attr]
            request=update_pb.Request(
                meta=update_pb.Meta(
                    update_id=input.update_id or str(uuid.uuid4()), identity=self._client.identity
                ),
                input=update_pb.Input(name=input.update),
            ),
            wait_policy=update_pb.WaitPolicy(lifecycle_stage=int(input.wait_for_stage)),  # type: ignore[arg-type]
        )
        if input.args:
            request.request.input.args.payloads.extend(
                await self._converter(workflow_id).encode(input.args)
            )
        await self._apply_headers(input.headers, request.request.input.header.fields)
        return request

    async def start_update_with_start_workflow(
        self, input: StartWorkflowUpdateWithStartInput
    ) -> WorkflowUpdateHandle[Any]:
        seen_start = False

        def on_start(response: ws.StartWorkflowExecutionResponse) -> None:
            nonlocal seen_start
            if not seen_start:
                seen_start = True
                input._on_start(response)

        error: BaseException | None = None
        try:
            return await self._update_with_start(input, on_start)
        except asyncio.CancelledError as err:
            error = err
            raise WorkflowUpdateRPCTimeoutOrCancelledError() from err
        except RPCError as err:
            error = err
            if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise WorkflowUpdateRPCTimeoutOrCancelledError() from err
            error = _multi_operation_error(err, input.start_workflow_input)
            raise error from None
        finally:
            if error is not None and not seen_start:
                input._on_start_error(error)

    async def _update_with_start(
        self,
        input: StartWorkflowUpdateWithStartInput,
        on_start: Callable[[ws.StartWorkflowExecutionResponse], None],
    ) -> WorkflowUpdateHandle[Any]:
        start_input, update_input = input.start_workflow_input, input.update_workflow_input
        start_request = ws.StartWorkflowExecutionRequest()
        await self._fill_start_request(start_request, start_input)
        update_request = await self._update_request(update_input, start_input.id)
        operation = ws.ExecuteMultiOperationRequest.Operation
        request = ws.ExecuteMultiOperationRequest(
            namespace=self._client.namespace,
            operations=[
                operation(start_workflow=start_request),
                operation(update_workflow=update_request),
            ],
        )
        while True:
            response = await self._client.workflow_service.execute_multi_operation(
                request, retry=True, metadata=input.rpc_metadata, timeout=input.rpc_timeout
            )
            start_response = response.responses[0].start_workflow
            update_response = response.responses[1].update_workflow
            on_start(start_response)
            if update_response.stage >= _ACCEPTED:
                break
        handle: WorkflowUpdateHandle[Any] = WorkflowUpdateHandle(
            self._client,
            update_request.request.meta.update_id,
            start_input.id,
            workflow_run_id=start_response.run_id,
            result_type=update_input.ret_type,
            known_outcome=update_response.outcome if update_response.HasField("outcome") else None,
        )
        if update_input.wait_for_stage == WorkflowUpdateStage.COMPLETED:
            await handle._poll_until_outcome()
        return handle


def _multi_operation_error(
    err: RPCError, start: UpdateWithStartStartWorkflowInput
) -> BaseException:
    """The error of the operation that actually failed inside ``ExecuteMultiOperation``."""
    multi = errordetails_pb.MultiOperationExecutionFailure()
    if not (err.grpc_status.details and err.grpc_status.details[0].Unpack(multi)):
        return err
    for status in multi.statuses:
        aborted = status.details and status.details[0].Is(
            failure_pb.MultiOperationExecutionAborted.DESCRIPTOR
        )
        if status.code == RPCStatusCode.OK or aborted:
            continue
        if status.code == RPCStatusCode.ALREADY_EXISTS:
            started = errordetails_pb.WorkflowExecutionAlreadyStartedFailure()
            if status.details and status.details[0].Unpack(started):
                return WorkflowAlreadyStartedError(
                    start.id,
                    start.workflow,
                    run_id=started.run_id,
                    first_run_id=started.first_execution_run_id or None,
                )
        if status.code in RPCStatusCode._value2member_map_:
            return RPCError(status.message, RPCStatusCode(status.code), err.raw_grpc_status)
        return err
    return err
