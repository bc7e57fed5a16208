"""`temporal workflow ... --query` and `temporal batch ...` (the real CLI) on both servers."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from tests.e2e.test_cli import cli, eventually
from tests.servers import ServerProcess

pytestmark = pytest.mark.timeout(120)


async def _workflows(client: Client, tag: str, n: int) -> list[WorkflowHandle[None, None]]:
    handles = [
        await client.start_workflow("NobodyRunsThis", id=f"{tag}-{i}", task_queue=f"q-{tag}")
        for i in range(n)
    ]

    async def visible() -> None:
        assert (await client.count_workflows(f"WorkflowId STARTS_WITH '{tag}-'")).count == n

    await eventually(visible)
    return handles  # type: ignore[return-value]


async def _batch(server: ServerProcess, *args: str) -> str:
    """Run a `--query` command (retrying while another job holds the namespace's slot);
    the job id it prints."""
    for _ in range(60):
        result = await cli(server, *args, "--yes", check=False)
        if result.rc == 0:
            match = re.search(r"[Jj]ob ID:?\s*(\S+)", result.out + result.err)
            assert match is not None, result.out + result.err
            return match.group(1)
        assert "concurrent" in result.err.lower(), result.out + result.err
        await asyncio.sleep(0.5)
    raise AssertionError("the namespace's batch slot never freed")


async def _completed(server: ServerProcess, job: str) -> dict[str, object]:
    async def done() -> dict[str, object]:
        d = (await cli(server, "batch", "describe", "--job-id", job, "-o", "json")).json()
        assert d["state"] != "Running" and d["state"] != "BATCH_OPERATION_STATE_RUNNING", d
        return d  # type: ignore[no-any-return]

    return await eventually(done, timeout=40)


async def test_signal_cancel_terminate_delete_by_query(
    any_server: ServerProcess, official_client: Client
) -> None:
    tag = f"clib-{uuid.uuid4().hex[:8]}"
    handles = await _workflows(official_client, tag, 2)
    query = f"WorkflowId STARTS_WITH '{tag}-'"

    job = await _batch(any_server, "workflow", "signal", "--query", query, "--name", "poke",
                       "-i", '"hi"', "--reason", "sig")  # fmt: skip
    d = await _completed(any_server, job)
    assert int(d["completeOperationCount"]) == 2  # type: ignore[call-overload]

    job = await _batch(any_server, "workflow", "cancel", "--query", query, "--reason", "stop")
    await _completed(any_server, job)

    job = await _batch(any_server, "workflow", "terminate", "--query", query, "--reason", "end")
    d = await _completed(any_server, job)
    assert int(d["totalOperationCount"]) == 2  # type: ignore[call-overload]
    for h in handles:
        assert (await h.describe()).status == WorkflowExecutionStatus.TERMINATED
        kinds = [e.event_type async for e in h.fetch_history_events()]
        assert len(kinds) >= 4  # started, task, signalled, cancel requested, terminated

    listed = (await cli(any_server, "batch", "list", "-o", "json")).out
    assert job in listed

    job = await _batch(any_server, "workflow", "delete", "--query", query, "--reason", "gone")
    d = await _completed(any_server, job)
    assert int(d["completeOperationCount"]) == 2  # type: ignore[call-overload]

    async def deleted() -> None:
        for h in handles:
            try:
                await h.describe()
            except RPCError as err:
                assert err.status == RPCStatusCode.NOT_FOUND
            else:
                raise AssertionError(f"{h.id} is still there")

    await eventually(deleted, timeout=60)
    missing = await cli(any_server, "batch", "describe", "--job-id", f"none-{tag}", check=False)
    assert missing.rc != 0
