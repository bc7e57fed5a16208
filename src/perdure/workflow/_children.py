"""Child workflows, handles to other workflows, and continue-as-new."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from enum import IntEnum
from typing import Any, Generic, NoReturn, TypedDict, TypeVar

from temporalio.api.enums.v1 import ParentClosePolicy as _ParentClosePolicy

import perdure.common
from perdure.workflow._api import uuid4
from perdure.workflow._errors import ContinueAsNewVersioningBehavior, VersioningIntent
from perdure.workflow._runtime import _Runtime

SelfType = TypeVar("SelfType")
ReturnType = TypeVar("ReturnType")


class ParentClosePolicy(IntEnum):
    """What happens to a child workflow when its parent closes."""

    UNSPECIFIED = int(_ParentClosePolicy.PARENT_CLOSE_POLICY_UNSPECIFIED)
    """Server default (terminate)."""
    TERMINATE = int(_ParentClosePolicy.PARENT_CLOSE_POLICY_TERMINATE)
    """Terminate the child."""
    ABANDON = int(_ParentClosePolicy.PARENT_CLOSE_POLICY_ABANDON)
    """Leave the child running."""
    REQUEST_CANCEL = int(_ParentClosePolicy.PARENT_CLOSE_POLICY_REQUEST_CANCEL)
    """Request cancellation of the child."""


class ChildWorkflowCancellationType(IntEnum):
    """How cancelling a child workflow handle waits for the child."""

    ABANDON = 0
    """Do not ask the child to cancel; resolve the handle as cancelled at once."""
    TRY_CANCEL = 1
    """Ask the child to cancel and resolve the handle as cancelled at once."""
    WAIT_CANCELLATION_COMPLETED = 2
    """Ask the child to cancel and wait until it closes."""
    WAIT_CANCELLATION_REQUESTED = 3
    """Ask the child to cancel and wait until the request is delivered."""


class ChildWorkflowHandle(asyncio.Task[ReturnType], Generic[SelfType, ReturnType]):
    """A started child workflow: await it for its result, ``cancel()`` to cancel it."""

    @property
    def id(self) -> str:
        """Workflow id of the child."""
        raise NotImplementedError

    @property
    def first_execution_run_id(self) -> str | None:
        """Run id of the child's first run."""
        raise NotImplementedError

    async def signal(
        self,
        signal: str | Callable[..., Any],
        arg: Any = perdure.common._arg_unset,
        *,
        args: Sequence[Any] = (),
    ) -> None:
        """Signal the child (a signal name or a @workflow.signal method)."""
        raise NotImplementedError


class ExternalWorkflowHandle(Generic[SelfType]):
    """Another workflow, by id (and optionally run id): signal it or request its cancellation."""

    @property
    def id(self) -> str:
        """Workflow id."""
        raise NotImplementedError

    @property
    def run_id(self) -> str | None:
        """Run id, or None for the latest run."""
        raise NotImplementedError

    async def signal(
        self,
        signal: str | Callable[..., Any],
        arg: Any = perdure.common._arg_unset,
        *,
        args: Sequence[Any] = (),
    ) -> None:
        """Signal the workflow; raises if it does not exist."""
        raise NotImplementedError

    async def cancel(self, *, reason: str = "") -> None:
        """Request cancellation of the workflow; raises if it does not exist."""
        raise NotImplementedError


class ChildWorkflowConfig(TypedDict, total=False):
    """Keyword options of :py:func:`execute_child_workflow`, as a reusable dict."""

    id: str
    task_queue: str | None
    cancellation_type: ChildWorkflowCancellationType
    parent_close_policy: ParentClosePolicy
    execution_timeout: timedelta | None
    run_timeout: timedelta | None
    task_timeout: timedelta | None
    id_reuse_policy: perdure.common.WorkflowIDReusePolicy
    retry_policy: perdure.common.RetryPolicy | None
    cron_schedule: str
    memo: Mapping[str, Any] | None
    search_attributes: perdure.common.SearchAttributes | perdure.common.TypedSearchAttributes | None
    versioning_intent: VersioningIntent | None
    static_summary: str | None
    static_details: str | None
    priority: perdure.common.Priority


