"""Worker interceptors: hooks around activity execution and workflow calls.

An :py:class:`Interceptor` given to a Worker wraps each activity in an
:py:class:`ActivityInboundInterceptor` chain and each workflow in a
:py:class:`WorkflowInboundInterceptor` chain. Every interceptor delegates to
``self.next`` by default, so a subclass overrides only what it needs. The activity
worker drives the activity chains; the workflow runtime drives the workflow chains.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import temporalio.api.common.v1

    import perdure.activity
    import perdure.common
    import perdure.workflow


class Interceptor:
    """Base class of worker interceptors; override the methods you need."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap an activity's inbound interceptor chain (called once per activity task).

        Args:
            next: The inbound interceptor to delegate to.

        Returns:
            The interceptor the worker calls; `next` itself to not intercept.
        """
        return next

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        """The inbound interceptor class to build for each workflow run, or None.

        The class is constructed like :py:meth:`WorkflowInboundInterceptor.__init__`.

        Args:
            input: Mutable properties this interceptor may change.
        """
        del input
        return None


@dataclass(frozen=True)
class WorkflowInterceptorClassInput:
    """Input to :py:meth:`Interceptor.workflow_interceptor_class`."""

    unsafe_extern_functions: MutableMapping[str, Callable[..., Any]]
    """Functions exposed to workflow code (temporalio's sandbox escape; kept for
    compatibility: Perdure has no import sandbox)."""


# --------------------------------------------------------------------------- activities


@dataclass
class ExecuteActivityInput:
    """Input to :py:meth:`ActivityInboundInterceptor.execute_activity`."""

    fn: Callable[..., Any]
    args: Sequence[Any]
    executor: concurrent.futures.Executor | None
    """The executor a sync activity runs in; None for async activities."""
    headers: Mapping[str, temporalio.api.common.v1.Payload]


class ActivityInboundInterceptor:
    """Intercepts calls into an activity; extend it and delegate to ``self.next``."""

    def __init__(self, next: ActivityInboundInterceptor) -> None:
        """Create the interceptor with the next one in the chain."""
        self.next = next

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        """Called before execute_activity; wrap `outbound` to intercept calls out."""
        self.next.init(outbound)

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        """Run the activity; returns its result."""
        return await self.next.execute_activity(input)


class ActivityOutboundInterceptor:
    """Intercepts calls activity code makes to perdure.activity; delegate to ``self.next``."""

    def __init__(self, next: ActivityOutboundInterceptor) -> None:
        """Create the interceptor with the next one in the chain."""
        self.next = next

    def info(self) -> perdure.activity.Info:
        """Backs :py:func:`perdure.activity.info`."""
        return self.next.info()

    def heartbeat(self, *details: Any) -> None:
        """Backs :py:func:`perdure.activity.heartbeat`."""
        self.next.heartbeat(*details)


# --------------------------------------------------------------------------- workflow inputs

# ``event_groups`` fields hold temporalio's experimental EventGroup values; Perdure has
# no event groups yet, so they are typed loosely and left None.


@dataclass
class ExecuteWorkflowInput:
    """Input to :py:meth:`WorkflowInboundInterceptor.execute_workflow`."""

    type: type
    run_fn: Callable[..., Awaitable[Any]]
    """The unbound @workflow.run method."""
    args: Sequence[Any]
    headers: Mapping[str, temporalio.api.common.v1.Payload]


@dataclass
class HandleSignalInput:
    """Input to :py:meth:`WorkflowInboundInterceptor.handle_signal`."""

    signal: str
    args: Sequence[Any]
    headers: Mapping[str, temporalio.api.common.v1.Payload]


@dataclass
class HandleQueryInput:
    """Input to :py:meth:`WorkflowInboundInterceptor.handle_query`."""

    id: str
    query: str
    args: Sequence[Any]
    headers: Mapping[str, temporalio.api.common.v1.Payload]


@dataclass
class HandleUpdateInput:
    """Input to the update validator and handler of :py:class:`WorkflowInboundInterceptor`."""

    id: str
    update: str
    args: Sequence[Any]
    headers: Mapping[str, temporalio.api.common.v1.Payload]


@dataclass
class ContinueAsNewInput:
    """Input to :py:meth:`WorkflowOutboundInterceptor.continue_as_new`."""

    workflow: str | None
    args: Sequence[Any]
    task_queue: str | None
    run_timeout: timedelta | None
    task_timeout: timedelta | None
    backoff_start_interval: timedelta | None
    retry_policy: perdure.common.RetryPolicy | None
    memo: Mapping[str, Any] | None
    search_attributes: perdure.common.SearchAttributes | perdure.common.TypedSearchAttributes | None
    headers: Mapping[str, temporalio.api.common.v1.Payload]
    versioning_intent: perdure.workflow.VersioningIntent | None
    initial_versioning_behavior: perdure.workflow.ContinueAsNewVersioningBehavior | None
    event_groups: Sequence[Any] | None = None
    arg_types: list[type] | None = None


@dataclass
class SignalChildWorkflowInput:
    """Input to :py:meth:`WorkflowOutboundInterceptor.signal_child_workflow`."""

    signal: str
    args: Sequence[Any]
    child_workflow_id: str
    headers: Mapping[str, temporalio.api.common.v1.Payload]
    event_groups: Sequence[Any] | None = None


@dataclass
class SignalExternalWorkflowInput:
    """Input to :py:meth:`WorkflowOutboundInterceptor.signal_external_workflow`."""

    signal: str
    args: Sequence[Any]
    namespace: str
    workflow_id: str
    workflow_run_id: str | None
    headers: Mapping[str, temporalio.api.common.v1.Payload]
    event_groups: Sequence[Any] | None = None


@dataclass
class StartActivityInput:
    """Input to :py:meth:`WorkflowOutboundInterceptor.start_activity`."""

    activity: str
    args: Sequence[Any]
    activity_id: str | None
    task_queue: str | None
    schedule_to_close_timeout: timedelta | None
    schedule_to_start_timeout: timedelta | None
    start_to_close_timeout: timedelta | None
    heartbeat_timeout: timedelta | None
    retry_policy: perdure.common.RetryPolicy | None
    cancellation_type: perdure.workflow.ActivityCancellationType
    headers: Mapping[str, temporalio.api.common.v1.Payload]
    disable_eager_execution: bool
    versioning_intent: perdure.workflow.VersioningIntent | None
    summary: str | None
    priority: perdure.common.Priority
    arg_types: list[type] | None
    ret_type: type | None
    event_groups: Sequence[Any] | None = field(default=None, kw_only=True)


@dataclass
class StartChildWorkflowInput:
    """Input to :py:meth:`WorkflowOutboundInterceptor.start_child_workflow`."""

    workflow: str
    args: Sequence[Any]
    id: str
    task_queue: str | None
    cancellation_type: perdure.workflow.ChildWorkflowCancellationType
    parent_close_policy: perdure.workflow.ParentClosePolicy
    execution_timeout: timedelta | None
    run_timeout: timedelta | None
    task_timeout: timedelta | None
    id_reuse_policy: perdure.common.WorkflowIDReusePolicy
    retry_policy: perdure.common.RetryPolicy | None
    cron_schedule: str
    memo: Mapping[str, Any] | None
    search_attributes: perdure.common.SearchAttributes | perdure.common.TypedSearchAttributes | None
    headers: Mapping[str, temporalio.api.common.v1.Payload]
    versioning_intent: perdure.workflow.VersioningIntent | None
    static_summary: str | None
    static_details: str | None
    priority: perdure.common.Priority
    arg_types: list[type] | None
    ret_type: type | None
    versioning_override: perdure.common.VersioningOverride | None = field(
        default=None, kw_only=True
    )
    event_groups: Sequence[Any] | None = field(default=None, kw_only=True)


@dataclass
class StartLocalActivityInput:
    """Input to :py:meth:`WorkflowOutboundInterceptor.start_local_activity`."""

    activity: str
    args: Sequence[Any]
    activity_id: str | None
    schedule_to_close_timeout: timedelta | None
    schedule_to_start_timeout: timedelta | None
    start_to_close_timeout: timedelta | None
    retry_policy: perdure.common.RetryPolicy | None
    local_retry_threshold: timedelta | None
    cancellation_type: perdure.workflow.ActivityCancellationType
    headers: Mapping[str, temporalio.api.common.v1.Payload]
    summary: str | None
    event_groups: Sequence[Any] | None = None
    arg_types: list[type] | None = None
    ret_type: type | None = None


# --------------------------------------------------------------------------- workflows


class WorkflowInboundInterceptor:
    """Intercepts calls into a workflow (run, signals, queries, updates).

    Extend it and delegate to ``self.next``. The runtime constructs it from the class
    that :py:meth:`Interceptor.workflow_interceptor_class` returns.
    """

    def __init__(self, next: WorkflowInboundInterceptor) -> None:
        """Create the interceptor with the next one in the chain."""
        self.next = next

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        """Called before any other call; wrap `outbound` to intercept calls out."""
        self.next.init(outbound)

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        """Run the workflow's main method; returns its result."""
        return await self.next.execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        """Deliver a signal to its handler."""
        return await self.next.handle_signal(input)

    async def handle_query(self, input: HandleQueryInput) -> Any:
        """Answer a query; returns the handler's result."""
        return await self.next.handle_query(input)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        """Run an update's validator; raising rejects the update."""
        self.next.handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        """Run an accepted update's handler; returns its result."""
        return await self.next.handle_update_handler(input)


