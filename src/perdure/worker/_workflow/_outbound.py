"""What workflow code starts: activities, local activities, child workflows, signals and
cancel requests to other workflows, continue-as-new; plus the handles it gets back.

Handles are asyncio Tasks whose coroutine awaits the operation's future through
``_await_operation``, so resolution order and task cancellation behave as in temporalio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from temporalio.api.common.v1 import RetryPolicy as RetryPolicyProto
from temporalio.api.enums.v1 import StartChildWorkflowExecutionFailedCause
from temporalio.api.sdk.v1 import UserMetadata

import perdure.activity
import perdure.common
import perdure.converter
import perdure.exceptions
from perdure.worker._interceptor import (
    ContinueAsNewInput,
    SignalChildWorkflowInput,
    SignalExternalWorkflowInput,
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    WorkflowOutboundInterceptor,
)
from perdure.worker._workflow import _commands as build
from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._base import RAISE_ON_CANCELLING_COMPLETED_ACTIVITY, InstanceBase
from perdure.workflow import (
    ActivityCancellationType,
    ActivityHandle,
    ChildWorkflowHandle,
    ContinueAsNewError,
    ExternalWorkflowHandle,
    Info,
    _Definition,
    _SignalDefinition,
)


class _ContinueAsNewError(ContinueAsNewError):
    """The ContinueAsNewError workflow code raises; carries the interceptor input."""

    def __init__(self, instance: OutboundMixin, input: ContinueAsNewInput) -> None:
        super().__init__("Continue as new")
        self._instance = instance
        self.input = input

    def apply(self) -> None:
        """Issue the ContinueAsNew command."""
        self._instance._apply_continue_as_new(self.input)


class _DoBackoff(Exception):
    """A local activity must sleep on a timer before its next attempt."""

    def __init__(self, job: jobs.ResolveActivity) -> None:
        super().__init__("Backoff")
        self.job = job


class ActivityHandleImpl(ActivityHandle[Any]):
    """A scheduled activity or local activity."""

    def __init__(
        self,
        instance: OutboundMixin,
        input: StartActivityInput | StartLocalActivityInput,
        coro: Any,
    ) -> None:
        super().__init__(coro, loop=instance._loop)
        self._instance = instance
        self._seq = instance._next_seq("activity")
        self._input = input
        self._local = isinstance(input, StartLocalActivityInput)
        self._result_fut: asyncio.Future[Any] = instance._loop.create_future()
        self._started = False
        self._cancel_seq: int | None = None
        instance._register_task(self)
        self.set_name(f"activity: {input.activity}")
        info = instance._info
        self._converter = instance._context_converter(
            perdure.converter.ActivitySerializationContext(
                namespace=info.namespace,
                activity_id=input.activity_id,
                activity_type=input.activity,
                activity_task_queue=(
                    (input.task_queue or info.task_queue)
                    if isinstance(input, StartActivityInput)
                    else info.task_queue
                ),
                workflow_id=info.workflow_id,
                workflow_type=info.workflow_type,
                is_local=self._local,
            )
        )

    def cancel(self, msg: Any | None = None) -> bool:
        """Request cancellation (a cancel command if the activity was not awaited yet)."""
        if not self._instance._deleting:
            self._instance._assert_not_read_only("cancel activity handle")
            if not self._started and not self.done():
                self._request_cancel()
        return super().cancel(msg)

    def _request_cancel(self) -> None:
        if self._cancel_seq == self._seq and not self._instance._deleting:
            return
        self._cancel_seq = self._seq
        command: jobs.Command = (
            jobs.RequestCancelLocalActivity(self._seq)
            if self._local
            else jobs.RequestCancelActivity(self._seq)
        )
        self._instance._add_command(command)

    def _resolve(self, job: jobs.ResolveActivity) -> None:
        if job.status == "completed":
            value = None
            if job.result is not None:
                types = [self._input.ret_type] if self._input.ret_type else None
                value = self._instance._convert_payloads([job.result], types, self._converter)[0]
            self._result_fut.set_result(value)
        elif job.status == "backoff":
            self._seq = self._instance._next_seq("activity")
            self._result_fut.set_exception(_DoBackoff(job))
            self._result_fut = self._instance._loop.create_future()
        elif self._started:
            assert job.failure is not None
            self._result_fut.set_exception(
                self._instance._from_failure(job.failure, payload_converter=self._converter)
            )

    def _schedule(self, backoff: jobs.ResolveActivity | None = None) -> None:
        instance = self._instance
        payloads = self._converter.to_payloads(self._input.args) if self._input.args else []
        summary = (
            UserMetadata(summary=self._converter.to_payload(self._input.summary))
            if self._input.summary
            else None
        )
        activity_id = self._input.activity_id or str(self._seq)
        if isinstance(self._input, StartActivityInput):
            attrs = build.schedule_activity(
                activity_id=activity_id,
                activity_type=self._input.activity,
                task_queue=self._input.task_queue or instance._info.task_queue,
                own_task_queue=instance._info.task_queue,
                payloads=payloads,
                headers=self._input.headers,
                schedule_to_close_timeout=self._input.schedule_to_close_timeout,
                schedule_to_start_timeout=self._input.schedule_to_start_timeout,
                start_to_close_timeout=self._input.start_to_close_timeout,
                heartbeat_timeout=self._input.heartbeat_timeout,
                retry_policy=self._input.retry_policy,
                versioning_intent=self._input.versioning_intent,
                priority=self._input.priority,
            )
            attrs.request_eager_execution = not self._input.disable_eager_execution
            instance._add_command(
                jobs.ScheduleActivity(self._seq, attrs, int(self._input.cancellation_type), summary)
            )
            return
        retry_proto = None
        if self._input.retry_policy is not None:
            retry_proto = RetryPolicyProto()
            self._input.retry_policy.apply_to_proto(retry_proto)
        instance._add_command(
            jobs.ScheduleLocalActivity(
                seq=self._seq,
                activity_id=activity_id,
                activity_type=self._input.activity,
                arguments=payloads,
                headers=dict(self._input.headers),
                schedule_to_close_timeout=_seconds(self._input.schedule_to_close_timeout),
                schedule_to_start_timeout=_seconds(self._input.schedule_to_start_timeout),
                start_to_close_timeout=_seconds(self._input.start_to_close_timeout),
                retry_policy=retry_proto,
                local_retry_threshold=_seconds(self._input.local_retry_threshold),
                cancellation_type=int(self._input.cancellation_type),
                attempt=backoff.attempt if backoff else 1,
                original_schedule_time=backoff.original_schedule_time if backoff else None,
            )
        )


def _seconds(value: Any) -> float | None:
    return value.total_seconds() if value else None


class ChildWorkflowHandleImpl(ChildWorkflowHandle[Any, Any]):
    """A started (or starting) child workflow."""

    def __init__(
        self, instance: OutboundMixin, seq: int, input: StartChildWorkflowInput, coro: Any
    ) -> None:
        super().__init__(coro, loop=instance._loop)
        self._instance = instance
        self._seq = seq
        self._input = input
        self._start_fut: asyncio.Future[None] = instance._loop.create_future()
        self._result_fut: asyncio.Future[Any] = instance._loop.create_future()
        self._first_execution_run_id = "<unknown>"
        instance._register_task(self)
        self.set_name(f"child: {input.workflow}")
        self._converter = instance._context_converter(
            perdure.converter.WorkflowSerializationContext(
                namespace=instance._info.namespace, workflow_id=input.id
            )
        )

    @property
    def id(self) -> str:
        """Workflow id of the child."""
        return self._input.id

    @property
    def first_execution_run_id(self) -> str | None:
        """Run id of the child's first run."""
        return self._first_execution_run_id

    async def signal(
        self,
        signal: str | Callable[..., Any],
        arg: Any = perdure.common._arg_unset,
        *,
        args: Sequence[Any] = (),
    ) -> None:
        """Signal the child."""
        self._instance._assert_not_read_only("signal child handle")
        await self._instance._outbound.signal_child_workflow(
            SignalChildWorkflowInput(
                signal=_SignalDefinition.must_name_from_fn_or_str(signal),
                args=perdure.common._arg_or_args(arg, args),
                child_workflow_id=self._input.id,
                headers={},
            )
        )

    def _resolve_start(self, job: jobs.ResolveChildStart) -> None:
        if job.run_id is not None:
            self._first_execution_run_id = job.run_id
            self._start_fut.set_result(None)
            return
        if job.failed_cause is not None:
            if job.failed_cause == (
                StartChildWorkflowExecutionFailedCause.START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_WORKFLOW_ALREADY_EXISTS
            ):
                error: BaseException = perdure.exceptions.WorkflowAlreadyStartedError(
                    self._input.id, self._input.workflow
                )
            else:
                error = RuntimeError(f"Unknown child start fail cause: {job.failed_cause}")
        else:
            assert job.cancelled is not None
            error = self._instance._from_failure(job.cancelled, payload_converter=self._converter)
        self._fail(error)

    def _resolve(self, job: jobs.ResolveChild) -> None:
        if job.status == "completed":
            value = None
            if job.result is not None:
                types = [self._input.ret_type] if self._input.ret_type else None
                value = self._instance._convert_payloads([job.result], types, self._converter)[0]
            self._result_fut.set_result(value)
        else:
            assert job.failure is not None
            self._fail(self._instance._from_failure(job.failure, payload_converter=self._converter))

    def _fail(self, error: BaseException) -> None:
        if self._start_fut.done():
            self._result_fut.set_exception(error)
        else:
            self._start_fut.set_exception(error)
            self._result_fut.set_result(None)


