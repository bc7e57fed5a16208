"""The bridge from workflow API functions to the running workflow instance.

Workflow code calls module functions (``workflow.sleep``, ``workflow.info``...). Each finds
the instance through the running event loop, which the worker's deterministic loop carries
as ``_perdure_runtime``: no thread-locals, no globals, one attribute read.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from random import Random
from typing import TYPE_CHECKING, Any, NoReturn

import perdure.common
import perdure.converter
from perdure.workflow._errors import _NotInWorkflowEventLoopError

if TYPE_CHECKING:
    from perdure.workflow._activities import ActivityCancellationType, ActivityHandle
    from perdure.workflow._children import (
        ChildWorkflowCancellationType,
        ChildWorkflowHandle,
        ExternalWorkflowHandle,
        ParentClosePolicy,
    )
    from perdure.workflow._errors import ContinueAsNewVersioningBehavior, VersioningIntent
    from perdure.workflow._info import Info


class _Runtime(ABC):
    """What a running workflow instance offers the workflow API (implemented by the worker)."""

    @staticmethod
    def current() -> _Runtime:
        """The runtime of the workflow whose code is running, or an error outside workflows."""
        runtime = _Runtime.maybe_current()
        if runtime is None:
            raise _NotInWorkflowEventLoopError("Not in workflow event loop")
        return runtime

    @staticmethod
    def maybe_current() -> _Runtime | None:
        """The current runtime, or None outside workflow code."""
        loop = asyncio._get_running_loop()
        return getattr(loop, "_perdure_runtime", None) if loop is not None else None

    @abstractmethod
    def workflow_all_handlers_finished(self) -> bool:
        """No signal or update handler is still running."""

    @abstractmethod
    def workflow_continue_as_new(
        self,
        *args: Any,
        workflow: Callable[..., Any] | str | None,
        task_queue: str | None,
        run_timeout: timedelta | None,
        task_timeout: timedelta | None,
        backoff_start_interval: timedelta | None,
        retry_policy: perdure.common.RetryPolicy | None,
        memo: Mapping[str, Any] | None,
        search_attributes: (
            perdure.common.SearchAttributes | perdure.common.TypedSearchAttributes | None
        ),
        versioning_intent: VersioningIntent | None,
        initial_versioning_behavior: ContinueAsNewVersioningBehavior | None,
    ) -> NoReturn:
        """Raise ContinueAsNewError for these options."""

    @abstractmethod
    def workflow_cancellation_reason(self) -> str | None:
        """Why cancellation was requested, or None if it was not."""

    @abstractmethod
    def workflow_get_current_build_id(self) -> str:
        """Build id that completed the current task."""

    @abstractmethod
    def workflow_get_current_history_length(self) -> int:
        """Events in history so far."""

    @abstractmethod
    def workflow_get_current_history_size(self) -> int:
        """Bytes of history so far."""

    @abstractmethod
    def workflow_is_continue_as_new_suggested(self) -> bool:
        """The server suggests continuing as new."""

    @abstractmethod
    def workflow_get_external_workflow_handle(
        self, id: str, run_id: str | None
    ) -> ExternalWorkflowHandle[Any]:
        """A handle to signal or cancel another workflow."""

    @abstractmethod
    def workflow_get_query_handler(self, name: str | None) -> Callable[..., Any] | None:
        """The query handler for a name (None = dynamic)."""

    @abstractmethod
    def workflow_get_signal_handler(self, name: str | None) -> Callable[..., Any] | None:
        """The signal handler for a name (None = dynamic)."""

    @abstractmethod
    def workflow_get_update_handler(self, name: str | None) -> Callable[..., Any] | None:
        """The update handler for a name (None = dynamic)."""

    @abstractmethod
    def workflow_get_update_validator(self, name: str | None) -> Callable[..., Any] | None:
        """The update validator for a name (None = dynamic)."""

    @abstractmethod
    def workflow_info(self) -> Info:
        """Info of this run."""

    @abstractmethod
    def workflow_instance(self) -> Any:
        """The workflow object."""

    @abstractmethod
    def workflow_is_replaying(self) -> bool:
        """Code is re-running history (side effects like logging should be skipped)."""

    @abstractmethod
    def workflow_memo(self) -> Mapping[str, Any]:
        """The memo, decoded."""

    @abstractmethod
    def workflow_memo_value(self, key: str, default: Any, *, type_hint: type | None) -> Any:
        """One memo value, decoded."""

    @abstractmethod
    def workflow_upsert_memo(self, updates: Mapping[str, Any]) -> None:
        """Add, change or (with None) remove memo keys."""

    @abstractmethod
    def workflow_metric_meter(self) -> perdure.common.MetricMeter:
        """The metric meter for workflow code."""

    @abstractmethod
    def workflow_patch(self, id: str, *, deprecated: bool) -> bool:
        """patched()/deprecate_patch()."""

    @abstractmethod
    def workflow_payload_converter(self) -> perdure.converter.PayloadConverter:
        """The payload converter of this worker."""

    @abstractmethod
    def workflow_random(self) -> Random:
        """The deterministic random generator."""

    @abstractmethod
    def workflow_set_query_handler(
        self,
        name: str | None,
        handler: Callable[..., Any] | None,
        *,
        description: str | None = None,
    ) -> None:
        """Set or remove a query handler."""

    @abstractmethod
    def workflow_set_signal_handler(
        self,
        name: str | None,
        handler: Callable[..., Any] | None,
        *,
        description: str | None = None,
    ) -> None:
        """Set or remove a signal handler (buffered signals are delivered to it)."""

    @abstractmethod
    def workflow_set_update_handler(
        self,
        name: str | None,
        handler: Callable[..., Any] | None,
        validator: Callable[..., Any] | None,
        *,
        description: str | None = None,
    ) -> None:
        """Set or remove an update handler."""

    @abstractmethod
    def workflow_start_activity(
        self,
        activity: Any,
        *args: Any,
        task_queue: str | None,
        result_type: type | None,
        schedule_to_close_timeout: timedelta | None,
        schedule_to_start_timeout: timedelta | None,
        start_to_close_timeout: timedelta | None,
        heartbeat_timeout: timedelta | None,
        retry_policy: perdure.common.RetryPolicy | None,
        cancellation_type: ActivityCancellationType,
        activity_id: str | None,
        versioning_intent: VersioningIntent | None,
        summary: str | None,
        priority: perdure.common.Priority,
    ) -> ActivityHandle[Any]:
        """Schedule an activity."""

    @abstractmethod
    async def workflow_start_child_workflow(
        self,
        workflow: Any,
        *args: Any,
        id: str,
        task_queue: str | None,
        result_type: type | None,
        cancellation_type: ChildWorkflowCancellationType,
        parent_close_policy: ParentClosePolicy,
        execution_timeout: timedelta | None,
        run_timeout: timedelta | None,
        task_timeout: timedelta | None,
        id_reuse_policy: perdure.common.WorkflowIDReusePolicy,
        retry_policy: perdure.common.RetryPolicy | None,
        cron_schedule: str,
        memo: Mapping[str, Any] | None,
        search_attributes: (
            perdure.common.SearchAttributes | perdure.common.TypedSearchAttributes | None
        ),
        versioning_intent: VersioningIntent | None,
        static_summary: str | None,
        static_details: str | None,
        priority: perdure.common.Priority,
    ) -> ChildWorkflowHandle[Any, Any]:
        """Start a child workflow and wait until it started."""

    @abstractmethod
    def workflow_start_local_activity(
        self,
        activity: Any,
        *args: Any,
        result_type: type | None,
        schedule_to_close_timeout: timedelta | None,
        schedule_to_start_timeout: timedelta | None,
        start_to_close_timeout: timedelta | None,
        retry_policy: perdure.common.RetryPolicy | None,
        local_retry_threshold: timedelta | None,
        cancellation_type: ActivityCancellationType,
        activity_id: str | None,
        summary: str | None,
    ) -> ActivityHandle[Any]:
        """Schedule a local activity."""

    @abstractmethod
    def workflow_time_ns(self) -> int:
        """Workflow time in nanoseconds since the epoch."""

    @abstractmethod
    def workflow_upsert_search_attributes(
        self,
        attributes: perdure.common.SearchAttributes
        | Sequence[perdure.common.SearchAttributeUpdate[Any]],
    ) -> None:
        """Upsert search attributes (typed updates or the legacy dict form)."""

    @abstractmethod
    async def workflow_sleep(self, duration: float, *, summary: str | None) -> None:
        """A durable timer."""

    @abstractmethod
    async def workflow_wait_condition(
        self, fn: Callable[[], bool], *, timeout: float | None, timeout_summary: str | None
    ) -> None:
        """Wait until fn() is true (checked after each step of workflow code)."""

    @abstractmethod
    def workflow_get_current_details(self) -> str:
        """The current details string shown in tools."""

    @abstractmethod
    def workflow_set_current_details(self, details: str) -> None:
        """Set the current details string."""

    @abstractmethod
    def workflow_is_failure_exception(self, err: BaseException) -> bool:
        """Whether this exception fails the workflow (vs. failing the task)."""

    @abstractmethod
    def workflow_has_last_completion_result(self) -> bool:
        """A previous cron/retry run left a result."""

    @abstractmethod
    def workflow_last_completion_result(self, type_hint: type | None) -> Any | None:
        """The previous cron/retry run's result."""

    @abstractmethod
    def workflow_last_failure(self) -> BaseException | None:
        """The previous retry attempt's failure."""

    @abstractmethod
    def workflow_random_seed(self) -> int:
        """The seed of workflow.random()."""

    @abstractmethod
    def workflow_register_random_seed_callback(self, callback: Callable[[int], None]) -> None:
        """Be told the new seed when a reset changes it."""

    @abstractmethod
    def workflow_extern_functions(self) -> Mapping[str, Callable[..., Any]]:
        """Functions interceptors exposed to workflow code."""