async def start_child_workflow(
    workflow: Any,
    arg: Any = perdure.common._arg_unset,
    *,
    args: Sequence[Any] = (),
    id: str | None = None,
    task_queue: str | None = None,
    result_type: type | None = None,
    cancellation_type: ChildWorkflowCancellationType = (
        ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED
    ),
    parent_close_policy: ParentClosePolicy = ParentClosePolicy.TERMINATE,
    execution_timeout: timedelta | None = None,
    run_timeout: timedelta | None = None,
    task_timeout: timedelta | None = None,
    id_reuse_policy: perdure.common.WorkflowIDReusePolicy = (
        perdure.common.WorkflowIDReusePolicy.ALLOW_DUPLICATE
    ),
    retry_policy: perdure.common.RetryPolicy | None = None,
    cron_schedule: str = "",
    memo: Mapping[str, Any] | None = None,
    search_attributes: (
        perdure.common.SearchAttributes | perdure.common.TypedSearchAttributes | None
    ) = None,
    versioning_intent: VersioningIntent | None = None,
    static_summary: str | None = None,
    static_details: str | None = None,
    priority: perdure.common.Priority = perdure.common.Priority.default,
) -> ChildWorkflowHandle[Any, Any]:
    """Start a child workflow; returns once it started (raises if it could not start).

    Args:
        workflow: Workflow type name or a @workflow.run method.
        arg: The single argument (or use ``args``).
        args: Several arguments.
        id: Workflow id of the child; a deterministic uuid4 by default.
        task_queue: Task queue of the child; defaults to the parent's.
        result_type: Type to convert the result to.
        cancellation_type: How cancelling the handle waits for the child.
        parent_close_policy: What happens to the child when the parent closes.
        execution_timeout: Limit on the child including retries and continue-as-new.
        run_timeout: Limit on one run of the child.
        task_timeout: Limit on one workflow task of the child.
        id_reuse_policy: How an id used by a closed workflow may be reused.
        retry_policy: Retries of the child.
        cron_schedule: Cron schedule of the child.
        memo: Memo of the child.
        search_attributes: Search attributes of the child.
        versioning_intent: Deprecated Build-Id versioning intent.
        static_summary: Single-line summary shown by tools.
        static_details: Longer details shown by tools.
        priority: Priority of the child's tasks.
    """
    return await _Runtime.current().workflow_start_child_workflow(
        workflow,
        *perdure.common._arg_or_args(arg, args),
        id=id or str(uuid4()),
        task_queue=task_queue,
        result_type=result_type,
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
        versioning_intent=versioning_intent,
        static_summary=static_summary,
        static_details=static_details,
        priority=priority,
    )


async def execute_child_workflow(
    workflow: Any,
    arg: Any = perdure.common._arg_unset,
    *,
    args: Sequence[Any] = (),
    id: str | None = None,
    task_queue: str | None = None,
    result_type: type | None = None,
    cancellation_type: ChildWorkflowCancellationType = (
        ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED
    ),
    parent_close_policy: ParentClosePolicy = ParentClosePolicy.TERMINATE,
    execution_timeout: timedelta | None = None,
    run_timeout: timedelta | None = None,
    task_timeout: timedelta | None = None,
    id_reuse_policy: perdure.common.WorkflowIDReusePolicy = (
        perdure.common.WorkflowIDReusePolicy.ALLOW_DUPLICATE
    ),
    retry_policy: perdure.common.RetryPolicy | None = None,
    cron_schedule: str = "",
    memo: Mapping[str, Any] | None = None,
    search_attributes: (
        perdure.common.SearchAttributes | perdure.common.TypedSearchAttributes | None
    ) = None,
    versioning_intent: VersioningIntent | None = None,
    static_summary: str | None = None,
    static_details: str | None = None,
    priority: perdure.common.Priority = perdure.common.Priority.default,
) -> Any:
    """Start a child workflow and wait for its result (see :py:func:`start_child_workflow`)."""
    handle = await start_child_workflow(
        workflow,
        arg,
        args=args,
        id=id,
        task_queue=task_queue,
        result_type=result_type,
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
        versioning_intent=versioning_intent,
        static_summary=static_summary,
        static_details=static_details,
        priority=priority,
    )
    return await handle


def get_external_workflow_handle(
    workflow_id: str, *, run_id: str | None = None
) -> ExternalWorkflowHandle[Any]:
    """A handle to signal or cancel another workflow by id."""
    return _Runtime.current().workflow_get_external_workflow_handle(workflow_id, run_id)


def get_external_workflow_handle_for(
    workflow: Callable[..., Any], workflow_id: str, *, run_id: str | None = None
) -> ExternalWorkflowHandle[Any]:
    """Typed form of :py:func:`get_external_workflow_handle` (``workflow`` is its run method)."""
    return get_external_workflow_handle(workflow_id, run_id=run_id)


class ContinueAsNewError(BaseException):
    """Raised by :py:func:`continue_as_new`; let it propagate out of the run method.

    It derives from BaseException so ``except Exception`` does not swallow it.
    """

    def __init__(self, *args: object) -> None:
        """Only continue_as_new creates it."""
        if type(self) is ContinueAsNewError:
            raise RuntimeError("Cannot instantiate ContinueAsNewError directly")
        super().__init__(*args)


def continue_as_new(
    arg: Any = perdure.common._arg_unset,
    *,
    args: Sequence[Any] = (),
    workflow: Callable[..., Any] | str | None = None,
    task_queue: str | None = None,
    run_timeout: timedelta | None = None,
    task_timeout: timedelta | None = None,
    backoff_start_interval: timedelta | None = None,
    retry_policy: perdure.common.RetryPolicy | None = None,
    memo: Mapping[str, Any] | None = None,
    search_attributes: (
        perdure.common.SearchAttributes | perdure.common.TypedSearchAttributes | None
    ) = None,
    versioning_intent: VersioningIntent | None = None,
    initial_versioning_behavior: ContinueAsNewVersioningBehavior | None = None,
) -> NoReturn:
    """End this run and start a new run of the workflow with fresh history.

    Raises ContinueAsNewError, which must propagate out of the run method. Unset options
    (workflow type, task queue, timeouts, memo, search attributes, retry policy) carry over.
    """
    _Runtime.current().workflow_continue_as_new(
        *perdure.common._arg_or_args(arg, args),
        workflow=workflow,
        task_queue=task_queue,
        run_timeout=run_timeout,
        task_timeout=task_timeout,
        backoff_start_interval=backoff_start_interval,
        retry_policy=retry_policy,
        memo=memo,
        search_attributes=search_attributes,
        versioning_intent=versioning_intent,
        initial_versioning_behavior=initial_versioning_behavior,
    )