class ExternalWorkflowHandleImpl(ExternalWorkflowHandle[Any]):
    """Another workflow, to signal or cancel."""

    def __init__(self, instance: OutboundMixin, id: str, run_id: str | None) -> None:
        self._instance = instance
        self._id = id
        self._run_id = run_id

    @property
    def id(self) -> str:
        """Workflow id."""
        return self._id

    @property
    def run_id(self) -> str | None:
        """Run id, or None for the latest run."""
        return self._run_id

    async def signal(
        self,
        signal: str | Callable[..., Any],
        arg: Any = perdure.common._arg_unset,
        *,
        args: Sequence[Any] = (),
    ) -> None:
        """Signal the workflow."""
        self._instance._assert_not_read_only("signal external handle")
        await self._instance._outbound.signal_external_workflow(
            SignalExternalWorkflowInput(
                signal=_SignalDefinition.must_name_from_fn_or_str(signal),
                args=perdure.common._arg_or_args(arg, args),
                namespace=self._instance._info.namespace,
                workflow_id=self._id,
                workflow_run_id=self._run_id,
                headers={},
            )
        )

    async def cancel(self, *, reason: str = "") -> None:
        """Request cancellation of the workflow."""
        instance = self._instance
        instance._assert_not_read_only("cancel external handle")
        seq = instance._next_seq("external_cancel")
        done: asyncio.Future[None] = instance._loop.create_future()
        instance._pending_external_cancels[seq] = done
        instance._add_command(
            jobs.RequestCancelExternal(
                seq,
                build.cancel_external(
                    namespace=instance._info.namespace,
                    workflow_id=self._id,
                    run_id=self._run_id,
                    reason=reason,
                ),
            )
        )
        await done


