"""The server's Prometheus metrics, under the names and labels Temporal's server uses.

A Temporal dashboard pointed at Perdure finds what it looks for: ``service_requests``,
``service_errors``, ``service_error_with_type`` and ``service_latency`` by operation and
namespace (from the one ``CallInterceptor`` every RPC passes, frontend/dispatch.py);
``workflow_success``/``_failed``/``_timeout``/``_terminate``/``_cancel``/
``_continued_as_new`` and the ``history_size``/``history_count`` distributions of closed
runs (from the commit effects, commit_effects.py); ``poll_success``, ``poll_timeouts``
and ``task_schedule_to_start_latency`` by task queue (from the poll responses);
``persistence_requests``/``_errors``/``_latency`` for history commits; timer lateness;
``approximate_backlog_count`` per queue (read at scrape time). Perdure's own, prefixed
``perdure_``: history cache lookups and hits, runs per commit, the SQLite group commit.

Recording is a few dict operations on the event loop; nothing here runs when metrics are
off (the composition root passes no interceptor and no observer).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from google.protobuf.message import Message
from temporalio.api.enums.v1 import TaskQueueKind
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums

from perdure._prometheus import (
    BYTES_BUCKETS,
    COUNT_BUCKETS,
    LabelValues,
    MetricsHttpServer,
    Registry,
)
from perdure.server.engine.execution import Execution
from perdure.server.frontend.deadline import Deadline
from perdure.server.frontend.dispatch import Call, Next
from perdure.server.namespaces import Namespace

_Status = wf_enums.WorkflowExecutionStatus
_CLOSE_COUNTERS: dict[int, str] = {
    _Status.WORKFLOW_EXECUTION_STATUS_COMPLETED: "workflow_success",
    _Status.WORKFLOW_EXECUTION_STATUS_FAILED: "workflow_failed",
    _Status.WORKFLOW_EXECUTION_STATUS_TIMED_OUT: "workflow_timeout",
    _Status.WORKFLOW_EXECUTION_STATUS_TERMINATED: "workflow_terminate",
    _Status.WORKFLOW_EXECUTION_STATUS_CANCELED: "workflow_cancel",
    _Status.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW: "workflow_continued_as_new",
}
_POLLS = {"PollWorkflowTaskQueue": "Workflow", "PollActivityTaskQueue": "Activity"}
_STICKY = int(TaskQueueKind.TASK_QUEUE_KIND_STICKY)  # an enum wrapper lookup is slow
_OPERATION_LABELS = ("operation", "namespace", "service_name")
_QUEUE_LABELS = ("namespace", "taskqueue", "task_type", "partition", "service_name")
_CLOSE_LABELS = ("namespace", "taskqueue", "workflowType", "operation", "service_name")


class ServerMetrics:
    """The server's metric families, and the hooks that record them."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry = registry if registry is not None else Registry()
        self._requests = registry.counter(
            "service_requests", "Requests served, by operation and namespace.", _OPERATION_LABELS
        )
        self._errors = registry.counter(
            "service_errors", "Requests that failed.", _OPERATION_LABELS
        )
        self._error_types = registry.counter(
            "service_error_with_type",
            "Requests that failed, by error type.",
            (*_OPERATION_LABELS, "error_type"),
        )
        self._latency = registry.histogram(
            "service_latency", "Request latency in seconds.", _OPERATION_LABELS
        )
        self._closes = {
            name: registry.counter(name, f"Runs closed ({name}).", _CLOSE_LABELS)
            for name in _CLOSE_COUNTERS.values()
        }
        self._history_size = registry.histogram(
            "history_size", "History bytes of closed runs.", ("namespace", "operation"),
            BYTES_BUCKETS,
        )  # fmt: skip
        self._history_count = registry.histogram(
            "history_count", "History events of closed runs.", ("namespace", "operation"),
            COUNT_BUCKETS,
        )  # fmt: skip
        self._poll_success = registry.counter(
            "poll_success", "Polls that received a task.", _QUEUE_LABELS
        )
        self._poll_timeouts = registry.counter(
            "poll_timeouts", "Polls that ended without a task.", _QUEUE_LABELS
        )
        self._schedule_to_start = registry.histogram(
            "task_schedule_to_start_latency",
            "Seconds from a task's scheduling to its start by a poller.",
            _QUEUE_LABELS,
        )
        self._persistence_requests = registry.counter(
            "persistence_requests", "Store operations.", _OPERATION_LABELS
        )
        self._persistence_errors = registry.counter(
            "persistence_errors", "Store operations that failed.", _OPERATION_LABELS
        )
        self._persistence_latency = registry.histogram(
            "persistence_latency", "Store operation latency in seconds.", _OPERATION_LABELS
        )
        self._timer_lateness = registry.histogram(
            "timer_task_lateness",
            "Seconds between a durable timer's due time and its firing.",
            ("service_name",),
        )
        self._cache_requests = registry.counter(
            "perdure_history_cache_requests", "Run state lookups in the history cache."
        )
        self._cache_hits = registry.counter(
            "perdure_history_cache_hits", "Run state lookups served from the history cache."
        )
        self._commit_rows = registry.histogram(
            "perdure_commit_runs", "Runs written per history commit.", (), COUNT_BUCKETS
        )

    def serve(self, host: str, port: int) -> MetricsHttpServer:
        """Serve ``/metrics`` on host:port (0: a free port, see the result's ``port``)."""
        return MetricsHttpServer(self.registry, host, port)

    # ------------------------------------------------------------------ requests

    async def intercept(
        self, call: Call, request: Message, deadline: Deadline, proceed: Next
    ) -> Message:
        """The ``CallInterceptor`` (frontend/dispatch.py) counting and timing every RPC."""
        namespace: str = getattr(request, "namespace", "") or "_unknown_"
        labels = (call.method, namespace, "frontend")
        self._requests.inc(labels)
        start = time.perf_counter()
        try:
            response = await proceed(request, deadline)
        except BaseException as err:
            self._errors.inc(labels)
            self._error_types.inc((*labels, f"serviceerror_{type(err).__name__}"))
            raise
        finally:
            self._latency.observe(labels, time.perf_counter() - start)
        task_type = _POLLS.get(call.method)
        if task_type is not None:
            self._record_poll(task_type, namespace, request, response)
        return response

    def _record_poll(self, task_type: str, namespace: str, request: Any, response: Any) -> None:
        queue = request.task_queue
        sticky = queue.kind == _STICKY
        name = (queue.normal_name or queue.name) if sticky else queue.name
        labels = (namespace, name, task_type, "__sticky__" if sticky else "0", "matching")
        if not response.task_token:
            self._poll_timeouts.inc(labels)
            return
        self._poll_success.inc(labels)
        scheduled = (
            response.scheduled_time
            if task_type == "Workflow"
            else response.current_attempt_scheduled_time
        )
        started = response.started_time
        if scheduled.seconds and started.seconds:
            latency = (started.seconds - scheduled.seconds) + (
                started.nanos - scheduled.nanos
            ) / 1e9
            self._schedule_to_start.observe(labels, max(latency, 0.0))

    # ------------------------------------------------------------------ history

    def run_committed(self, ns: Namespace, ex: Execution) -> None:
        """A commit changed ``ex``: count the run's close, with its history's size."""
        if not ex.out.closed:
            return
        st = ex.state
        name = _CLOSE_COUNTERS.get(st.status)
        if name is not None:
            labels = (ns.name, st.task_queue, st.workflow_type, "CompletionStats", "history")
            self._closes[name].inc(labels)
        self._history_size.observe((ns.name, "CompletionStats"), st.history_size_bytes)
        self._history_count.observe((ns.name, "CompletionStats"), st.next_event_id - 1)

    def cache_lookup(self, hit: bool) -> None:
        """A run's state was looked up in the history cache."""
        self._cache_requests.inc(())
        if hit:
            self._cache_hits.inc(())

    def committed(self, namespace: str, runs: int, seconds: float, ok: bool) -> None:
        """A history commit of ``runs`` runs took ``seconds`` (``ok``: it was durable)."""
        labels = ("UpdateWorkflowExecution", namespace, "history")
        self._persistence_requests.inc(labels)
        if not ok:
            self._persistence_errors.inc(labels)
        self._persistence_latency.observe(labels, seconds)
        self._commit_rows.observe((), runs)

    def timer_fired(self, lateness_seconds: float) -> None:
        """A durable timer fired ``lateness_seconds`` after it was due."""
        self._timer_lateness.observe(("history",), max(lateness_seconds, 0.0))

    # ------------------------------------------------------------------ read at scrape time

    def watch_backlog(self, backlog: Callable[[], Iterable[tuple[str, str, str, int]]]) -> None:
        """``backlog()``: (namespace, task queue, task type, tasks waiting) per queue."""

        def series() -> Iterable[tuple[LabelValues, float]]:
            for namespace, queue, task_type, count in backlog():
                yield (namespace, queue, task_type, "0", "matching"), float(count)

        self.registry.gauge(
            "approximate_backlog_count", "Tasks waiting in a queue.", _QUEUE_LABELS, series
        )

    def watch_group_commit(self, stats: Callable[[], tuple[int, int]]) -> None:
        """``stats()``: (write transactions, writes) of the SQLite group commit so far."""
        self.registry.gauge(
            "perdure_group_commit_transactions",
            "SQLite write transactions (one fsync each) so far.",
            (),
            lambda: [((), float(stats()[0]))],
        )
        self.registry.gauge(
            "perdure_group_commit_writes",
            "Commits written by the SQLite group commit so far (writes / transactions: the "
            "mean batch).",
            (),
            lambda: [((), float(stats()[1]))],
        )
