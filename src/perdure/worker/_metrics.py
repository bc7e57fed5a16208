"""The worker's own metrics, under temporalio's names (so its SDK dashboards work).

Workflow tasks: ``temporal_workflow_task_queue_poll_succeed``,
``temporal_workflow_task_schedule_to_start_latency``,
``temporal_workflow_task_execution_latency``, ``temporal_workflow_task_execution_failed``;
runs: ``temporal_workflow_completed``/``_failed``/``_canceled``/``_continue_as_new``;
the cache: ``temporal_sticky_cache_hit``/``_miss``, ``temporal_sticky_cache_size``;
activities: ``temporal_activity_schedule_to_start_latency``,
``temporal_activity_execution_latency``, ``temporal_activity_execution_failed``; slots:
``temporal_worker_task_slots_available``/``_used``; ``temporal_worker_start``. Each is one
call on a meter per event; with the no-op meter they cost nothing worth measuring.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.enums.v1 import CommandType

from perdure.common import MetricMeter

_CLOSES = {
    CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION: "workflow_completed",
    CommandType.COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION: "workflow_failed",
    CommandType.COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION: "workflow_canceled",
    CommandType.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION: "workflow_continue_as_new",
}


class WorkerMetrics:
    """One worker's metrics (namespace and task queue attached to all of them)."""

    def __init__(self, meter: MetricMeter, prefix: str, namespace: str, task_queue: str) -> None:
        self.meter = meter = meter.with_additional_attributes(
            {"namespace": namespace, "task_queue": task_queue}
        )
        p = prefix
        self._poll_succeed = meter.create_counter(f"{p}workflow_task_queue_poll_succeed")
        self._wft_schedule_to_start = meter.create_histogram_timedelta(
            f"{p}workflow_task_schedule_to_start_latency"
        )
        self._wft_execution = meter.create_histogram_timedelta(
            f"{p}workflow_task_execution_latency"
        )
        self._wft_failed = meter.create_counter(f"{p}workflow_task_execution_failed")
        self._closes = {
            command: meter.create_counter(f"{p}{name}") for command, name in _CLOSES.items()
        }
        self._cache_hit = meter.create_counter(f"{p}sticky_cache_hit")
        self._cache_miss = meter.create_counter(f"{p}sticky_cache_miss")
        self._cache_size = meter.create_gauge(f"{p}sticky_cache_size")
        self._act_schedule_to_start = meter.create_histogram_timedelta(
            f"{p}activity_schedule_to_start_latency"
        )
        self._act_execution = meter.create_histogram_timedelta(f"{p}activity_execution_latency")
        self._act_failed = meter.create_counter(f"{p}activity_execution_failed")
        self._slots_available = meter.create_gauge(f"{p}worker_task_slots_available")
        self._slots_used = meter.create_gauge(f"{p}worker_task_slots_used")
        meter.create_counter(f"{p}worker_start").add(1)

    # ------------------------------------------------------------------ workflow tasks

    def workflow_task_polled(self, scheduled: Timestamp, started: Timestamp) -> None:
        """A poll returned a workflow task."""
        self._poll_succeed.add(1)
        if scheduled.seconds and started.seconds:
            latency = started.ToNanoseconds() - scheduled.ToNanoseconds()
            self._wft_schedule_to_start.record(timedelta(microseconds=max(latency, 0) / 1000))

    def workflow_task_done(
        self, workflow_type: str, seconds: float, commands: list[int], failed: bool
    ) -> None:
        """A workflow task was answered (``commands``: the command types it sent)."""
        attributes = {"workflow_type": workflow_type}
        self._wft_execution.record(timedelta(seconds=seconds), attributes)
        if failed:
            self._wft_failed.add(1, attributes)
        for command in commands:
            counter = self._closes.get(command)  # type: ignore[call-overload]
            if counter is not None:
                counter.add(1, attributes)

    def cache_lookup(self, workflow_type: str, hit: bool, size: int) -> None:
        """A workflow task found its run in the cache, or not."""
        (self._cache_hit if hit else self._cache_miss).add(1, {"workflow_type": workflow_type})
        self._cache_size.set(size)

    # ------------------------------------------------------------------ activities

    def activity_started(self, scheduled: Timestamp, started: Timestamp) -> None:
        """An activity task arrived."""
        if scheduled.seconds and started.seconds:
            latency = started.ToNanoseconds() - scheduled.ToNanoseconds()
            self._act_schedule_to_start.record(timedelta(microseconds=max(latency, 0) / 1000))

    def activity_done(
        self, activity_type: str, workflow_type: str, seconds: float, failed: bool
    ) -> None:
        """An activity attempt ended."""
        attributes = {"activity_type": activity_type, "workflow_type": workflow_type}
        self._act_execution.record(timedelta(seconds=seconds), attributes)
        if failed:
            self._act_failed.add(1, attributes)

    # ------------------------------------------------------------------ slots

    def slot_gauges(self, worker_type: str) -> Callable[[int, int], None]:
        """What a ``SlotPool`` of ``worker_type`` (WorkflowWorker, ActivityWorker,
        LocalActivityWorker) calls with its free and taken slots."""
        available = self._slots_available.with_additional_attributes({"worker_type": worker_type})
        used = self._slots_used.with_additional_attributes({"worker_type": worker_type})

        def changed(free: int, taken: int) -> None:
            available.set(free)
            used.set(taken)

        return changed