class RootOutbound(WorkflowOutboundInterceptor):
    """The innermost outbound interceptor: turns calls into commands."""

    def __init__(self, instance: OutboundMixin) -> None:
        self._instance = instance

    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        """Raise the error that ends the run with a ContinueAsNew command."""
        raise _ContinueAsNewError(self._instance, input)

    def info(self) -> Info:
        """The run's Info."""
        return self._instance._info

    async def signal_child_workflow(self, input: SignalChildWorkflowInput) -> None:
        """Signal a child (child_workflow_only)."""
        await self._instance._signal_external(
            input.signal, input.args, self._instance._info.namespace,
            input.child_workflow_id, None, input.headers, child_only=True,
        )  # fmt: skip

    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        """Signal another workflow."""
        await self._instance._signal_external(
            input.signal, input.args, input.namespace, input.workflow_id,
            input.workflow_run_id, input.headers, child_only=False,
        )  # fmt: skip

    def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
        """Schedule an activity."""
        return self._instance._schedule_activity(input)

    async def start_child_workflow(
        self, input: StartChildWorkflowInput
    ) -> ChildWorkflowHandle[Any, Any]:
        """Start a child workflow."""
        return await self._instance._start_child(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> ActivityHandle[Any]:
        """Schedule a local activity."""
        return self._instance._schedule_activity(input)


class OutboundMixin(InstanceBase):
    """Activities, children, external workflows and continue-as-new."""

    def _init_outbound(self) -> None:
        self._pending_activities: dict[int, ActivityHandleImpl] = {}
        self._pending_children: dict[int, ChildWorkflowHandleImpl] = {}
        self._pending_external_signals: dict[int, asyncio.Future[None]] = {}
        self._pending_external_cancels: dict[int, asyncio.Future[None]] = {}

    # ------------------------------------------------------------------ activities

    def workflow_start_activity(
        self,
        activity: Any,
        *args: Any,
        task_queue: str | None,
        result_type: type | None,
        schedule_to_close_timeout: Any,
        schedule_to_start_timeout: Any,
        start_to_close_timeout: Any,
        heartbeat_timeout: Any,
        retry_policy: perdure.common.RetryPolicy | None,
        cancellation_type: ActivityCancellationType,
        activity_id: str | None,
        versioning_intent: Any,
        summary: str | None,
        priority: perdure.common.Priority,
    ) -> ActivityHandle[Any]:
        """Schedule an activity through the outbound interceptors."""
        self._assert_not_read_only("schedule activity")
        name, arg_types, ret_type = self._activity_name(activity, result_type)
        return self._outbound.start_activity(
            StartActivityInput(
                activity=name,
                args=args,
                activity_id=activity_id,
                task_queue=task_queue,
                schedule_to_close_timeout=schedule_to_close_timeout,
                schedule_to_start_timeout=schedule_to_start_timeout,
                start_to_close_timeout=start_to_close_timeout,
                heartbeat_timeout=heartbeat_timeout,
                retry_policy=retry_policy,
                cancellation_type=cancellation_type,
                headers={},
                disable_eager_execution=False,
                versioning_intent=versioning_intent,
                summary=summary,
                priority=priority,
                arg_types=arg_types,
                ret_type=ret_type,
            )
        )

    def workflow_start_local_activity(
        self,
        activity: Any,
        *args: Any,
        result_type: type | None,
        schedule_to_close_timeout: Any,
        schedule_to_start_timeout: Any,
        start_to_close_timeout: Any,
        retry_policy: perdure.common.RetryPolicy | None,
        local_retry_threshold: Any,
        cancellation_type: ActivityCancellationType,
        activity_id: str | None,
        summary: str | None,
    ) -> ActivityHandle[Any]:
        """Schedule a local activity through the outbound interceptors."""
        self._assert_not_read_only("schedule local activity")
        name, arg_types, ret_type = self._activity_name(activity, result_type)
        return self._outbound.start_local_activity(
            StartLocalActivityInput(
                activity=name,
                args=args,
                activity_id=activity_id,
                schedule_to_close_timeout=schedule_to_close_timeout,
                schedule_to_start_timeout=schedule_to_start_timeout,
                start_to_close_timeout=start_to_close_timeout,
                retry_policy=retry_policy,
                local_retry_threshold=local_retry_threshold,
                cancellation_type=cancellation_type,
                headers={},
                summary=summary,
                arg_types=arg_types,
                ret_type=ret_type,
            )
        )

    @staticmethod
    def _activity_name(
        activity: Any, result_type: type | None
    ) -> tuple[str, list[Any] | None, Any]:
        if isinstance(activity, str):
            return activity, None, result_type
        if callable(activity):
            defn = perdure.activity._Definition.must_from_callable(activity)
            if not defn.name:
                raise ValueError("Cannot invoke dynamic activity explicitly")
            return defn.name, defn.arg_types, result_type or defn.ret_type
        raise TypeError("Activity must be a string or callable")

    def _schedule_activity(
        self, input: StartActivityInput | StartLocalActivityInput
    ) -> ActivityHandleImpl:
        if not input.start_to_close_timeout and not input.schedule_to_close_timeout:
            raise ValueError(
                "Activity must have start_to_close_timeout or schedule_to_close_timeout"
            )
        handle: ActivityHandleImpl

        async def run_activity() -> Any:
            handle._started = True
            while True:
                try:
                    return await self._await_operation(
                        handle._result_fut,
                        lambda _err: handle._request_cancel(),
                        completed_cancellation_flag=RAISE_ON_CANCELLING_COMPLETED_ACTIVITY,
                    )
                except _DoBackoff as backoff:
                    await self.workflow_sleep(backoff.job.backoff, summary=None)
                    handle._schedule(backoff.job)
                    self._pending_activities[handle._seq] = handle

        handle = ActivityHandleImpl(self, input, run_activity())
        handle._schedule()
        self._pending_activities[handle._seq] = handle
        return handle

    def _resolve_activity(self, job: jobs.ResolveActivity) -> None:
        handle = self._pending_activities.pop(job.seq, None)
        if handle is None:
            raise RuntimeError(f"Failed finding activity handle for sequence {job.seq}")
        handle._resolve(job)

    # ------------------------------------------------------------------ children

    async def workflow_start_child_workflow(
        self,
        workflow: Any,
        *args: Any,
        id: str,
        task_queue: str | None,
        result_type: type | None,
        cancellation_type: Any,
        parent_close_policy: Any,
        execution_timeout: Any,
        run_timeout: Any,
        task_timeout: Any,
        id_reuse_policy: Any,
        retry_policy: perdure.common.RetryPolicy | None,
        cron_schedule: str,
        memo: Any,
        search_attributes: Any,
        versioning_intent: Any,
        static_summary: str | None,
        static_details: str | None,
        priority: perdure.common.Priority,
    ) -> ChildWorkflowHandle[Any, Any]:
        """Start a child workflow through the outbound interceptors."""
        arg_types: list[Any] | None = None
        ret_type = result_type
        if isinstance(workflow, str):
            name = workflow
        elif callable(workflow):
            defn = _Definition.must_from_run_fn(workflow)
            if not defn.name:
                raise TypeError("Cannot invoke dynamic workflow explicitly")
            name, arg_types, ret_type = defn.name, defn.arg_types, defn.ret_type
        else:
            raise TypeError("Workflow must be a string or callable")
        return await self._outbound.start_child_workflow(
            StartChildWorkflowInput(
                workflow=name,
                args=args,
                id=id,
                task_queue=task_queue,
                cancellation_type=cancellation_type,
                parent_close_policy=parent_close_policy,
                execution_timeout=execution_timeout,
                run_timeout=run_timeout,
                task_timeout=task_timeout,
                id_reuse_policy=id_reuse_policy,
                retry_policy=retry_policy,
                cron_schedule=cron_schedule,
                memo=memo,
                search_attributes=search_attributes,
                headers={},
                versioning_intent=versioning_intent,
                static_summary=static_summary,
                static_details=static_details,
                priority=priority,
                arg_types=arg_types,
                ret_type=ret_type,
            )
        )

    async def _start_child(self, input: StartChildWorkflowInput) -> ChildWorkflowHandleImpl:
        handle: ChildWorkflowHandleImpl

        def apply_cancel(err: asyncio.CancelledError) -> None:
            reason = err.args[0] if err.args and isinstance(err.args[0], str) else ""
            self._add_command(jobs.CancelChildWorkflow(handle._seq, reason))

        async def run_child() -> Any:
            return await self._await_operation(handle._result_fut, apply_cancel)

        handle = ChildWorkflowHandleImpl(self, self._next_seq("child_workflow"), input, run_child())
        self._issue_start_child(handle)
        self._pending_children[handle._seq] = handle
        await self._await_operation(
            handle._start_fut, apply_cancel, reraise_on_workflow_cancellation=True
        )
        return handle

    def _issue_start_child(self, handle: ChildWorkflowHandleImpl) -> None:
        input = handle._input
        converter = handle._converter
        payloads = converter.to_payloads(input.args) if input.args else []
        memo = {k: converter.to_payloads([v])[0] for k, v in (input.memo or {}).items()}
        attrs = build.start_child_workflow(
            namespace=self._info.namespace,
            workflow_id=input.id,
            workflow_type=input.workflow,
            task_queue=input.task_queue or self._info.task_queue,
            own_task_queue=self._info.task_queue,
            payloads=payloads,
            headers=input.headers,
            execution_timeout=input.execution_timeout,
            run_timeout=input.run_timeout,
            task_timeout=input.task_timeout,
            parent_close_policy=int(input.parent_close_policy),
            id_reuse_policy=int(input.id_reuse_policy),
            retry_policy=input.retry_policy,
            cron_schedule=input.cron_schedule,
            memo=memo,
            search_attributes=input.search_attributes,
            versioning_intent=input.versioning_intent,
            priority=input.priority,
        )
        metadata = None
        if input.static_summary or input.static_details:
            metadata = UserMetadata()
            if input.static_summary:
                metadata.summary.CopyFrom(converter.to_payload(input.static_summary))
            if input.static_details:
                metadata.details.CopyFrom(converter.to_payload(input.static_details))
        self._add_command(
            jobs.StartChildWorkflow(handle._seq, attrs, int(input.cancellation_type), metadata)
        )

    def _resolve_child_start(self, job: jobs.ResolveChildStart) -> None:
        handle = self._pending_children.get(job.seq)
        if handle is None:
            raise RuntimeError(f"Failed finding child workflow handle for sequence {job.seq}")
        if job.run_id is None:
            self._pending_children.pop(job.seq)
        handle._resolve_start(job)

    def _resolve_child(self, job: jobs.ResolveChild) -> None:
        handle = self._pending_children.pop(job.seq, None)
        if handle is None:
            raise RuntimeError(f"Failed finding child workflow handle for sequence {job.seq}")
        handle._resolve(job)

    # ------------------------------------------------------------------ external workflows

    def workflow_get_external_workflow_handle(
        self, id: str, run_id: str | None
    ) -> ExternalWorkflowHandle[Any]:
        """A handle to another workflow."""
        return ExternalWorkflowHandleImpl(self, id, run_id)

    async def _signal_external(
        self,
        signal: str,
        args: Sequence[Any],
        namespace: str,
        workflow_id: str,
        run_id: str | None,
        headers: Any,
        *,
        child_only: bool,
    ) -> None:
        converter = self._context_converter(
            perdure.converter.WorkflowSerializationContext(
                namespace=namespace, workflow_id=workflow_id
            )
        )
        payloads = converter.to_payloads(args) if args else []
        seq = self._next_seq("external_signal")
        done: asyncio.Future[None] = self._loop.create_future()
        self._pending_external_signals[seq] = done
        self._add_command(
            jobs.SignalExternal(
                seq,
                build.signal_external(
                    namespace=namespace,
                    workflow_id=workflow_id,
                    run_id=run_id,
                    signal=signal,
                    payloads=payloads,
                    headers=headers or {},
                    child_workflow_only=child_only,
                ),
            )
        )

        def apply_cancel(_err: asyncio.CancelledError) -> None:
            self._add_command(jobs.CancelSignalExternal(seq))

        await self._await_operation(done, apply_cancel)

    def _resolve_external(
        self,
        pending: dict[int, asyncio.Future[None]],
        job: jobs.ResolveSignalExternal | jobs.ResolveRequestCancelExternal,
    ) -> None:
        fut = pending.pop(job.seq, None)
        if fut is None:
            raise RuntimeError(f"Failed finding pending external request for sequence {job.seq}")
        if fut.done():
            return
        if job.failure is not None:
            fut.set_exception(self._from_failure(job.failure))
        else:
            fut.set_result(None)

    # ------------------------------------------------------------------ continue-as-new

    def workflow_continue_as_new(
        self,
        *args: Any,
        workflow: Callable[..., Any] | str | None,
        task_queue: str | None,
        run_timeout: Any,
        task_timeout: Any,
        backoff_start_interval: Any,
        retry_policy: perdure.common.RetryPolicy | None,
        memo: Any,
        search_attributes: Any,
        versioning_intent: Any,
        initial_versioning_behavior: Any,
    ) -> NoReturn:
        """Raise ContinueAsNewError through the outbound interceptors."""
        self._assert_not_read_only("continue as new")
        name: str | None = None
        arg_types: list[Any] | None = None
        if isinstance(workflow, str):
            name = workflow
        elif callable(workflow):
            defn = _Definition.must_from_run_fn(workflow)
            name, arg_types = defn.name, defn.arg_types
        elif workflow is not None:
            raise TypeError("Workflow must be None, a string, or callable")
        self._outbound.continue_as_new(
            ContinueAsNewInput(
                workflow=name,
                args=args,
                task_queue=task_queue,
                run_timeout=run_timeout,
                task_timeout=task_timeout,
                backoff_start_interval=backoff_start_interval,
                retry_policy=retry_policy,
                memo=memo,
                search_attributes=search_attributes,
                headers={},
                versioning_intent=versioning_intent,
                initial_versioning_behavior=initial_versioning_behavior,
                arg_types=arg_types,
            )
        )
        raise RuntimeError("continue_as_new interceptor returned instead of raising")

    def _apply_continue_as_new(self, input: ContinueAsNewInput) -> None:
        converter = self._payload_converter
        payloads = converter.to_payloads(input.args) if input.args else []
        memo = (
            {k: converter.to_payloads([v])[0] for k, v in input.memo.items()}
            if input.memo
            else None
        )
        attrs = build.continue_as_new(
            workflow_type=input.workflow or "",
            task_queue=input.task_queue or "",
            own_task_queue=self._info.task_queue,
            payloads=payloads,
            headers=input.headers,
            run_timeout=input.run_timeout,
            task_timeout=input.task_timeout,
            backoff_start_interval=input.backoff_start_interval,
            retry_policy=input.retry_policy,
            memo=memo,
            search_attributes=input.search_attributes,
            versioning_intent=input.versioning_intent,
            initial_versioning_behavior=(
                int(input.initial_versioning_behavior)
                if input.initial_versioning_behavior
                else None
            ),
            started=self._start.attributes,
        )
        self._add_command(jobs.ContinueAsNew(attrs))
