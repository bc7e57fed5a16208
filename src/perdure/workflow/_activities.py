"""Activities from workflow code: execute/start (remote and local), handles, cancellation types.

``start_*`` schedule and return an :py:class:`ActivityHandle` (an asyncio Task: await it
for the result, ``cancel()`` it to request cancellation); ``execute_*`` schedule and await.
The ``_class`` and ``_method`` forms take an @activity.defn callable class or method.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from enum import IntEnum
from typing import Any, Generic, TypedDict, TypeVar

import perdure.common
from perdure.workflow._errors import VersioningIntent
from perdure.workflow._runtime import _Runtime

ReturnType = TypeVar("ReturnType")


class ActivityCancellationType(IntEnum):
    """How cancelling an activity handle waits for the activity."""

    TRY_CANCEL = 0
    """Request cancellation and resolve the handle as cancelled at once."""
    WAIT_CANCELLATION_COMPLETED = 1
    """Request cancellation and wait for the activity to acknowledge it."""
    ABANDON = 2
    """Resolve the handle as cancelled without telling the activity."""


class ActivityHandle(asyncio.Task[ReturnType], Generic[ReturnType]):
    """A scheduled activity: await it for the result; ``cancel()`` requests cancellation."""


class ActivityConfig(TypedDict, total=False):
    """Keyword options of :py:func:`execute_activity`, as a reusable dict."""

    task_queue: str | None
    schedule_to_close_timeout: timedelta | None
    schedule_to_start_timeout: timedelta | None
    start_to_close_timeout: timedelta | None
    heartbeat_timeout: timedelta | None
    retry_policy: perdure.common.RetryPolicy | None
    cancellation_type: ActivityCancellationType
    activity_id: str | None
    versioning_intent: VersioningIntent | None
    summary: str | None
    priority: perdure.common.Priority


class LocalActivityConfig(TypedDict, total=False):
    """Keyword options of :py:func:`execute_local_activity`, as a reusable dict."""

    schedule_to_close_timeout: timedelta | None
    schedule_to_start_timeout: timedelta | None
    start_to_close_timeout: timedelta | None
    retry_policy: perdure.common.RetryPolicy | None
    local_retry_threshold: timedelta | None
    cancellation_type: ActivityCancellationType
    activity_id: str | None
    summary: str | None


def start_activity(
    activity: str | Callable[..., Any],
    arg: Any = perdure.common._arg_unset,
    *,
    args: list[Any] | tuple[Any, ...] = (),
    task_queue: str | None = None,
    result_type: type | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: perdure.common.RetryPolicy | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    activity_id: str | None = None,
    versioning_intent: VersioningIntent | None = None,
    summary: str | None = None,
    priority: perdure.common.Priority = perdure.common.Priority.default,
) -> ActivityHandle[Any]:
    """Schedule an activity task and return its handle.

    Args:
        activity: Activity type name, or an @activity.defn function.
        arg: The single argument (or use ``args``).
        args: Several arguments.
        task_queue: Task queue of the activity; defaults to the workflow's.
        result_type: Type to convert the result to (defaults to the function's hint).
        schedule_to_close_timeout: Limit on the whole activity, retries included.
        schedule_to_start_timeout: Limit on waiting in the task queue.
        start_to_close_timeout: Limit on one attempt. One of this and
            ``schedule_to_close_timeout`` is required.
        heartbeat_timeout: Limit between heartbeats.
        retry_policy: Retries; the server's default when None.
        cancellation_type: How cancelling the handle waits for the activity.
        activity_id: Id of the activity; defaults to its sequence number ("1", "2"...).
        versioning_intent: Deprecated Build-Id versioning intent.
        summary: Single-line summary shown by tools.
        priority: Priority of the task.
    """
    return _Runtime.current().workflow_start_activity(
        activity,
        *perdure.common._arg_or_args(arg, args),
        task_queue=task_queue,
        result_type=result_type,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        start_to_close_timeout=start_to_close_timeout,
        heartbeat_timeout=heartbeat_timeout,
        retry_policy=retry_policy,
        cancellation_type=cancellation_type,
        activity_id=activity_id,
        versioning_intent=versioning_intent,
        summary=summary,
        priority=priority,
    )


async def execute_activity(
    activity: str | Callable[..., Any],
    arg: Any = perdure.common._arg_unset,
    *,
    args: list[Any] | tuple[Any, ...] = (),
    task_queue: str | None = None,
    result_type: type | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: perdure.common.RetryPolicy | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    activity_id: str | None = None,
    versioning_intent: VersioningIntent | None = None,
    summary: str | None = None,
    priority: perdure.common.Priority = perdure.common.Priority.default,
) -> Any:
    """Schedule an activity and wait for its result (see :py:func:`start_activity`)."""
    return await start_activity(
        activity,
        arg,
        args=args,
        task_queue=task_queue,
        result_type=result_type,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        start_to_close_timeout=start_to_close_timeout,
        heartbeat_timeout=heartbeat_timeout,
        retry_policy=retry_policy,
        cancellation_type=cancellation_type,
        activity_id=activity_id,
        versioning_intent=versioning_intent,
        summary=summary,
        priority=priority,
    )


start_activity_class = start_activity
"""Schedule an activity given as a callable class decorated with @activity.defn."""
start_activity_method = start_activity
"""Schedule an activity given as a method decorated with @activity.defn."""
execute_activity_class = execute_activity
"""Execute an activity given as a callable class decorated with @activity.defn."""
execute_activity_method = execute_activity
"""Execute an activity given as a method decorated with @activity.defn."""


def start_local_activity(
    activity: str | Callable[..., Any],
    arg: Any = perdure.common._arg_unset,
    *,
    args: list[Any] | tuple[Any, ...] = (),
    result_type: type | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    retry_policy: perdure.common.RetryPolicy | None = None,
    local_retry_threshold: timedelta | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    activity_id: str | None = None,
    summary: str | None = None,
) -> ActivityHandle[Any]:
    """Run an activity in this worker, within the workflow task; its result becomes a marker.

    Retries shorter than ``local_retry_threshold`` (default one minute) happen inside the
    worker; longer backoffs sleep on a durable timer and then schedule the next attempt.

    Args:
        activity: Activity type name, or an @activity.defn function registered on the worker.
        arg: The single argument (or use ``args``).
        args: Several arguments.
        result_type: Type to convert the result to.
        schedule_to_close_timeout: Limit on the whole local activity, retries included.
        schedule_to_start_timeout: Limit on waiting for a local activity slot.
        start_to_close_timeout: Limit on one attempt.
        retry_policy: Retries (initial 1s, coefficient 2, max 100x initial by default).
        local_retry_threshold: Backoffs longer than this use a durable timer.
        cancellation_type: How cancelling the handle waits for the activity.
        activity_id: Id of the activity; defaults to its sequence number.
        summary: Single-line summary shown by tools.
    """
    return _Runtime.current().workflow_start_local_activity(
        activity,
        *perdure.common._arg_or_args(arg, args),
        result_type=result_type,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        start_to_close_timeout=start_to_close_timeout,
        retry_policy=retry_policy,
        local_retry_threshold=local_retry_threshold,
        cancellation_type=cancellation_type,
        activity_id=activity_id,
        summary=summary,
    )


async def execute_local_activity(
    activity: str | Callable[..., Any],
    arg: Any = perdure.common._arg_unset,
    *,
    args: list[Any] | tuple[Any, ...] = (),
    result_type: type | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    retry_policy: perdure.common.RetryPolicy | None = None,
    local_retry_threshold: timedelta | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    activity_id: str | None = None,
    summary: str | None = None,
) -> Any:
    """Run a local activity and wait for its result (see :py:func:`start_local_activity`)."""
    return await start_local_activity(
        activity,
        arg,
        args=args,
        result_type=result_type,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        start_to_close_timeout=start_to_close_timeout,
        retry_policy=retry_policy,
        local_retry_threshold=local_retry_threshold,
        cancellation_type=cancellation_type,
        activity_id=activity_id,
        summary=summary,
    )


start_local_activity_class = start_local_activity
"""Start a local activity given as a callable class decorated with @activity.defn."""
start_local_activity_method = start_local_activity
"""Start a local activity given as a method decorated with @activity.defn."""
execute_local_activity_class = execute_local_activity
"""Execute a local activity given as a callable class decorated with @activity.defn."""
execute_local_activity_method = execute_local_activity
"""Execute a local activity given as a method decorated with @activity.defn."""