class WorkflowOutboundInterceptor:
    """Intercepts calls workflow code makes out (activities, children, signals, ...).

    Extend it and delegate to ``self.next``.
    """

    def __init__(self, next: WorkflowOutboundInterceptor) -> None:
        """Create the interceptor with the next one in the chain."""
        self.next = next

    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        """Backs :py:func:`perdure.workflow.continue_as_new`."""
        self.next.continue_as_new(input)

    def info(self) -> perdure.workflow.Info:
        """Backs :py:func:`perdure.workflow.info`."""
        return self.next.info()

    async def signal_child_workflow(self, input: SignalChildWorkflowInput) -> None:
        """Backs ``ChildWorkflowHandle.signal``."""
        return await self.next.signal_child_workflow(input)

    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        """Backs ``ExternalWorkflowHandle.signal``."""
        return await self.next.signal_external_workflow(input)

    def start_activity(self, input: StartActivityInput) -> perdure.workflow.ActivityHandle[Any]:
        """Backs ``workflow.start_activity`` and ``workflow.execute_activity``."""
        return self.next.start_activity(input)

    async def start_child_workflow(
        self, input: StartChildWorkflowInput
    ) -> perdure.workflow.ChildWorkflowHandle[Any, Any]:
        """Backs ``workflow.start_child_workflow`` and ``workflow.execute_child_workflow``."""
        return await self.next.start_child_workflow(input)

    def start_local_activity(
        self, input: StartLocalActivityInput
    ) -> perdure.workflow.ActivityHandle[Any]:
        """Backs ``workflow.start_local_activity`` and ``workflow.execute_local_activity``."""
        return self.next.start_local_activity(input)
