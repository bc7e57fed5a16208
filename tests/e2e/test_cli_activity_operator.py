"""Operators act on a running workflow's activities: `temporal activity pause / unpause /
reset / update-options` (PauseActivity, UnpauseActivity, ResetActivity,
UpdateActivityOptions).

A running attempt learns of a pause or reset from its next heartbeat's answer; the
official SDK then cancels it with cancellation details saying why, and reports the
attempt failed. A paused activity is not retried until it is unpaused; a reset one
starts again at attempt 1.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from temporalio import activity, workflow
from temporalio.api.activity.v1 import ActivityOptions
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflowservice.v1 import (
    PauseActivityRequest,
    ResetActivityRequest,
    UnpauseActivityRequest,
    UpdateActivityOptionsRequest,
)
from temporalio.client import Client, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.e2e.test_cli import cli
from tests.servers import ServerProcess

pytestmark = pytest.mark.timeout(90)

RUNS: dict[str, int] = defaultdict(int)
CANCELLED: dict[str, activity.ActivityCancellationDetails | None] = {}


@activity.defn(name="op_beating")
async def beating(key: str) -> str:
    """Heartbeats until cancelled on its first run; later runs return at once."""
    RUNS[key] += 1
    info = activity.info()
    if RUNS[key] > 1:
        details = "|".join(str(d) for d in info.heartbeat_details)
        return f"run {RUNS[key]} attempt {info.attempt} details [{details}]"
    try:
        while True:
            activity.heartbeat("beat")
            await asyncio.sleep(0.2)
    except asyncio.CancelledError:
        CANCELLED[key] = activity.cancellation_details()
        raise


@workflow.defn(name="OpBeating")
class OpBeating:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(
            beating,
            key,
            activity_id="beat-1",
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=2),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
        )


@pytest.fixture
async def worker(official_client: Client, task_queue: str) -> AsyncIterator[Worker]:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[OpBeating],
        activities=[beating],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ) as w:
        yield w


async def _start(client: Client, task_queue: str) -> tuple[str, WorkflowHandle[OpBeating, str]]:
    key = uuid.uuid4().hex[:10]
    handle = await client.start_workflow(OpBeating.run, key, id=f"op-{key}", task_queue=task_queue)
    await _wait_pending(
        handle, lambda p: p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
    )
    return key, handle


async def _wait_pending(handle: WorkflowHandle[OpBeating, str], check: object) -> object:
    for _ in range(150):
        desc = await handle.describe()
        pending = list(desc.raw_description.pending_activities)
        if pending and check(pending[0]):  # type: ignore[operator]
            return pending[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"pending activity never as expected: {pending}")


async def test_pause_cancels_the_running_attempt_and_unpause_runs_it_again(
    any_server: ServerProcess, official_client: Client, worker: Worker, task_queue: str
) -> None:
    key, handle = await _start(official_client, task_queue)
    await cli(
        any_server, "activity", "pause", "--activity-id", "beat-1", "-w", handle.id,
        "--identity", "op-tester",
    )  # fmt: skip
    # The running attempt hears of it from a heartbeat: the SDK cancels it, saying why,
    # and reports the attempt failed; the failure is not retried while paused.
    paused = await _wait_pending(
        handle,
        lambda p: (
            p.state == PendingActivityState.PENDING_ACTIVITY_STATE_PAUSED and key in CANCELLED
        ),
    )
    details = CANCELLED[key]
    assert details is not None and details.paused and not details.reset
    assert paused.paused and paused.attempt == 2  # type: ignore[attr-defined]
    assert paused.pause_info.manual.identity == "op-tester"  # type: ignore[attr-defined]
    assert paused.last_failure.application_failure_info.type == "ActivityPause"  # type: ignore[attr-defined]
    await asyncio.sleep(1.5)
    assert RUNS[key] == 1, "a paused activity is not retried"
    await cli(any_server, "activity", "unpause", "--activity-id", "beat-1", "-w", handle.id)
    assert await handle.result() == "run 2 attempt 2 details [beat]"


async def test_reset_cancels_the_running_attempt_and_clears_its_heartbeat(
    any_server: ServerProcess, official_client: Client, worker: Worker, task_queue: str
) -> None:
    key, handle = await _start(official_client, task_queue)
    out = await cli(
        any_server, "activity", "reset", "--activity-id", "beat-1", "-w", handle.id,
        "--clear-heartbeat-details",
    )  # fmt: skip
    assert "KeepPaused      false" in out.out
    # The attempt count starts again at 1; the cancelled attempt 1 then fails: attempt 2.
    assert await handle.result() == "run 2 attempt 2 details []"
    details = CANCELLED[key]
    assert details is not None and details.reset and not details.paused


async def test_update_options_changes_the_pending_activity(
    any_server: ServerProcess, official_client: Client, worker: Worker, task_queue: str
) -> None:
    _key, handle = await _start(official_client, task_queue)
    out = await cli(
        any_server, "activity", "update-options", "--activity-id", "beat-1", "-w", handle.id,
        "--start-to-close-timeout", "42s", "--retry-maximum-attempts", "7",
    )  # fmt: skip
    assert re.search(r"StartToCloseTimeout\s+42s", out.out), out.out
    assert re.search(r"MaximumAttempts\s+7", out.out), out.out
    assert re.search(r"HeartbeatTimeout\s+2s", out.out), out.out
    pending = await _wait_pending(handle, lambda p: True)
    options = pending.activity_options  # type: ignore[attr-defined]
    assert options.start_to_close_timeout.seconds == 42
    assert options.retry_policy.maximum_attempts == 7
    assert pending.maximum_attempts == 7  # type: ignore[attr-defined]
    await cli(any_server, "activity", "reset", "--activity-id", "beat-1", "-w", handle.id)
    assert (await handle.result()).startswith("run 2 ")


async def test_an_unknown_activity_is_not_found(
    any_server: ServerProcess, official_client: Client, worker: Worker, task_queue: str
) -> None:
    _key, handle = await _start(official_client, task_queue)
    with pytest.raises(RPCError) as caught:
        await official_client.workflow_service.pause_activity(
            PauseActivityRequest(
                namespace="default",
                execution=WorkflowExecution(workflow_id=handle.id),
                id="no-such-activity",
            )
        )
    assert caught.value.status == RPCStatusCode.NOT_FOUND
    await handle.terminate()


async def test_the_workflow_service_forms(
    any_server: ServerProcess, official_client: Client, worker: Worker, task_queue: str
) -> None:
    """PauseActivity, UpdateActivityOptions, UnpauseActivity and ResetActivity, as SDK
    clients call them (by activity id, or by type)."""
    key, handle = await _start(official_client, task_queue)
    service = official_client.workflow_service
    execution = WorkflowExecution(workflow_id=handle.id)
    await service.pause_activity(
        PauseActivityRequest(
            namespace="default", execution=execution, type="op_beating", reason="by type"
        )
    )
    paused = await _wait_pending(
        handle, lambda p: p.state == PendingActivityState.PENDING_ACTIVITY_STATE_PAUSED
    )
    assert paused.pause_info.manual.reason == "by type"  # type: ignore[attr-defined]
    updated = await service.update_activity_options(
        UpdateActivityOptionsRequest(
            namespace="default",
            execution=execution,
            id="beat-1",
            activity_options=ActivityOptions(heartbeat_timeout=Duration(seconds=5)),
            update_mask=FieldMask(paths=["heartbeat_timeout"]),
        )
    )
    assert updated.activity_options.heartbeat_timeout.seconds == 5
    assert updated.activity_options.start_to_close_timeout.seconds == 60
    await service.reset_activity(
        ResetActivityRequest(
            namespace="default", execution=execution, id="beat-1", keep_paused=True
        )
    )
    pending = await _wait_pending(handle, lambda p: p.attempt == 1)
    assert pending.paused  # type: ignore[attr-defined]
    await service.unpause_activity(
        UnpauseActivityRequest(namespace="default", execution=execution, id="beat-1")
    )
    assert await handle.result() == "run 2 attempt 1 details [beat]"
    assert RUNS[key] == 2
