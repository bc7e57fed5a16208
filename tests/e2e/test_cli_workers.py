"""`temporal worker list / describe`: the workers a namespace has, from their heartbeats
(RecordWorkerHeartbeat, ShutdownWorker); ListWorkers, DescribeWorker, CountWorkers."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.workflowservice.v1 import CountWorkersRequest, DescribeWorkerRequest
from temporalio.client import Client
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.e2e import official_workflows as wf
from tests.e2e.test_cli import cli, eventually
from tests.servers import ServerProcess

pytestmark = pytest.mark.timeout(90)

_RUNTIME: Runtime | None = None


def _runtime() -> Runtime:
    """One runtime for these tests whose workers heartbeat every second."""
    global _RUNTIME
    if _RUNTIME is None:
        _RUNTIME = Runtime(
            telemetry=TelemetryConfig(), worker_heartbeat_interval=timedelta(seconds=1)
        )
    return _RUNTIME


async def test_worker_list_and_describe(any_server: ServerProcess, task_queue: str) -> None:
    client = await Client.connect(any_server.target, runtime=_runtime())
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[wf.WaitForSignal],
        workflow_runner=UnsandboxedWorkflowRunner(),
        identity="listed-worker",
    ):

        async def listed() -> dict[str, Any]:
            out = (await cli(any_server, "worker", "list", "-o", "json")).json()
            mine = [
                w["workerHeartbeat"]
                for w in out
                if w["workerHeartbeat"].get("taskQueue") == task_queue
            ]
            assert mine, out
            return mine[0]

        entry = await eventually(listed, timeout=20)
        assert entry["workerIdentity"] == "listed-worker"
        assert entry["sdkName"] == "temporal-python"
        assert entry["status"] == "WORKER_STATUS_RUNNING"
        key = entry["workerInstanceKey"]
        described = await cli(
            any_server, "worker", "describe", "--worker-instance-key", key, "-o", "json"
        )
        assert described.json()["workerHeartbeat"]["taskQueue"] == task_queue
        card = (await cli(any_server, "worker", "describe", "--worker-instance-key", key)).out
        assert re.search(r"WorkerIdentity\s+listed-worker", card), card
        assert re.search(r"Status\s+Running", card), card
        table = (await cli(any_server, "worker", "list", "-q", f"TaskQueue = '{task_queue}'")).out
        assert key in table and "listed-worker" in table, table
        count = await client.workflow_service.count_workers(
            CountWorkersRequest(namespace="default", query=f"TaskQueue = '{task_queue}'")
        )
        assert count.count == 1
    # Its last heartbeat came with ShutdownWorker.
    after = await cli(any_server, "worker", "describe", "--worker-instance-key", key, "-o", "json")
    assert after.json()["workerHeartbeat"]["status"] == "WORKER_STATUS_SHUTTING_DOWN"
    with pytest.raises(RPCError) as caught:
        await client.workflow_service.describe_worker(
            DescribeWorkerRequest(namespace="default", worker_instance_key="no-such-worker")
        )
    assert caught.value.status == RPCStatusCode.NOT_FOUND
