"""The handles workflow code holds: activities, child workflows, other workflows.

Activity and child handles are asyncio Tasks whose coroutine awaits the operation's
future (see ``_outbound.await_operation``), so resolution order and task cancellation
behave as in temporalio. Handles reach their run only through ``HandleHost``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from temporalio.api.common.v1 import Payload
from temporalio.api.common.v1 import RetryPolicy as RetryPolicyProto
from temporalio.api.enums.v1 import StartChildWorkflowExecutionFailedCause
from temporalio.api.failure.v1 import Failure
from temporalio.api.sdk.v1 import UserMetadata

import perdure.common
import perdure.converter
import perdure.exceptions
from perdure.worker._interceptor import (
    SignalChildWorkflowInput,
    SignalExternalWorkflowInput,
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    WorkflowOutboundInterceptor,
)
from perdure.worker._workflow import _commands as build
from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._command_buffer import SequenceKind
from perdure.worker._workflow._loop import WorkflowEventLoop
from perdure.workflow import (
    ActivityCancellationType,
    ActivityHandle,
    ChildWorkflowHandle,
    ExternalWorkflowHandle,
    Info,
    _SignalDefinition,
)


class HandleHost(Protocol):
    """What a handle may ask of the run that created it (implemented by ``Outbound``)."""

    @property
    def loop(self) -> WorkflowEventLoop:
        """The run's event loop (handles are tasks on it)."""

    @property
    def info(self) -> Info:
        """The run's Info."""

    @property
    def evicting(self) -> bool:
        """The run is being evicted: cancellation only unwinds, issues nothing."""

    def check_writable(self, action: str) -> None:
        """Refuse ``action`` in read-only code and on eviction."""

    def next_seq(self, kind: SequenceKind) -> int:
        """The next sequence number of ``kind``."""

    def add_command(self, command: jobs.Command) -> None:
        """Issue a command."""

    def register_task(self, task: asyncio.Task[Any]) -> None:
        """Track a task created outside the loop's ``create_task`` (a handle)."""

    def converter_for(
        self, context: perdure.converter.SerializationContext
    ) -> perdure.converter.PayloadConverter:
        """The payload converter for another activity's or workflow's payloads."""

    def decode_result(
        self, payload: Payload | None, type_hint: Any, converter: perdure.converter.PayloadConverter
    ) -> Any:
        """An operation's result (None when there is no payload)."""

    def decode_failure(
        self, failure: Failure, converter: perdure.converter.PayloadConverter
    ) -> BaseException:
        """An operation's failure as the exception workflow code sees."""

    def interceptor(self) -> WorkflowOutboundInterceptor:
        """The outermost outbound interceptor (signals go through the chain)."""

    async def request_cancel_external(
        self, workflow_id: str, run_id: str | None, reason: str
    ) -> None:
        """Ask another workflow to cancel; returns once the request was recorded."""


class BackoffRequested(Exception):
    """A local activity must sleep on a timer before its next attempt."""

    def __init__(self, job: jobs.ResolveActivity) -> None:
        super().__init__("Backoff")
        self.job = job


