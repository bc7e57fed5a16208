"""perdure.runtime: the SDK's metrics at the Prometheus address given to the Runtime.

A Perdure client and worker on each server; the workflow and its activity record metrics
of their own through their meters; the page must show them (the workflow's once, though
the run replays every task with caching off) beside the SDK's own metrics under
temporalio's names.
"""

from __future__ import annotations

import asyncio
import urllib.request
import uuid
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from perdure import activity, workflow
from perdure.client import Client
from perdure.runtime import (
    BufferedMetricKind,
    MetricBuffer,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
)
from perdure.worker import Worker
from tests.servers import ServerProcess

pytestmark = pytest.mark.timeout(90)


@activity.defn(name="metered_activity")
async def metered_activity(n: int) -> int:
    counter = activity.metric_meter().create_counter("app_activity_calls", "Calls", "1")
    counter.add(n, {"color": "blue"})
    return n * 2


@workflow.defn(name="MeteredWorkflow")
class MeteredWorkflow:
    @workflow.run
    async def run(self, n: int) -> int:
        meter = workflow.metric_meter().with_additional_attributes({"stage": "start"})
        meter.create_counter("app_workflow_starts").add(1)
        await workflow.sleep(0.01)
        doubled = await workflow.execute_activity(
            metered_activity, n, start_to_close_timeout=timedelta(seconds=10)
        )
        workflow.metric_meter().create_histogram("app_workflow_values").record(doubled)
        workflow.metric_meter().create_gauge("app_workflow_gauge").set(7, {"g": "1"})
        return doubled


def _samples(port: int) -> list[tuple[str, dict[str, str], float]]:
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def _total(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(
        v
        for n, have, v in samples
        if n in (name, f"{name}_total") and labels.items() <= have.items()
    )


async def test_prometheus_metrics_of_sdk_and_code(any_server: ServerProcess) -> None:
    runtime = Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address="127.0.0.1:0"))
    )
    try:
        assert runtime.metrics_port
        client = await Client.connect(any_server.target, runtime=runtime)
        task_queue = f"tq-{uuid.uuid4().hex[:8]}"
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[MeteredWorkflow],
            activities=[metered_activity],
            max_cached_workflows=0,  # every task replays the run from the start
        ):
            result = await client.execute_workflow(
                MeteredWorkflow.run, 3, id=f"metered-{uuid.uuid4().hex[:8]}", task_queue=task_queue
            )
            assert result == 6
            await asyncio.sleep(0.2)
            samples = _samples(runtime.metrics_port)
    finally:
        runtime.close()

    common = {"namespace": "default", "task_queue": task_queue, "service_name": "perdure-sdk"}
    wf = {**common, "workflow_type": "MeteredWorkflow"}
    assert _total(samples, "app_workflow_starts", stage="start", **wf) == 1
    assert _total(samples, "app_workflow_values_count", **wf) == 1
    assert _total(samples, "app_workflow_values_sum", **wf) == 6
    assert _total(samples, "app_workflow_gauge", g="1", **wf) == 7
    assert (
        _total(samples, "app_activity_calls", color="blue", activity_type="metered_activity") == 3
    )

    assert _total(samples, "temporal_workflow_completed", **wf) == 1
    assert _total(samples, "temporal_workflow_failed", **wf) == 0
    assert _total(samples, "temporal_workflow_task_execution_latency_count", **wf) >= 3
    assert _total(samples, "temporal_workflow_task_schedule_to_start_latency_count", **common) >= 3
    assert _total(samples, "temporal_workflow_task_queue_poll_succeed", **common) >= 3
    assert _total(samples, "temporal_sticky_cache_miss", **wf) >= 3
    assert (
        _total(
            samples,
            "temporal_activity_execution_latency_count",
            activity_type="metered_activity",
            workflow_type="MeteredWorkflow",
            **common,
        )
        == 1
    )
    assert _total(samples, "temporal_worker_start", **common) == 1
    slots = {
        labels["worker_type"]: value
        for n, labels, value in samples
        if n == "temporal_worker_task_slots_available" and labels["task_queue"] == task_queue
    }
    assert set(slots) == {"WorkflowWorker", "ActivityWorker", "LocalActivityWorker"}
    assert slots["LocalActivityWorker"] == 100  # none taken: no local activity ran
    assert 0 < slots["WorkflowWorker"] <= 100
    assert _total(samples, "temporal_request", operation="StartWorkflowExecution") == 1
    assert _total(samples, "temporal_request", operation="RespondWorkflowTaskCompleted") >= 3
    assert (
        _total(samples, "temporal_long_request", operation="PollWorkflowTaskQueue", **common) >= 3
    )
    assert (
        _total(samples, "temporal_request_latency_count", operation="StartWorkflowExecution") == 1
    )
    # Durations in milliseconds, in temporalio's buckets.
    assert any(
        n == "temporal_request_latency_bucket" and labels.get("le") == "50"
        for n, labels, _ in samples
    )


async def test_metric_buffer_keeps_updates(any_server: ServerProcess) -> None:
    buffer = MetricBuffer(1000)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    client = await Client.connect(any_server.target, runtime=runtime)
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client, task_queue=task_queue, workflows=[MeteredWorkflow], activities=[metered_activity]
    ):
        await client.execute_workflow(
            MeteredWorkflow.run, 2, id=f"buffered-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
    updates = buffer.retrieve_updates()
    calls = [u for u in updates if u.metric.name == "app_activity_calls"]
    assert [(u.value, u.attributes["color"], u.metric.kind) for u in calls] == [
        (2, "blue", BufferedMetricKind.COUNTER)
    ]
    assert calls[0].metric.description == "Calls" and calls[0].metric.unit == "1"
    assert any(u.metric.name == "temporal_workflow_completed" for u in updates)
    assert buffer.retrieve_updates() == []


def test_noop_without_metrics() -> None:
    runtime = Runtime(telemetry=TelemetryConfig())
    assert runtime.metrics_port is None
    counter = runtime.metric_meter.create_counter("nothing")
    counter.add(1)
    with pytest.raises(ValueError):
        Runtime(telemetry=TelemetryConfig(), worker_heartbeat_interval=timedelta(seconds=-1))
