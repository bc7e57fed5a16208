"""Embedded engines used from other processes and SDKs.

An official-SDK worker connected to a time-skipping environment's gRPC port sees the
skipped time; the `temporal` CLI (a subprocess) exports a history from an embedded
engine, and that file replays in Perdure's Replayer, or fails naming what changed.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import temporalio.client
import temporalio.worker
from temporalio import activity as official_activity
from temporalio import workflow as official_workflow
from temporalio.common import RetryPolicy as OfficialRetryPolicy
from temporalio.worker import UnsandboxedWorkflowRunner

from perdure import activity, workflow
from perdure.client import WorkflowHistory
from perdure.testing import WorkflowEnvironment
from perdure.worker import Replayer, Worker
from perdure.workflow import NondeterminismError
from tests.servers import TEMPORAL_BIN


@official_activity.defn(name="real_work")
async def official_real_work(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "worked"


@official_workflow.defn(name="OfficialDaily")
class OfficialDaily:
    """Works in real time, then wakes once a day for `days` days."""

    @official_workflow.run
    async def run(self, days: int) -> list[str]:
        await official_workflow.execute_activity(
            official_real_work,
            0.3,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=OfficialRetryPolicy(maximum_attempts=1),
        )
        woke = [official_workflow.now().isoformat()]
        for _ in range(days):
            await official_workflow.sleep(timedelta(days=1))
            woke.append(official_workflow.now().isoformat())
        return woke


async def test_official_worker_over_grpc_sees_skipped_time(task_queue: str) -> None:
    async with await WorkflowEnvironment.start_time_skipping(serve_grpc=True) as env:
        assert env.grpc_target is not None
        official = await temporalio.client.Client.connect(env.grpc_target)
        async with temporalio.worker.Worker(
            official,
            task_queue=task_queue,
            workflows=[OfficialDaily],
            activities=[official_real_work],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            started = time.monotonic()
            woke = await env.client.execute_workflow(
                "OfficialDaily", 30, id=f"daily-{uuid.uuid4().hex[:8]}", task_queue=task_queue
            )
            wall = time.monotonic() - started
    times = [datetime.fromisoformat(t) for t in woke]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 30
    assert all(timedelta(days=1) <= gap < timedelta(days=1, seconds=5) for gap in gaps)
    assert wall < 3, f"30 skipped days on the official worker took {wall:.2f}s"


@activity.defn
async def greet(name: str) -> str:
    return f"hello {name}"


@activity.defn
async def farewell(name: str) -> str:
    return f"bye {name}"


@workflow.defn(name="Greeter")
class Greeter:
    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.sleep(timedelta(seconds=1))
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn(name="Greeter")
class GreeterChanged:
    """The same workflow type after a change that breaks determinism."""

    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.sleep(timedelta(seconds=1))
        return await workflow.execute_activity(
            farewell, name, start_to_close_timeout=timedelta(seconds=10)
        )


async def _cli_export(address: str, workflow_id: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        str(TEMPORAL_BIN),
        "workflow",
        "show",
        "--address",
        address,
        "--workflow-id",
        workflow_id,
        "--output",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_cli_export_from_an_embedded_engine_replays_from_a_file(
    tmp_path: Path, task_queue: str
) -> None:
    workflow_id = f"greeter-{uuid.uuid4().hex[:8]}"
    async with await WorkflowEnvironment.start_time_skipping(serve_grpc=True) as env:
        assert env.grpc_target is not None
        async with Worker(
            env.client, task_queue=task_queue, workflows=[Greeter], activities=[greet]
        ):
            await env.client.execute_workflow(
                Greeter.run, "file", id=workflow_id, task_queue=task_queue
            )
        fetched = await env.client.get_workflow_handle(workflow_id).fetch_history()
        exported = tmp_path / "greeter.json"
        exported.write_text(await _cli_export(env.grpc_target, workflow_id))

    history = WorkflowHistory.from_json(workflow_id, exported.read_text())
    assert [e.event_type for e in history.events] == [e.event_type for e in fetched.events]
    await Replayer(workflows=[Greeter]).replay_workflow(history)
    await Replayer(workflows=[Greeter]).replay_workflow(fetched)

    with pytest.raises(NondeterminismError) as info:
        await Replayer(workflows=[GreeterChanged]).replay_workflow(history)
    message = str(info.value)
    assert "workflow Greeter" in message
    assert "ActivityTaskScheduled" in message
    assert "activity_type='farewell'" in message


async def test_official_client_drives_the_clock_through_the_test_service() -> None:
    """Temporal's TestService over gRPC, as the official SDK calls the test server's."""
    from google.protobuf import empty_pb2
    from temporalio.api.testservice.v1 import SleepRequest

    async with await WorkflowEnvironment.start_time_skipping(serve_grpc=True) as env:
        assert env.grpc_target is not None
        official = await temporalio.client.Client.connect(env.grpc_target)
        before = (await official.test_service.get_current_time(empty_pb2.Empty())).time
        request = SleepRequest()
        request.duration.FromTimedelta(timedelta(days=3))
        started = time.monotonic()
        await official.test_service.unlock_time_skipping_with_sleep(request)
        assert time.monotonic() - started < 2
        after = (await official.test_service.get_current_time(empty_pb2.Empty())).time
        ours = await env.get_current_time()
    moved = after.ToDatetime() - before.ToDatetime()
    assert timedelta(days=3) <= moved < timedelta(days=3, minutes=1)
    assert abs(ours - after.ToDatetime(tzinfo=ours.tzinfo)) < timedelta(minutes=1)
