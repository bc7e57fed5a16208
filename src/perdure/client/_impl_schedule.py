"""Schedule RPCs of the client implementation."""

from __future__ import annotations

import inspect
import uuid
from typing import TYPE_CHECKING, Any

from temporalio.api.errordetails.v1 import message_pb2 as errordetails_pb
from temporalio.api.schedule.v1 import message_pb2 as schedule_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as ws

from perdure.converter import encode_search_attributes
from perdure.service import RPCError, RPCStatusCode

from ._errors import ScheduleAlreadyRunningError
from ._interceptor import (
    BackfillScheduleInput,
    CreateScheduleInput,
    DeleteScheduleInput,
    DescribeScheduleInput,
    ListSchedulesInput,
    PauseScheduleInput,
    TriggerScheduleInput,
    UnpauseScheduleInput,
    UpdateScheduleInput,
)
from ._schedule_info import (
    ScheduleAsyncIterator,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleUpdate,
)

if TYPE_CHECKING:
    from perdure.client._client import Client


class _ScheduleCalls:
    """Mixin of the client implementation: schedules."""

    _client: Client

    async def _patch(self, schedule_id: str, patch: schedule_pb.SchedulePatch, input: Any) -> None:
        await self._client.workflow_service.patch_schedule(
            ws.PatchScheduleRequest(
                namespace=self._client.namespace,
                schedule_id=schedule_id,
                patch=patch,
                identity=self._client.identity,
                request_id=str(uuid.uuid4()),
            ),
            retry=True,
            metadata=input.rpc_metadata,
            timeout=input.rpc_timeout,
        )

    async def create_schedule(self, input: CreateScheduleInput) -> ScheduleHandle:
        state = input.schedule.state
        if state.limited_actions and not state.remaining_actions:
            raise ValueError(
                "Must set limited actions to false if there are no remaining actions set"
            )
        if not state.limited_actions and state.remaining_actions:
            raise ValueError("Must set limited actions to true if there are remaining actions set")
        patch = None
        if input.trigger_immediately or input.backfill:
            patch = schedule_pb.SchedulePatch(
                trigger_immediately=(
                    schedule_pb.TriggerImmediatelyRequest(
                        overlap_policy=int(input.schedule.policy.overlap)  # type: ignore[arg-type]
                    )
                    if input.trigger_immediately
                    else None
                ),
                backfill_request=[b._to_proto() for b in input.backfill],
            )
        request = ws.CreateScheduleRequest(
            namespace=self._client.namespace,
            schedule_id=input.id,
            schedule=await input.schedule._to_proto(self._client),
            initial_patch=patch,
            identity=self._client.identity,
            request_id=str(uuid.uuid4()),
            memo=await self._client.data_converter._encode_memo(input.memo) if input.memo else None,
        )
        if input.search_attributes:
            encode_search_attributes(input.search_attributes, request.search_attributes)
        try:
            await self._client.workflow_service.create_schedule(
                request, retry=True, metadata=input.rpc_metadata, timeout=input.rpc_timeout
            )
        except RPCError as err:
            details = err.grpc_status.details if err.raw_grpc_status else []
            if (
                err.status == RPCStatusCode.ALREADY_EXISTS
                and details
                and details[0].Is(errordetails_pb.WorkflowExecutionAlreadyStartedFailure.DESCRIPTOR)
            ):
                raise ScheduleAlreadyRunningError() from None
            raise
        return ScheduleHandle(self._client, input.id)

    def list_schedules(self, input: ListSchedulesInput) -> ScheduleAsyncIterator:
        return ScheduleAsyncIterator(self._client, input)

    async def backfill_schedule(self, input: BackfillScheduleInput) -> None:
        patch = schedule_pb.SchedulePatch(backfill_request=[b._to_proto() for b in input.backfills])
        await self._patch(input.id, patch, input)

    async def delete_schedule(self, input: DeleteScheduleInput) -> None:
        await self._client.workflow_service.delete_schedule(
            ws.DeleteScheduleRequest(
                namespace=self._client.namespace,
                schedule_id=input.id,
                identity=self._client.identity,
            ),
            retry=True,
            metadata=input.rpc_metadata,
            timeout=input.rpc_timeout,
        )

    async def describe_schedule(self, input: DescribeScheduleInput) -> ScheduleDescription:
        response = await self._client.workflow_service.describe_schedule(
            ws.DescribeScheduleRequest(namespace=self._client.namespace, schedule_id=input.id),
            retry=True,
            metadata=input.rpc_metadata,
            timeout=input.rpc_timeout,
        )
        return ScheduleDescription._from_proto(input.id, response, self._client.data_converter)

    async def pause_schedule(self, input: PauseScheduleInput) -> None:
        patch = schedule_pb.SchedulePatch(pause=input.note or "Paused via Python SDK")
        await self._patch(input.id, patch, input)

    async def trigger_schedule(self, input: TriggerScheduleInput) -> None:
        trigger = schedule_pb.TriggerImmediatelyRequest(
            overlap_policy=int(input.overlap or 0)  # type: ignore[arg-type]
        )
        await self._patch(input.id, schedule_pb.SchedulePatch(trigger_immediately=trigger), input)

    async def unpause_schedule(self, input: UnpauseScheduleInput) -> None:
        patch = schedule_pb.SchedulePatch(unpause=input.note or "Unpaused via Python SDK")
        await self._patch(input.id, patch, input)

    async def update_schedule(self, input: UpdateScheduleInput) -> None:
        description = await self.describe_schedule(
            DescribeScheduleInput(input.id, input.rpc_metadata, input.rpc_timeout)
        )
        from ._schedule_info import ScheduleUpdateInput

        update: Any = input.updater(ScheduleUpdateInput(description=description))
        if inspect.isawaitable(update):
            update = await update
        if not update:
            return
        if not isinstance(update, ScheduleUpdate):
            raise TypeError(
                f"Schedule updater returned {type(update).__name__}, not ScheduleUpdate"
            )
        request = ws.UpdateScheduleRequest(
            namespace=self._client.namespace,
            schedule_id=input.id,
            schedule=await update.schedule._to_proto(self._client),
            identity=self._client.identity,
            request_id=str(uuid.uuid4()),
        )
        if update.search_attributes is not None:
            request.search_attributes.SetInParent()  # present, even if empty: replace them all
            encode_search_attributes(update.search_attributes, request.search_attributes)
        await self._client.workflow_service.update_schedule(
            request, retry=True, metadata=input.rpc_metadata, timeout=input.rpc_timeout
        )
