"""Functions that activity code calls, and the @defn decorator that makes an activity.

Mirrors ``temporalio.activity``: code ports by changing the import. Most functions
read the running activity's context from a :py:mod:`contextvars` variable that the
worker sets before the activity starts; code in other threads needs the context
propagated (the worker does it for sync activities it runs in its executor).
"""

from perdure.activity._context import (
    ActivityCancellationDetails,
    Info,
    _ActivityCancellationDetailsHolder,
    _CompleteAsyncError,
    _CompositeEvent,
    _Context,
    _current_context,
    cancellation_details,
    client,
    heartbeat,
    in_activity,
    info,
    is_cancelled,
    is_worker_shutdown,
    metric_meter,
    payload_converter,
    raise_complete_async,
    shield_thread_cancel_exception,
    wait_for_cancelled,
    wait_for_cancelled_sync,
    wait_for_worker_shutdown,
    wait_for_worker_shutdown_sync,
)
from perdure.activity._definition import _Definition, defn
from perdure.activity._logger import LoggerAdapter, logger

__all__ = [
    "ActivityCancellationDetails",
    "Info",
    "LoggerAdapter",
    "_ActivityCancellationDetailsHolder",
    "_CompleteAsyncError",
    "_CompositeEvent",
    "_Context",
    "_Definition",
    "_current_context",
    "cancellation_details",
    "client",
    "defn",
    "heartbeat",
    "in_activity",
    "info",
    "is_cancelled",
    "is_worker_shutdown",
    "logger",
    "metric_meter",
    "payload_converter",
    "raise_complete_async",
    "shield_thread_cancel_exception",
    "wait_for_cancelled",
    "wait_for_cancelled_sync",
    "wait_for_worker_shutdown",
    "wait_for_worker_shutdown_sync",
]
