"""Schedules and batch operations survive SIGKILL.

A schedule's fires: every scheduled second starts exactly once.

An every-second schedule runs on Perdure's server; the server is killed with SIGKILL,
stays down for a few seconds, and restarts on the same SQLite file. The seconds missed
while it was down are inside the catch-up window, so each is started after the
restart; none is started twice (one run per workflow id, ids named by the second).
A batch killed midway resumes after the restart and acts on each target once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from tests.servers import ServerProcess, start_perdure_server

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    started = [start_perdure_server(tmp_path / "sched-crash")]
    try:
        yield started
    finally:
        for s in started:
            s.stop()


async def _started_seconds(client: Client, base: str) -> Counter[datetime]:
    seen: Counter[datetime] = Counter()
    async for wf in client.list_workflows(f"WorkflowId STARTS_WITH '{base}-'"):
        stamp = wf.id.removeprefix(base + "-")
        seen[datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)] += 1
    return seen


async def test_every_second_schedule_across_sigkill(servers: list[ServerProcess]) -> None:
    sid, base = f"crash-sched-{uuid.uuid4().hex[:8]}", f"crash-wf-{uuid.uuid4().hex[:8]}"
    client = await Client.connect(servers[0].target)
    handle = await client.create_schedule(
        sid,
        Schedule(
            action=ScheduleActionStartWorkflow(
                "NeverPolled", id=base, task_queue=f"nobody-{uuid.uuid4().hex[:6]}"
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
        ),
    )
    await asyncio.sleep(3.5)
    old = servers[0]
    old.kill()
    assert old.process.returncode == -9
    killed_at = datetime.now(UTC)
    await asyncio.sleep(3.0)
    assert old.db_path is not None
    new = start_perdure_server(old.log_path.parent, port=old.port, db_path=old.db_path)
    servers.append(new)
    client = await Client.connect(new.target)
    handle = client.get_schedule_handle(sid)
    await asyncio.sleep(3.0)
    await handle.pause()
    paused_at = datetime.now(UTC)

    # Let the last fires before the pause commit, then read what was started.
    await asyncio.sleep(1.0)
    seen = await _started_seconds(client, base)
    assert seen, "the schedule never fired"
    assert max(seen.values()) == 1, f"a second started twice: {seen}"
    first, last = min(seen), max(seen)
    expected = {
        first + timedelta(seconds=n) for n in range(int((last - first).total_seconds()) + 1)
    }
    assert set(seen) == expected, f"missing seconds: {sorted(expected - set(seen))}"
    # The seconds while the server was down were caught up after the restart.
    assert first < killed_at - timedelta(seconds=1)
    assert last >= paused_at - timedelta(seconds=3)
    desc = await handle.describe()
    assert desc.info.num_actions >= len(seen)


async def test_batch_resumes_after_sigkill(servers: list[ServerProcess]) -> None:
    """A rate-limited batch killed midway finishes after the restart, each target once."""
    from temporalio.api.batch.v1 import message_pb2 as batch_pb
    from temporalio.api.enums.v1 import BatchOperationState
    from temporalio.api.workflowservice.v1 import request_response_pb2 as rr
    from temporalio.client import WorkflowExecutionStatus

    tag = f"crash-batch-{uuid.uuid4().hex[:8]}"
    client = await Client.connect(servers[0].target)
    for i in range(20):
        await client.start_workflow("NeverPolled", id=f"{tag}-{i}", task_queue=f"q-{tag}")
    job = f"job-{tag}"
    await client.workflow_service.start_batch_operation(
        rr.StartBatchOperationRequest(
            namespace="default",
            job_id=job,
            reason="crash",
            visibility_query=f"WorkflowId STARTS_WITH '{tag}-'",
            max_operations_per_second=5,
            termination_operation=batch_pb.BatchOperationTermination(identity="ops"),
        )
    )
    await asyncio.sleep(2.0)
    old = servers[0]
    old.kill()
    assert old.db_path is not None
    new = start_perdure_server(old.log_path.parent, port=old.port, db_path=old.db_path)
    servers.append(new)
    client = await Client.connect(new.target)
    request = rr.DescribeBatchOperationRequest(namespace="default", job_id=job)
    for _ in range(100):
        d = await client.workflow_service.describe_batch_operation(request)
        if d.state != BatchOperationState.BATCH_OPERATION_STATE_RUNNING:
            break
        await asyncio.sleep(0.3)
    assert d.state == BatchOperationState.BATCH_OPERATION_STATE_COMPLETED
    assert d.total_operation_count == 20
    assert d.complete_operation_count + d.failure_operation_count == 20
    assert d.failure_operation_count == 0
    for i in range(20):
        wf = client.get_workflow_handle(f"{tag}-{i}")
        assert (await wf.describe()).status == WorkflowExecutionStatus.TERMINATED
        closes = [
            e
            async for e in wf.fetch_history_events()
            if e.HasField("workflow_execution_terminated_event_attributes")
        ]
        assert len(closes) == 1
