"""The server's /metrics (server/metrics.py), scraped after the official SDK ran workflows.

Perdure's server and the real Temporal dev server both start with `--metrics-port`; the
same workflows run on each and the same metric names and labels must move the same way
(Temporal's names are what its dashboards query). Perdure's own metrics are checked on
Perdure's server only.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio import activity, workflow
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.servers import (
    ServerProcess,
    free_port,
    start_perdure_server,
    start_temporal_server,
)

pytestmark = pytest.mark.timeout(120)


@activity.defn(name="metrics_echo")
async def metrics_echo(text: str) -> str:
    return text


@workflow.defn(name="MetricsFlow")
class MetricsFlow:
    @workflow.run
    async def run(self, outcome: str) -> str:
        await workflow.sleep(0.05)
        echoed = await workflow.execute_activity(
            metrics_echo, outcome, start_to_close_timeout=timedelta(seconds=10)
        )
        if outcome == "fail":
            raise ApplicationError("told to fail", non_retryable=True)
        if outcome == "wait":
            await workflow.wait_condition(lambda: False)
        if outcome == "again":
            workflow.continue_as_new("ok")
        return echoed


@dataclass
class MetricsServer:
    server: ServerProcess
    metrics_port: int

    def scrape(self) -> Scrape:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
            return Scrape(response.read().decode())


class Scrape:
    def __init__(self, text: str) -> None:
        families = list(text_string_to_metric_families(text))
        self.families = {family.name for family in families}
        self.samples = [(s.name, s.labels, s.value) for family in families for s in family.samples]

    def names(self) -> set[str]:
        return {name for name, _, _ in self.samples}

    def total(self, name: str, **labels: str) -> float:
        """The sum of `name`'s samples whose labels include `labels` (counters: either form)."""
        return sum(
            value
            for sample, have, value in self.samples
            if sample in (name, f"{name}_total") and labels.items() <= have.items()
        )


@pytest.fixture(scope="module", params=["perdure", "temporal"])
def metrics_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MetricsServer]:
    port = free_port()
    workdir = Path(tmp_path_factory.mktemp(f"metrics-{request.param}"))
    args = ["--metrics-port", str(port)]
    if request.param == "perdure":
        server = start_perdure_server(workdir, extra_args=args)
    else:
        server = start_temporal_server(workdir, extra_args=args)
    try:
        yield MetricsServer(server, port)
    finally:
        server.stop()


@pytest.fixture
def task_queue() -> str:
    """Temporal's metrics spell "-" in label values as "_": a name with neither."""
    return f"metrics_{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def client(metrics_server: MetricsServer) -> AsyncIterator[Client]:
    yield await Client.connect(metrics_server.server.target)


async def _run_three(client: Client, task_queue: str) -> None:
    """One run completes, one fails, one is terminated."""
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[MetricsFlow],
        activities=[metrics_echo],
        workflow_runner=UnsandboxedWorkflowRunner(),
        disable_eager_activity_execution=True,  # Perdure would grant them: no poll then
    ):
        run = MetricsFlow.run
        tag = uuid.uuid4().hex[:8]
        assert await client.execute_workflow(run, "ok", id=f"ok-{tag}", task_queue=task_queue)
        with pytest.raises(WorkflowFailureError):
            await client.execute_workflow(run, "fail", id=f"fail-{tag}", task_queue=task_queue)
        waiting = await client.start_workflow(run, "wait", id=f"wait-{tag}", task_queue=task_queue)
        for _ in range(100):  # the activity is done once the run waits
            history = [e async for e in waiting.fetch_history_events()]
            if any(e.HasField("activity_task_completed_event_attributes") for e in history):
                break
            await asyncio.sleep(0.1)
        await waiting.terminate("enough")


async def _run_other_closes(client: Client, task_queue: str) -> None:
    """One run is cancelled, one times out, one continues as new (then completes)."""
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[MetricsFlow],
        activities=[metrics_echo],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        run = MetricsFlow.run
        tag = uuid.uuid4().hex[:8]
        cancelled = await client.start_workflow(
            run, "wait", id=f"cancel-{tag}", task_queue=task_queue
        )
        timing_out = await client.start_workflow(
            run, "wait", id=f"timeout-{tag}", task_queue=task_queue,
            run_timeout=timedelta(seconds=2),
        )  # fmt: skip
        assert await client.execute_workflow(run, "again", id=f"can-{tag}", task_queue=task_queue)
        await cancelled.cancel()
        for handle in (cancelled, timing_out):
            with pytest.raises(WorkflowFailureError):
                await asyncio.wait_for(handle.result(), 30)


async def _settled(server: MetricsServer, check: Callable[[Scrape], None]) -> None:
    """Run `check` on fresh scrapes until it passes: Temporal records some metrics after
    the RPC that caused them has returned."""
    for _ in range(50):
        try:
            check(server.scrape())
            return
        except AssertionError:
            await asyncio.sleep(0.3)
    check(server.scrape())


