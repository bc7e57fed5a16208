"""Workflow API calls that leave the workflow through the outbound interceptors.

``workflow.start_activity``, ``start_child_workflow``, ``continue_as_new``... validate and
turn their options into interceptor inputs here, then enter the outbound interceptor
chain; its innermost link (``RootOutbound``) hands them to ``Outbound``, which issues the
commands.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import perdure.activity
import perdure.common
from perdure.worker._interceptor import (
    ContinueAsNewInput,
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    WorkflowOutboundInterceptor,
)
from perdure.worker._workflow._handles import ExternalWorkflowHandleImpl, HandleHost
from perdure.worker._workflow._mode import RunMode
from perdure.workflow import (
    ActivityCancellationType,
    ActivityHandle,
    ChildWorkflowHandle,
    ExternalWorkflowHandle,
    _Definition,
)


class OutboundCalls:
    """Options in, interceptor inputs out, into the outermost outbound interceptor."""

    def __init__(
        self,
        mode: RunMode,
        interceptor: Callable[[], WorkflowOutboundInterceptor],
        host: HandleHost,
    ) -> None:
        """``host``: what external workflow handles talk to."""
        self._mode = mode
        self._interceptor = interceptor
        self._host = host

    def start_activity(
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
        self._mode.check_writable("schedule activity")
        name, arg_types, ret_type = self._activity_name(activity, result_type)
        return self._interceptor().start_activity(
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

    def start_local_activity(
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
        self._mode.check_writable("schedule local activity")
        name, arg_types, ret_type = self._activity_name(activity, result_type)
        return self._interceptor().start_local_activity(
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

    async def start_child_workflow(
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
        return await self._interceptor().start_child_workflow(
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

    def external_workflow_handle(self, id: str, run_id: str | None) -> ExternalWorkflowHandle[Any]:
        """A handle to another workflow."""
        return ExternalWorkflowHandleImpl(self._host, id, run_id)

    def continue_as_new(
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
        self._mode.check_writable("continue as new")
        name: str | None = None
        arg_types: list[Any] | None = None
        if isinstance(workflow, str):
            name = workflow
        elif callable(workflow):
            defn = _Definition.must_from_run_fn(workflow)
            name, arg_types = defn.name, defn.arg_types
        elif workflow is not None:
            raise TypeError("Workflow must be None, a string, or callable")
        self._interceptor().continue_as_new(
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
