"""The task queue rate limit a worker sends (`max_task_queue_activities_per_second`, on
the wire task_queue_metadata.max_tasks_per_second) paces activity starts on both
servers, across all of the worker's pollers."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.e2e import limits_workflows as rw
from tests.servers import ServerProcess

pytestmark = pytest.mark.timeout(120)

RATE = 2.0
COUNT = 12
BURST_ALLOWANCE = 4
"""Tasks that may start at once: the real dev server splits a queue in 4 partitions, each
with its share of the rate and a burst of one."""


async def test_activity_starts_keep_to_the_task_queue_rate(any_server: ServerProcess) -> None:
    client = await Client.connect(any_server.target)
    task_queue = f"tq-rate-{uuid.uuid4().hex[:8]}"
    rw.STARTS.clear()
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[rw.ManyActivities],
        activities=[rw.note_start],
        workflow_runner=UnsandboxedWorkflowRunner(),
        max_task_queue_activities_per_second=RATE,
        max_concurrent_activity_task_polls=5,
    ):
        total = await client.execute_workflow(
            rw.ManyActivities.run, COUNT, id=f"wf-{task_queue}", task_queue=task_queue
        )
    assert total == sum(range(COUNT))
    starts = sorted(rw.STARTS)
    assert len(starts) == COUNT
    # After the burst, the i-th start comes no sooner than the rate allows (10% slack).
    late = [
        (i, round(t - starts[0], 2))
        for i, t in enumerate(starts)
        if t - starts[0] < (i - BURST_ALLOWANCE + 1) / RATE * 0.9
    ]
    assert not late, f"started ahead of the rate: {late}"
