"""What workflow code starts: activities, local activities, child workflows, signals and
cancel requests to other workflows, continue-as-new.

``RootOutbound``, the innermost outbound interceptor, hands each call (entered by
``_outbound_calls``) to ``Outbound``, which issues the commands and creates the handles.
``Outbound`` keeps the pending operations by sequence number until their resolution jobs
arrive, and is the ``HandleHost`` of the handles it creates.

``await_operation`` keeps the exact await structure of the official SDK (a shielded
``asyncio.wait`` on the operation's future inside the caller's task), so that resolutions
reach workflow code after the same number of loop callbacks and concurrent code interleaves
identically: that is what lets histories replay across the two SDKs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.api.sdk.v1 import UserMetadata

import perdure.activity
import perdure.common
import perdure.converter
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
from perdure.worker._workflow._command_buffer import CommandBuffer, SequenceKind
from perdure.worker._workflow._conversion import Conversion
from perdure.worker._workflow._handles import (
    ActivityHandleImpl,
    BackoffRequested,
    ChildWorkflowHandleImpl,
)
from perdure.worker._workflow._loop import WorkflowEventLoop
from perdure.worker._workflow._mode import RAISE_ON_CANCELLING_COMPLETED_ACTIVITY, RunMode
from perdure.worker._workflow._tasks import WorkflowTasks
from perdure.worker._workflow._waiting import durable_sleep
from perdure.workflow import (
    ActivityHandle,
    ChildWorkflowCancellationType,
    ChildWorkflowHandle,
    ContinueAsNewError,
    Info,
)

_T = TypeVar("_T")


async def await_operation(
    mode: RunMode,
    fut: asyncio.Future[_T],
    apply_cancel: Callable[[asyncio.CancelledError], None],
    *,
    completed_cancellation_flag: int | None = None,
    reraise_on_workflow_cancellation: bool = False,
) -> _T:
    """Await a Temporal operation; task cancellation becomes a cancel command instead."""
    while True:
        try:
            await asyncio.wait([fut])
            return fut.result()
        except asyncio.CancelledError as err:
            if fut.done():
                if mode.single_batch:
                    raise
                if completed_cancellation_flag is not None and mode.flag_applies(
                    completed_cancellation_flag
                ):
                    raise
            apply_cancel(err)
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            if reraise_on_workflow_cancellation and (
                mode.cancel_reason is not None or mode.evicting
            ):
                raise


class ContinueAsNewRequested(ContinueAsNewError):
    """The ContinueAsNewError workflow code raises; carries the interceptor input."""

    def __init__(self, outbound: Outbound, input: ContinueAsNewInput) -> None:
        super().__init__("Continue as new")
        self._outbound = outbound
        self.input = input

    def apply(self) -> None:
        """Issue the ContinueAsNew command."""
        self._outbound.issue_continue_as_new(self.input)


class RootOutbound(WorkflowOutboundInterceptor):
    """The innermost outbound interceptor: turns calls into commands."""

    def __init__(self, outbound: Outbound) -> None:
        self._outbound = outbound

    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        """Raise the error that ends the run with a ContinueAsNew command."""
        raise ContinueAsNewRequested(self._outbound, input)

    def info(self) -> Info:
        """The run's Info."""
        return self._outbound.info

    async def signal_child_workflow(self, input: SignalChildWorkflowInput) -> None:
        """Signal a child (child_workflow_only)."""
        await self._outbound.signal_external(
            input.signal, input.args, self._outbound.info.namespace,
            input.child_workflow_id, None, input.headers, child_only=True,
        )  # fmt: skip

    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        """Signal another workflow."""
        await self._outbound.signal_external(
            input.signal, input.args, input.namespace, input.workflow_id,
            input.workflow_run_id, input.headers, child_only=False,
        )  # fmt: skip

    def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
        """Schedule an activity."""
        return self._outbound.schedule_activity(input)

    async def start_child_workflow(
        self, input: StartChildWorkflowInput
    ) -> ChildWorkflowHandle[Any, Any]:
        """Start a child workflow."""
        return await self._outbound.start_child(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> ActivityHandle[Any]:
        """Schedule a local activity."""
        return self._outbound.schedule_activity(input)


class Outbound:
    """Activities, children, external workflows and continue-as-new of one run."""

    def __init__(
        self,
        *,
        info: Info,
        started: Any,
        loop: WorkflowEventLoop,
        mode: RunMode,
        commands: CommandBuffer,
        tasks: WorkflowTasks,
        conversion: Conversion,
        interceptor: Callable[[], WorkflowOutboundInterceptor],
    ) -> None:
        """``started``: the run's WorkflowExecutionStarted attributes (continue-as-new
        inherits from them); ``interceptor``: the outermost outbound interceptor, known
        once the inbound chain was initialised."""
        self._info = info
        self._started = started
        self._loop = loop
        self._mode = mode
        self._commands = commands
        self._tasks = tasks
        self._conversion = conversion
        self._interceptor = interceptor
        self._activities: dict[int, ActivityHandleImpl] = {}
        self._children: dict[int, ChildWorkflowHandleImpl] = {}
        self._external_signals: dict[int, asyncio.Future[None]] = {}
        self._external_cancels: dict[int, asyncio.Future[None]] = {}

    # ------------------------------------------------------------------ HandleHost

    @property
    def loop(self) -> WorkflowEventLoop:
        """The run's event loop."""
        return self._loop

    @property
    def info(self) -> Info:
        """The run's Info."""
        return self._info

    @property
    def evicting(self) -> bool:
        """The run is being evicted."""
        return self._mode.evicting

    def check_writable(self, action: str) -> None:
        """Refuse ``action`` in read-only code and on eviction."""
        self._mode.check_writable(action)

    def next_seq(self, kind: SequenceKind) -> int:
        """The next sequence number of ``kind``."""
        return self._commands.next_seq(kind)

    def add_command(self, command: jobs.Command) -> None:
        """Issue a command."""
        self._commands.add(command)

    def register_task(self, task: asyncio.Task[Any]) -> None:
        """Track a handle's task."""
        self._tasks.register(task)

    def converter_for(
        self, context: perdure.converter.SerializationContext
    ) -> perdure.converter.PayloadConverter:
        """The payload converter for another activity's or workflow's payloads."""
        return self._conversion.for_context(context)

    def decode_result(
        self, payload: Payload | None, type_hint: Any, converter: perdure.converter.PayloadConverter
    ) -> Any:
        """An operation's result (None when there is no payload)."""
        if payload is None:
            return None
        types = [type_hint] if type_hint else None
        return self._conversion.decode([payload], types, converter)[0]

    def decode_failure(
        self, failure: Failure, converter: perdure.converter.PayloadConverter
    ) -> BaseException:
        """An operation's failure as the exception workflow code sees."""
        return self._conversion.from_failure(failure, converter)

    def interceptor(self) -> WorkflowOutboundInterceptor:
        """The outermost outbound interceptor."""
        return self._interceptor()

    async def request_cancel_external(
        self, workflow_id: str, run_id: str | None, reason: str
    ) -> None:
        """RequestCancelExternalWorkflowExecution; returns once it was recorded."""
        seq = self._commands.next_seq("external_cancel")
        done: asyncio.Future[None] = self._loop.create_future()
        self._external_cancels[seq] = done
        self._commands.add(
            jobs.RequestCancelExternal(
                seq,
                build.cancel_external(
                    namespace=self._info.namespace,
                    workflow_id=workflow_id,
                    run_id=run_id,
                    reason=reason,
                ),
            )
        )
        await done

    # ------------------------------------------------------------------ resolutions

    def resolve(self, job: jobs.Job) -> bool:
        """Deliver a resolution job to its operation; False if ``job`` is not one."""
        if isinstance(job, jobs.ResolveActivity):
            self._resolve_activity(job)
        elif isinstance(job, jobs.ResolveChildStart):
            self._resolve_child_start(job)
        elif isinstance(job, jobs.ResolveChild):
            self._resolve_child(job)
        elif isinstance(job, jobs.ResolveSignalExternal):
            self._resolve_external(self._external_signals, job)
        elif isinstance(job, jobs.ResolveRequestCancelExternal):
            self._resolve_external(self._external_cancels, job)
        else:
            return False
        return True

    # ------------------------------------------------------------------ activities

    def schedule_activity(
        self, input: StartActivityInput | StartLocalActivityInput
    ) -> ActivityHandleImpl:
        if not input.start_to_close_timeout and not input.schedule_to_close_timeout:
            raise ValueError(
                "Activity must have start_to_close_timeout or schedule_to_close_timeout"
            )
        handle: ActivityHandleImpl

        async def run_activity() -> Any:
            handle.started = True
            while True:
                try:
                    return await await_operation(
                        self._mode,
                        handle.result_fut,
                        lambda _err: handle.request_cancel(),
                        completed_cancellation_flag=RAISE_ON_CANCELLING_COMPLETED_ACTIVITY,
                    )
                except BackoffRequested as backoff:
                    await durable_sleep(self._loop, backoff.job.backoff, None)
                    handle.schedule(backoff.job)
                    self._activities[handle.seq] = handle

        handle = ActivityHandleImpl(self, input, run_activity())
        handle.schedule()
        self._activities[handle.seq] = handle
        return handle

    def _resolve_activity(self, job: jobs.ResolveActivity) -> None:
        handle = self._activities.pop(job.seq, None)
        if handle is None:
            raise RuntimeError(f"Failed finding activity handle for sequence {job.seq}")
        handle.resolve(job)

    # ------------------------------------------------------------------ children

    async def start_child(self, input: StartChildWorkflowInput) -> ChildWorkflowHandleImpl:
        handle: ChildWorkflowHandleImpl

        def apply_cancel(err: asyncio.CancelledError) -> None:
            reason = err.args[0] if err.args and isinstance(err.args[0], str) else ""
            self._commands.add(jobs.CancelChildWorkflow(handle.seq, reason))

        async def run_child() -> Any:
            return await await_operation(self._mode, handle.result_fut, apply_cancel)

        handle = ChildWorkflowHandleImpl(self, input, run_child())
        self._issue_start_child(handle)
        self._children[handle.seq] = handle
        await await_operation(
            self._mode, handle.start_fut, apply_cancel, reraise_on_workflow_cancellation=True
        )
        return handle

    def _issue_start_child(self, handle: ChildWorkflowHandleImpl) -> None:
        input = handle.input
        converter = handle.converter
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
        self._commands.add(
            jobs.StartChildWorkflow(
                handle.seq,
                attrs,
                ChildWorkflowCancellationType(input.cancellation_type),
                metadata,
            )
        )

    def _resolve_child_start(self, job: jobs.ResolveChildStart) -> None:
        handle = self._children.get(job.seq)
        if handle is None:
            raise RuntimeError(f"Failed finding child workflow handle for sequence {job.seq}")
        if job.run_id is None:
            self._children.pop(job.seq)
        handle.resolve_start(job)

    def _resolve_child(self, job: jobs.ResolveChild) -> None:
        handle = self._children.pop(job.seq, None)
        if handle is None:
            raise RuntimeError(f"Failed finding child workflow handle for sequence {job.seq}")
        handle.resolve(job)

    # ------------------------------------------------------------------ external workflows

    async def signal_external(
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
        converter = self._conversion.for_context(
            perdure.converter.WorkflowSerializationContext(
                namespace=namespace, workflow_id=workflow_id
            )
        )
        payloads = converter.to_payloads(args) if args else []
        seq = self._commands.next_seq("external_signal")
        done: asyncio.Future[None] = self._loop.create_future()
        self._external_signals[seq] = done
        self._commands.add(
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
            self._commands.add(jobs.CancelSignalExternal(seq))

        await await_operation(self._mode, done, apply_cancel)

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
            fut.set_exception(self._conversion.from_failure(job.failure))
        else:
            fut.set_result(None)

    # ------------------------------------------------------------------ continue-as-new

    def issue_continue_as_new(self, input: ContinueAsNewInput) -> None:
        converter = self._conversion.payload_converter
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
            started=self._started,
        )
        self._commands.add(jobs.ContinueAsNew(attrs))