async def test_metrics_move_as_temporals_do(
    metrics_server: MetricsServer, client: Client, task_queue: str
) -> None:
    before = metrics_server.scrape()
    await _run_three(client, task_queue)
    await _settled(metrics_server, lambda after: _check_moved(before, after, task_queue))


def _check_moved(before: Scrape, after: Scrape, task_queue: str) -> None:
    def moved(name: str, **labels: str) -> float:
        return after.total(name, **labels) - before.total(name, **labels)

    closes = {"namespace": "default", "taskqueue": task_queue, "workflowType": "MetricsFlow"}
    assert moved("workflow_success", **closes) == 1
    assert moved("workflow_failed", **closes) == 1
    assert moved("workflow_terminate", **closes) == 1
    assert moved("workflow_timeout", **closes) == 0

    frontend = {"namespace": "default", "service_name": "frontend"}
    assert moved("service_latency_count", operation="StartWorkflowExecution", **frontend) == 3
    assert moved("service_latency_count", operation="TerminateWorkflowExecution", **frontend) == 1
    assert moved("service_latency_count", operation="RespondActivityTaskCompleted", **frontend) >= 3
    started = after.total(
        "service_latency_bucket", operation="StartWorkflowExecution", le="+Inf", **frontend
    )
    assert started == after.total(
        "service_latency_count", operation="StartWorkflowExecution", **frontend
    )

    queue = {"namespace": "default", "taskqueue": task_queue}
    assert moved("poll_success", task_type="Workflow", **queue) >= 6
    assert moved("poll_success", task_type="Activity", **queue) == 3
    assert moved("task_schedule_to_start_latency_count", task_type="Workflow", **queue) >= 3
    assert moved("task_schedule_to_start_latency_count", task_type="Activity", **queue) == 3

    assert moved("history_count_count", namespace="default", operation="CompletionStats") == 3
    assert moved("history_size_count", namespace="default", operation="CompletionStats") == 3
    assert moved("persistence_latency_count", namespace="default") > 0
    assert "approximate_backlog_count" in after.names()


async def test_perdure_own_metrics(
    metrics_server: MetricsServer, client: Client, task_queue: str
) -> None:
    if metrics_server.server.kind != "perdure":
        pytest.skip("Perdure's own metrics")
    before = metrics_server.scrape()
    await _run_three(client, task_queue)
    after = metrics_server.scrape()

    def moved(name: str, **labels: str) -> float:
        return after.total(name, **labels) - before.total(name, **labels)

    started = {"operation": "StartWorkflowExecution", "namespace": "default"}
    assert moved("service_requests", **started) == 3
    assert moved("service_errors", **started) == 0
    assert moved("perdure_history_cache_requests") > 0
    assert moved("perdure_history_cache_hits") > 0
    assert moved("perdure_group_commit_transactions") > 0
    assert moved("perdure_group_commit_writes") >= moved("perdure_group_commit_transactions")
    assert moved("timer_task_lateness_count") >= 1
    assert moved("persistence_requests", operation="UpdateWorkflowExecution") > 0

    with pytest.raises(RPCError, match="not found"):
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="no-such-ns")
        )
    errors = metrics_server.scrape()
    failed = {"namespace": "no-such-ns", "service_name": "frontend"}
    assert errors.total("service_errors", **failed) >= 1
    assert errors.total("service_error_with_type", error_type="serviceerror_NamespaceNotFound") >= 1


DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "perdure-server.json"


async def test_dashboard_queries_only_metrics_the_server_has(
    metrics_server: MetricsServer, client: Client, task_queue: str
) -> None:
    """docs/grafana/perdure-server.json: every metric a panel queries is served once
    workflows ran (on Temporal's server too, except Perdure's own)."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    queried = {m for e in exprs for m in re.findall(r"([a-z_][a-z0-9_]*)\s*[{\[]", e)}
    assert len(queried) >= 15
    before = metrics_server.scrape()
    await _run_three(client, task_queue)
    await _run_other_closes(client, task_queue)
    with pytest.raises(RPCError):  # an error, for the panel of errors
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="no-such-ns")
        )
    temporal = metrics_server.server.kind == "temporal"
    closes = {"namespace": "default", "taskqueue": task_queue, "workflowType": "MetricsFlow"}

    def all_served(scrape: Scrape) -> None:
        for name in sorted(queried):
            if temporal and name.startswith(("perdure_", "timer_task_lateness")):
                continue
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in scrape.families or family in scrape.families, name
        for counter in ("workflow_cancel", "workflow_timeout", "workflow_continued_as_new"):
            assert scrape.total(counter, **closes) - before.total(counter, **closes) == 1

    await _settled(metrics_server, all_served)