class ActivityHandleImpl(ActivityHandle[Any]):
    """A scheduled activity or local activity."""

    def __init__(
        self,
        host: HandleHost,
        input: StartActivityInput | StartLocalActivityInput,
        coro: Any,
    ) -> None:
        super().__init__(coro, loop=host.loop)
        self._host = host
        self.seq = host.next_seq("activity")
        self._input = input
        self._local = isinstance(input, StartLocalActivityInput)
        self.result_fut: asyncio.Future[Any] = host.loop.create_future()
        self.started = False
        self._cancel_seq: int | None = None
        host.register_task(self)
        self.set_name(f"activity: {input.activity}")
        info = host.info
        self._converter = host.converter_for(
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
        if not self._host.evicting:
            self._host.check_writable("cancel activity handle")
            if not self.started and not self.done():
                self.request_cancel()
        return super().cancel(msg)

    def request_cancel(self) -> None:
        """Issue the cancel command for the current attempt (once)."""
        if self._cancel_seq == self.seq and not self._host.evicting:
            return
        self._cancel_seq = self.seq
        command: jobs.Command = (
            jobs.RequestCancelLocalActivity(self.seq)
            if self._local
            else jobs.RequestCancelActivity(self.seq)
        )
        self._host.add_command(command)

    def resolve(self, job: jobs.ResolveActivity) -> None:
        """Complete, fail, or (local activities) back off before the next attempt."""
        if job.status == "completed":
            value = self._host.decode_result(job.result, self._input.ret_type, self._converter)
            self.result_fut.set_result(value)
        elif job.status == "backoff":
            self.seq = self._host.next_seq("activity")
            self.result_fut.set_exception(BackoffRequested(job))
            self.result_fut = self._host.loop.create_future()
        elif self.started:
            assert job.failure is not None
            self.result_fut.set_exception(self._host.decode_failure(job.failure, self._converter))

    def schedule(self, backoff: jobs.ResolveActivity | None = None) -> None:
        """Issue the schedule command (again after a local activity's backoff)."""
        host = self._host
        payloads = self._converter.to_payloads(self._input.args) if self._input.args else []
        summary = (
            UserMetadata(summary=self._converter.to_payload(self._input.summary))
            if self._input.summary
            else None
        )
        activity_id = self._input.activity_id or str(self.seq)
        if isinstance(self._input, StartActivityInput):
            attrs = build.schedule_activity(
                activity_id=activity_id,
                activity_type=self._input.activity,
                task_queue=self._input.task_queue or host.info.task_queue,
                own_task_queue=host.info.task_queue,
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
            host.add_command(
                jobs.ScheduleActivity(
                    self.seq,
                    attrs,
                    ActivityCancellationType(self._input.cancellation_type),
                    summary,
                )
            )
            return
        retry_proto = None
        if self._input.retry_policy is not None:
            retry_proto = RetryPolicyProto()
            self._input.retry_policy.apply_to_proto(retry_proto)
        host.add_command(
            jobs.ScheduleLocalActivity(
                seq=self.seq,
                activity_id=activity_id,
                activity_type=self._input.activity,
                arguments=payloads,
                headers=dict(self._input.headers),
                schedule_to_close_timeout=_seconds(self._input.schedule_to_close_timeout),
                schedule_to_start_timeout=_seconds(self._input.schedule_to_start_timeout),
                start_to_close_timeout=_seconds(self._input.start_to_close_timeout),
                retry_policy=retry_proto,
                local_retry_threshold=_seconds(self._input.local_retry_threshold),
                cancellation_type=ActivityCancellationType(self._input.cancellation_type),
                attempt=backoff.attempt if backoff else 1,
                original_schedule_time=backoff.original_schedule_time if backoff else None,
            )
        )


def _seconds(value: Any) -> float | None:
    return value.total_seconds() if value else None


class ChildWorkflowHandleImpl(ChildWorkflowHandle[Any, Any]):
    """A started (or starting) child workflow."""

    def __init__(self, host: HandleHost, input: StartChildWorkflowInput, coro: Any) -> None:
        super().__init__(coro, loop=host.loop)
        self._host = host
        self.seq = host.next_seq("child_workflow")
        self.input = input
        self.start_fut: asyncio.Future[None] = host.loop.create_future()
        self.result_fut: asyncio.Future[Any] = host.loop.create_future()
        self._first_execution_run_id = "<unknown>"
        host.register_task(self)
        self.set_name(f"child: {input.workflow}")
        self.converter = host.converter_for(
            perdure.converter.WorkflowSerializationContext(
                namespace=host.info.namespace, workflow_id=input.id
            )
        )

    @property
    def id(self) -> str:
        """Workflow id of the child."""
        return self.input.id

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
        self._host.check_writable("signal child handle")
        await self._host.interceptor().signal_child_workflow(
            SignalChildWorkflowInput(
                signal=_SignalDefinition.must_name_from_fn_or_str(signal),
                args=perdure.common._arg_or_args(arg, args),
                child_workflow_id=self.input.id,
                headers={},
            )
        )

    def resolve_start(self, job: jobs.ResolveChildStart) -> None:
        """The child started, or could not be started."""
        if job.run_id is not None:
            self._first_execution_run_id = job.run_id
            self.start_fut.set_result(None)
            return
        if job.failed_cause is not None:
            if job.failed_cause == (
                StartChildWorkflowExecutionFailedCause.START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_WORKFLOW_ALREADY_EXISTS
            ):
                error: BaseException = perdure.exceptions.WorkflowAlreadyStartedError(
                    self.input.id, self.input.workflow
                )
            else:
                error = RuntimeError(f"Unknown child start fail cause: {job.failed_cause}")
        else:
            assert job.cancelled is not None
            error = self._host.decode_failure(job.cancelled, self.converter)
        self._fail(error)

    def resolve(self, job: jobs.ResolveChild) -> None:
        """The child closed."""
        if job.status == "completed":
            value = self._host.decode_result(job.result, self.input.ret_type, self.converter)
            self.result_fut.set_result(value)
        else:
            assert job.failure is not None
            self._fail(self._host.decode_failure(job.failure, self.converter))

    def _fail(self, error: BaseException) -> None:
        if self.start_fut.done():
            self.result_fut.set_exception(error)
        else:
            self.start_fut.set_exception(error)
            self.result_fut.set_result(None)


class ExternalWorkflowHandleImpl(ExternalWorkflowHandle[Any]):
    """Another workflow, to signal or cancel."""

    def __init__(self, host: HandleHost, id: str, run_id: str | None) -> None:
        self._host = host
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
        self._host.check_writable("signal external handle")
        await self._host.interceptor().signal_external_workflow(
            SignalExternalWorkflowInput(
                signal=_SignalDefinition.must_name_from_fn_or_str(signal),
                args=perdure.common._arg_or_args(arg, args),
                namespace=self._host.info.namespace,
                workflow_id=self._id,
                workflow_run_id=self._run_id,
                headers={},
            )
        )

    async def cancel(self, *, reason: str = "") -> None:
        """Request cancellation of the workflow."""
        self._host.check_writable("cancel external handle")
        await self._host.request_cancel_external(self._id, self._run_id, reason)
