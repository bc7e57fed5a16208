"""Handles to a workflow and to one of its updates."""

from __future__ import annotations

import asyncio
import functools
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from enum import IntEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, cast, overload

from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import update_pb2 as enums_update_pb
from temporalio.api.update.v1 import message_pb2 as update_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as ws

from perdure.common import (
    Priority,
    QueryRejectCondition,
    RetryPolicy,
    SearchAttributes,
    TypedSearchAttributes,
    VersioningOverride,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
    _arg_or_args,
    _arg_unset,
    _warn_on_deprecated_search_attributes,
)
from perdure.converter import DataConverter, WorkflowSerializationContext
from perdure.exceptions import CancelledError, TerminatedError, TimeoutError, TimeoutType
from perdure.service import RPCError, RPCStatusCode

from . import _types as types
from ._errors import (
    WorkflowContinuedAsNewError,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from ._executions import (
    WorkflowExecutionDescription,
    WorkflowHistory,
    WorkflowHistoryEventAsyncIterator,
    WorkflowHistoryEventFilterType,
)
from ._interceptor import (
    CancelWorkflowInput,
    DescribeWorkflowInput,
    FetchWorkflowHistoryEventsInput,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowUpdateInput,
    TerminateWorkflowInput,
    UpdateWithStartStartWorkflowInput,
)
from ._types import LocalReturnType, ParamType, ReturnType, SelfType

if TYPE_CHECKING:
    from perdure.client._client import Client

_NO_METADATA: Mapping[str, str | bytes] = MappingProxyType({})
_Stage = enums_update_pb.UpdateWorkflowExecutionLifecycleStage
_ALL_EVENTS = WorkflowHistoryEventFilterType.ALL_EVENT


class WorkflowUpdateStage(IntEnum):
    """How far an update must get before ``start_update`` returns."""

    ADMITTED = _Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED
    """Received by the server (not supported as a wait stage)."""
    ACCEPTED = _Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED
    """Passed the workflow's validator."""
    COMPLETED = _Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
    """The handler finished."""


def _single_result(values: Sequence[Any], what: str) -> Any:
    if not values:
        return None
    if len(values) > 1:
        warnings.warn(f"Expected single {what}, got {len(values)}", stacklevel=3)
    return values[0]


class WorkflowHandle(Generic[SelfType, ReturnType]):
    """A workflow to signal, query, update, cancel, terminate, describe or wait for.

    Get one from :py:meth:`Client.start_workflow` or :py:meth:`Client.get_workflow_handle`.
    Calls target :py:attr:`run_id` if set, else the workflow's latest run.
    """

    def __init__(
        self,
        client: Client,
        id: str,
        *,
        run_id: str | None = None,
        result_run_id: str | None = None,
        first_execution_run_id: str | None = None,
        result_type: Any = None,
        start_workflow_response: (
            ws.StartWorkflowExecutionResponse | ws.SignalWithStartWorkflowExecutionResponse | None
        ) = None,
    ) -> None:
        """Make a handle (prefer the client's methods)."""
        self._client = client
        self._id = id
        self._run_id = run_id
        self._result_run_id = result_run_id
        self._first_execution_run_id = first_execution_run_id
        self._result_type = result_type
        self._start_workflow_response = start_workflow_response

    @functools.cached_property
    def _data_converter(self) -> DataConverter:
        return self._client.data_converter.with_context(
            WorkflowSerializationContext(namespace=self._client.namespace, workflow_id=self._id)
        )

    @property
    def id(self) -> str:
        """The workflow id."""
        return self._id

    @property
    def run_id(self) -> str | None:
        """The run that calls target, if pinned (only handles from ``get_workflow_handle``)."""
        return self._run_id

    @property
    def result_run_id(self) -> str | None:
        """The run :py:meth:`result` starts from (the started run for ``start_workflow``)."""
        return self._result_run_id

    @property
    def first_execution_run_id(self) -> str | None:
        """The first run of the chain that cancel/terminate must belong to, if known."""
        return self._first_execution_run_id

    async def result(
        self,
        *,
        follow_runs: bool = True,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> ReturnType:
        """Wait for the workflow's result.

        With ``follow_runs`` (the default) this follows continue-as-new, retries and
        cron runs to the last run; otherwise a run that continued raises
        :py:class:`WorkflowContinuedAsNewError`.

        Raises:
            WorkflowFailureError: the workflow failed, was cancelled or terminated, or
                timed out; ``cause`` says which.
        """
        run_id = self._result_run_id
        while True:
            events = self._fetch_history_events_for_run(
                run_id,
                wait_new_event=True,
                event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT,
                skip_archival=True,
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
            )
            next_run_id: str | None = None
            async for event in events:
                outcome, next_run_id = await self._close_outcome(event, follow_runs)
                if next_run_id is None:
                    if isinstance(outcome, BaseException):
                        raise outcome
                    return cast(ReturnType, outcome)
                break
            if next_run_id is None:
                raise RuntimeError("No completion event found")
            run_id = next_run_id

    async def _close_outcome(self, event: Any, follow_runs: bool) -> tuple[Any, str | None]:
        """(result or exception, None), or (None, next run id) when following runs."""
        converter = self._data_converter
        kind = event.WhichOneof("attributes")
        attrs: Any = getattr(event, kind) if kind else None
        new_run = getattr(attrs, "new_execution_run_id", "") if attrs is not None else ""
        if kind == "workflow_execution_continued_as_new_event_attributes":
            if not new_run:
                raise RuntimeError("Unexpectedly missing new run ID from continue as new")
            if follow_runs:
                return None, new_run
            return WorkflowContinuedAsNewError(new_run), None
        if follow_runs and new_run:  # retried, or a cron's next run
            return None, new_run
        if kind == "workflow_execution_completed_event_attributes":
            hints = [self._result_type] if self._result_type else None
            return _single_result(
                await converter.decode_wrapper(attrs.result, hints), "result"
            ), None
        if kind == "workflow_execution_failed_event_attributes":
            return WorkflowFailureError(cause=await converter.decode_failure(attrs.failure)), None
        if kind == "workflow_execution_canceled_event_attributes":
            details = await converter.decode_wrapper(attrs.details)
            return WorkflowFailureError(cause=CancelledError("Workflow cancelled", *details)), None
        if kind == "workflow_execution_terminated_event_attributes":
            details = await converter.decode_wrapper(attrs.details)
            terminated = TerminatedError(attrs.reason or "Workflow terminated", *details)
            return WorkflowFailureError(cause=terminated), None
        if kind == "workflow_execution_timed_out_event_attributes":
            timed_out = TimeoutError(
                "Workflow timed out", type=TimeoutType.START_TO_CLOSE, last_heartbeat_details=[]
            )
            return WorkflowFailureError(cause=timed_out), None
        raise RuntimeError(f"Unexpected close event {kind} for workflow {self._id}")

    async def cancel(
        self,
        *,
        reason: str = "",
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> None:
        """Request cancellation (the workflow decides how to react)."""
        await self._client._impl.cancel_workflow(
            CancelWorkflowInput(
                id=self._id,
                run_id=self._run_id,
                first_execution_run_id=self._first_execution_run_id,
                reason=reason,
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
            )
        )

    async def describe(
        self,
        *,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> WorkflowExecutionDescription:
        """Status, times, search attributes, memo and more of the run."""
        return await self._client._impl.describe_workflow(
            DescribeWorkflowInput(
                id=self._id, run_id=self._run_id, rpc_metadata=rpc_metadata, rpc_timeout=rpc_timeout
            )
        )

    async def fetch_history(
        self,
        *,
        event_filter_type: WorkflowHistoryEventFilterType = _ALL_EVENTS,
        skip_archival: bool = False,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> WorkflowHistory:
        """The whole history of the run (every page)."""
        events = self.fetch_history_events(
            event_filter_type=event_filter_type,
            skip_archival=skip_archival,
            rpc_metadata=rpc_metadata,
            rpc_timeout=rpc_timeout,
        )
        return WorkflowHistory(workflow_id=self.id, events=[event async for event in events])

    def fetch_history_events(
        self,
        *,
        page_size: int | None = None,
        next_page_token: bytes | None = None,
        wait_new_event: bool = False,
        event_filter_type: WorkflowHistoryEventFilterType = _ALL_EVENTS,
        skip_archival: bool = False,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> WorkflowHistoryEventAsyncIterator:
        """The run's history events, fetched lazily page by page."""
        return self._fetch_history_events_for_run(
            self._run_id,
            page_size=page_size,
            next_page_token=next_page_token,
            wait_new_event=wait_new_event,
            event_filter_type=event_filter_type,
            skip_archival=skip_archival,
            rpc_metadata=rpc_metadata,
            rpc_timeout=rpc_timeout,
        )

    def _fetch_history_events_for_run(
        self,
        run_id: str | None,
        *,
        page_size: int | None = None,
        next_page_token: bytes | None = None,
        wait_new_event: bool = False,
        event_filter_type: WorkflowHistoryEventFilterType = _ALL_EVENTS,
        skip_archival: bool = False,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> WorkflowHistoryEventAsyncIterator:
        return self._client._impl.fetch_workflow_history_events(
            FetchWorkflowHistoryEventsInput(
                id=self._id,
                run_id=run_id,
                page_size=page_size,
                next_page_token=next_page_token,
                wait_new_event=wait_new_event,
                event_filter_type=event_filter_type,
                skip_archival=skip_archival,
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
            )
        )

    @overload
    async def query(
        self,
        query: types.MethodSyncOrAsyncNoParam[SelfType, LocalReturnType],
        *,
        reject_condition: QueryRejectCondition | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> LocalReturnType: ...

    @overload
    async def query(
        self,
        query: types.MethodSyncOrAsyncSingleParam[SelfType, ParamType, LocalReturnType],
        arg: ParamType,
        *,
        reject_condition: QueryRejectCondition | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> LocalReturnType: ...

    @overload
    async def query(
        self,
        query: str | Callable[..., Any],
        arg: Any = _arg_unset,
        *,
        args: Sequence[Any] = (),
        result_type: type | None = None,
        reject_condition: QueryRejectCondition | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> Any: ...

    async def query(
        self,
        query: Any,
        arg: Any = _arg_unset,
        *,
        args: Sequence[Any] = (),
        result_type: type | None = None,
        reject_condition: QueryRejectCondition | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> Any:
        """Run a query (by name or ``@workflow.query`` method) and return its answer.

        Raises:
            WorkflowQueryRejectedError: ``reject_condition`` matched the workflow's status.
            WorkflowQueryFailedError: the query failed or does not exist.
        """
        name, hinted = types.query_name_and_result_type(query)
        return await self._client._impl.query_workflow(
            QueryWorkflowInput(
                id=self._id,
                run_id=self._run_id,
                query=name,
                args=_arg_or_args(arg, args),
                reject_condition=reject_condition
                or self._client._config["default_workflow_query_reject_condition"],
                headers={},
                ret_type=result_type or hinted,
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
            )
        )

    async def signal(
        self,
        signal: str | Callable[..., Any],
        arg: Any = _arg_unset,
        *,
        args: Sequence[Any] = (),
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> None:
        """Send a signal (by name or ``@workflow.signal`` method)."""
        await self._client._impl.signal_workflow(
            SignalWorkflowInput(
                id=self._id,
                run_id=self._run_id,
                signal=types.signal_name(signal),
                args=_arg_or_args(arg, args),
                headers={},
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
            )
        )

    async def terminate(
        self,
        *args: Any,
        reason: str | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> None:
        """Terminate the workflow at once (no workflow code runs); ``args`` are details."""
        await self._client._impl.terminate_workflow(
            TerminateWorkflowInput(
                id=self._id,
                run_id=self._run_id,
                first_execution_run_id=self._first_execution_run_id,
                args=args,
                reason=reason,
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
            )
        )

    @overload
    async def execute_update(
        self,
        update: types.MethodSyncOrAsyncNoParam[SelfType, LocalReturnType],
        *,
        id: str | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> LocalReturnType: ...

    @overload
    async def execute_update(
        self,
        update: types.MethodSyncOrAsyncSingleParam[SelfType, ParamType, LocalReturnType],
        arg: ParamType,
        *,
        id: str | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> LocalReturnType: ...

    @overload
    async def execute_update(
        self,
        update: str | Callable[..., Any],
        arg: Any = _arg_unset,
        *,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: type | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> Any: ...

    async def execute_update(
        self,
        update: Any,
        arg: Any = _arg_unset,
        *,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: type | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> Any:
        """Run an update and return its result.

        Raises:
            WorkflowUpdateFailedError: the validator rejected it or the handler failed.
            WorkflowUpdateRPCTimeoutOrCancelledError: the call timed out or was cancelled.
        """
        handle = await self._start_update(
            update,
            arg,
            args=args,
            wait_for_stage=WorkflowUpdateStage.COMPLETED,
            id=id,
            result_type=result_type,
            rpc_metadata=rpc_metadata,
            rpc_timeout=rpc_timeout,
        )
        return await handle.result()

    async def start_update(
        self,
        update: str | Callable[..., Any],
        arg: Any = _arg_unset,
        *,
        wait_for_stage: WorkflowUpdateStage,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: type | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> WorkflowUpdateHandle[Any]:
        """Send an update and return a handle once it reached ``wait_for_stage``.

        ``wait_for_stage`` is ACCEPTED or COMPLETED (ADMITTED is not supported).
        """
        return await self._start_update(
            update,
            arg,
            wait_for_stage=wait_for_stage,
            args=args,
            id=id,
            result_type=result_type,
            rpc_metadata=rpc_metadata,
            rpc_timeout=rpc_timeout,
        )

    async def _start_update(
        self,
        update: str | Callable[..., Any],
        arg: Any = _arg_unset,
        *,
        wait_for_stage: WorkflowUpdateStage,
        args: Sequence[Any] = (),
        id: str | None = None,
        result_type: type | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> WorkflowUpdateHandle[Any]:
        if wait_for_stage == WorkflowUpdateStage.ADMITTED:
            raise ValueError("ADMITTED wait stage not supported")
        name, hinted = types.update_name_and_result_type(update)
        return await self._client._impl.start_workflow_update(
            StartWorkflowUpdateInput(
                id=self._id,
                run_id=self._run_id,
                first_execution_run_id=self._first_execution_run_id,
                update_id=id,
                update=name,
                args=_arg_or_args(arg, args),
                headers={},
                ret_type=result_type or hinted,
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
                wait_for_stage=wait_for_stage,
            )
        )

    def get_update_handle(
        self, id: str, *, workflow_run_id: str | None = None, result_type: type | None = None
    ) -> WorkflowUpdateHandle[Any]:
        """A handle to an update sent earlier, to wait for its result."""
        return WorkflowUpdateHandle(
            self._client,
            id,
            self._id,
            workflow_run_id=workflow_run_id or self._run_id,
            result_type=result_type,
        )

    def get_update_handle_for(
        self,
        update: Callable[..., Any],
        id: str,
        *,
        workflow_run_id: str | None = None,
    ) -> WorkflowUpdateHandle[Any]:
        """:py:meth:`get_update_handle`, typed by the update method."""
        _, hinted = types.update_name_and_result_type(update)
        return self.get_update_handle(id, workflow_run_id=workflow_run_id, result_type=hinted)


class WorkflowUpdateHandle(Generic[LocalReturnType]):
    """An update sent to a workflow, whose result can be awaited."""

    def __init__(
        self,
        client: Client,
        id: str,
        workflow_id: str,
        *,
        workflow_run_id: str | None = None,
        result_type: Any = None,
        known_outcome: update_pb.Outcome | None = None,
    ) -> None:
        """Make a handle (prefer ``start_update`` or ``get_update_handle``)."""
        self._client = client
        self._id = id
        self._workflow_id = workflow_id
        self._workflow_run_id = workflow_run_id
        self._result_type = result_type
        self._known_outcome = known_outcome

    @functools.cached_property
    def _data_converter(self) -> DataConverter:
        return self._client.data_converter.with_context(
            WorkflowSerializationContext(
                namespace=self._client.namespace, workflow_id=self._workflow_id
            )
        )

    @property
    def id(self) -> str:
        """The update id."""
        return self._id

    @property
    def workflow_id(self) -> str:
        """The workflow's id."""
        return self._workflow_id

    @property
    def workflow_run_id(self) -> str | None:
        """The targeted run, if any."""
        return self._workflow_run_id

    async def result(
        self,
        *,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> LocalReturnType:
        """Wait for the update's result (no call if it is already known).

        ``rpc_timeout`` bounds each poll, not the whole wait.

        Raises:
            WorkflowUpdateFailedError: the update failed.
            WorkflowUpdateRPCTimeoutOrCancelledError: a poll timed out or was cancelled.
        """
        await self._poll_until_outcome(rpc_metadata=rpc_metadata, rpc_timeout=rpc_timeout)
        outcome = self._known_outcome
        assert outcome is not None
        if outcome.HasField("failure"):
            raise WorkflowUpdateFailedError(
                await self._data_converter.decode_failure(outcome.failure)
            )
        if not outcome.success.payloads:
            return cast(LocalReturnType, None)
        hints = [self._result_type] if self._result_type else None
        values = await self._data_converter.decode(outcome.success.payloads, hints)
        return cast(LocalReturnType, _single_result(values, "update result"))

    async def _poll_until_outcome(
        self,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> None:
        if self._known_outcome is not None:
            return
        request = ws.PollWorkflowExecutionUpdateRequest(
            namespace=self._client.namespace,
            update_ref=update_pb.UpdateRef(
                workflow_execution=common_pb.WorkflowExecution(
                    workflow_id=self._workflow_id, run_id=self._workflow_run_id or ""
                ),
                update_id=self._id,
            ),
            identity=self._client.identity,
            wait_policy=update_pb.WaitPolicy(
                lifecycle_stage=_Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
            ),
        )
        while True:  # the server may answer before the outcome: ask again
            try:
                response = await self._client.workflow_service.poll_workflow_execution_update(
                    request, retry=True, metadata=rpc_metadata, timeout=rpc_timeout
                )
            except RPCError as err:
                if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                    raise WorkflowUpdateRPCTimeoutOrCancelledError() from err
                raise
            except asyncio.CancelledError as err:
                raise WorkflowUpdateRPCTimeoutOrCancelledError() from err
            if response.HasField("outcome"):
                self._known_outcome = response.outcome
                return


class WithStartWorkflowOperation(Generic[SelfType, ReturnType]):
    """The start half of update-with-start: the workflow to start if it is not running.

    Pass it to :py:meth:`Client.start_update_with_start_workflow` (or ``execute_...``);
    afterwards :py:meth:`workflow_handle` gives the started (or existing) workflow.
    """

    def __init__(
        self,
        workflow: str | Callable[..., Awaitable[Any]],
        arg: Any = _arg_unset,
        *,
        args: Sequence[Any] = (),
        id: str,
        task_queue: str,
        id_conflict_policy: WorkflowIDConflictPolicy,
        result_type: type | None = None,
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        retry_policy: RetryPolicy | None = None,
        cron_schedule: str = "",
        memo: Mapping[str, Any] | None = None,
        search_attributes: TypedSearchAttributes | SearchAttributes | None = None,
        static_summary: str | None = None,
        static_details: str | None = None,
        start_delay: timedelta | None = None,
        priority: Priority = Priority.default,
        versioning_override: VersioningOverride | None = None,
        stack_level: int = 2,
    ) -> None:
        """Describe the workflow to start; ``id_conflict_policy`` must be set (not UNSPECIFIED).

        The other arguments are those of :py:meth:`Client.start_workflow`.
        """
        _warn_on_deprecated_search_attributes(search_attributes, stack_level=stack_level)
        name, hinted = types.workflow_name_and_result_type(workflow)
        if id_conflict_policy == WorkflowIDConflictPolicy.UNSPECIFIED:
            raise ValueError("WorkflowIDConflictPolicy is required")
        self._start_workflow_input = UpdateWithStartStartWorkflowInput(
            workflow=name,
            args=_arg_or_args(arg, args),
            id=id,
            task_queue=task_queue,
            execution_timeout=execution_timeout,
            run_timeout=run_timeout,
            task_timeout=task_timeout,
            id_reuse_policy=id_reuse_policy,
            id_conflict_policy=id_conflict_policy,
            retry_policy=retry_policy,
            cron_schedule=cron_schedule,
            memo=memo,
            search_attributes=search_attributes,
            start_delay=start_delay,
            headers={},
            static_summary=static_summary,
            static_details=static_details,
            ret_type=result_type or hinted,
            priority=priority,
            versioning_override=versioning_override,
        )
        self._workflow_handle: asyncio.Future[WorkflowHandle[SelfType, ReturnType]] = (
            asyncio.Future()
        )
        self._used = False

    async def workflow_handle(self) -> WorkflowHandle[SelfType, ReturnType]:
        """The workflow's handle, once the start has been answered."""
        return await self._workflow_handle
