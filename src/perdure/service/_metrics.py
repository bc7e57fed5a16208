"""The SDK's request metrics: every RPC a client makes, as temporalio's Core counts them.

``temporal_request`` and ``temporal_request_latency`` for ordinary calls,
``temporal_long_request`` and ``temporal_long_request_latency`` for long polls, and the
``_failure`` counters with the gRPC status code, by operation, namespace and task queue.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from perdure.common import MetricMeter

R = TypeVar("R")

_LONG = frozenset(
    {"PollWorkflowTaskQueue", "PollActivityTaskQueue", "PollNexusTaskQueue",
     "PollWorkflowExecutionUpdate"}
)  # fmt: skip


class RequestMetrics:
    """Counts and times the calls of one client connection."""

    def __init__(self, meter: MetricMeter, prefix: str) -> None:
        self._requests = meter.create_counter(f"{prefix}request", "Client requests")
        self._failures = meter.create_counter(f"{prefix}request_failure", "Failed requests")
        self._latency = meter.create_histogram_timedelta(
            f"{prefix}request_latency", "Request latency", "duration"
        )
        self._long_requests = meter.create_counter(f"{prefix}long_request", "Long polls")
        self._long_failures = meter.create_counter(
            f"{prefix}long_request_failure", "Failed long polls"
        )
        self._long_latency = meter.create_histogram_timedelta(
            f"{prefix}long_request_latency", "Long poll latency", "duration"
        )

    async def measure(self, operation: str, request: Any, call: Callable[[], Awaitable[R]]) -> R:
        """Run ``call`` (the RPC ``operation`` with ``request``), recording it."""
        attributes: dict[str, str] = {"operation": operation}
        namespace = getattr(request, "namespace", "")
        if namespace:
            attributes["namespace"] = namespace
        queue = getattr(request, "task_queue", None)
        queue_name = queue if isinstance(queue, str) else getattr(queue, "name", "")
        if queue_name:
            attributes["task_queue"] = queue_name
        long = operation in _LONG or (
            operation == "GetWorkflowExecutionHistory" and getattr(request, "wait_new_event", False)
        )
        requests, failures, latency = (
            (self._long_requests, self._long_failures, self._long_latency)
            if long
            else (self._requests, self._failures, self._latency)
        )
        requests.add(1, attributes)
        start = time.perf_counter()
        try:
            return await call()
        except BaseException as err:
            status = getattr(getattr(err, "status", None), "name", type(err).__name__)
            failures.add(1, {**attributes, "status_code": str(status)})
            raise
        finally:
            latency.record(timedelta(seconds=time.perf_counter() - start), attributes)
