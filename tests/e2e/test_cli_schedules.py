"""`temporal schedule ...` (the real CLI) against each server, with the same expectations."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.e2e.test_cli import cli, eventually
from tests.servers import ServerProcess

pytestmark = pytest.mark.timeout(120)


@workflow.defn(name="CliScheduled")
class CliScheduled:
    @workflow.run
    async def run(self) -> str:
        return "done"


@pytest.fixture
async def worker(official_client: Client, task_queue: str) -> AsyncIterator[Worker]:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[CliScheduled],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ) as w:
        yield w


async def _describe(server: ServerProcess, sid: str) -> Any:
    return (await cli(server, "schedule", "describe", "-s", sid, "-o", "json")).json()


async def test_schedule_lifecycle(
    any_server: ServerProcess, worker: Worker, task_queue: str
) -> None:
    sid = f"cli-sched-{uuid.uuid4().hex[:8]}"
    base = f"cli-wf-{uuid.uuid4().hex[:8]}"
    await cli(
        any_server, "schedule", "create", "-s", sid, "--interval", "1h", "--cron", "30 12 * * Fri",
        "-w", base, "-t", task_queue, "--type", "CliScheduled", "--paused", "--notes", "made",
        "--overlap-policy", "AllowAll",
    )  # fmt: skip
    again = await cli(
        any_server, "schedule", "create", "-s", sid, "--interval", "1h",
        "-w", base, "-t", task_queue, "--type", "CliScheduled", check=False,
    )  # fmt: skip
    assert again.rc != 0

    desc = await _describe(any_server, sid)
    schedule = desc["schedule"]
    assert schedule["state"]["paused"] is True
    assert schedule["state"]["notes"] == "made"
    assert [i["interval"] for i in schedule["spec"]["interval"]] == ["3600s"]
    assert len(schedule["spec"]["structuredCalendar"]) == 1
    assert schedule["action"]["startWorkflow"]["workflowType"]["name"] == "CliScheduled"
    assert schedule["policies"]["overlapPolicy"] == "SCHEDULE_OVERLAP_POLICY_ALLOW_ALL"

    listed = (await cli(any_server, "schedule", "list", "-o", "json")).out
    assert sid in listed

    await cli(any_server, "schedule", "trigger", "-s", sid)

    async def triggered() -> str:
        d = await _describe(any_server, sid)
        actions = d["info"].get("recentActions", [])
        assert len(actions) == 1
        return str(actions[0]["startWorkflowResult"]["workflowId"])

    wid = await eventually(triggered)
    assert wid.startswith(base + "-")
    result = await cli(any_server, "workflow", "result", "-w", wid, "-o", "json")
    assert '"done"' in result.out

    await cli(
        any_server, "schedule", "backfill", "-s", sid,
        "--start-time", "2024-05-01T00:00:00Z", "--end-time", "2024-05-01T02:00:00Z",
        "--overlap-policy", "AllowAll",
    )  # fmt: skip

    async def backfilled() -> None:
        d = await _describe(any_server, sid)
        assert int(d["info"]["actionCount"]) == 4

    await eventually(backfilled)

    await cli(any_server, "schedule", "toggle", "-s", sid, "--unpause", "--reason", "go")
    d = await _describe(any_server, sid)
    assert not d["schedule"]["state"].get("paused") and d["schedule"]["state"]["notes"] == "go"
    await cli(any_server, "schedule", "toggle", "-s", sid, "--pause", "--reason", "stop")
    assert (await _describe(any_server, sid))["schedule"]["state"]["paused"] is True

    await cli(
        any_server, "schedule", "update", "-s", sid, "--interval", "2h",
        "-w", base, "-t", task_queue, "--type", "CliScheduled",
    )  # fmt: skip
    d = await _describe(any_server, sid)
    assert [i["interval"] for i in d["schedule"]["spec"]["interval"]] == ["7200s"]

    await cli(any_server, "schedule", "delete", "-s", sid)
    missing = await cli(any_server, "schedule", "describe", "-s", sid, check=False)
    assert missing.rc != 0
