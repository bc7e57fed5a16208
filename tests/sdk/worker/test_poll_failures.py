"""A worker whose server goes away: one warning, pollers back off, work resumes after."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from perdure import activity, workflow
from perdure.client import Client
from perdure.worker import Worker
from tests.servers import start_perdure_server

OUTAGE_SECONDS = 3.0
POLLERS = 10  # 5 workflow task polls (normal and sticky) and 5 activity task polls


@activity.defn
async def echo(text: str) -> str:
    return text


@workflow.defn
class Echo:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(
            echo, text, start_to_close_timeout=timedelta(seconds=10)
        )


async def test_server_outage_warns_once_backs_off_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_perdure_server(tmp_path)
    task_queue = f"outage-{uuid.uuid4().hex[:8]}"
    try:
        client = await Client.connect(server.target)
        async with Worker(client, task_queue=task_queue, workflows=[Echo], activities=[echo]):
            assert (
                await client.execute_workflow(
                    Echo.run, "before", id="before", task_queue=task_queue
                )
                == "before"
            )
            caplog.set_level(logging.DEBUG, logger="perdure.worker")
            server.kill()
            await asyncio.sleep(OUTAGE_SECONDS)
            during = [r for r in caplog.records if r.name.startswith("perdure.worker")]
            warnings = [r for r in during if r.levelno >= logging.WARNING]
            assert [r.getMessage()[:40] for r in warnings] == [
                f"Polling task queue {task_queue} failed"[:40]
            ]
            failed_polls = [r for r in during if "poll" in r.getMessage().lower()]
            # Backing off from 0.1 s by x1.7, a poller fails about seven times in 3 s.
            assert POLLERS <= len(failed_polls) <= POLLERS * 10

            server = start_perdure_server(tmp_path, port=server.port, db_path=server.db_path)
            result = await asyncio.wait_for(
                client.execute_workflow(Echo.run, "after", id="after", task_queue=task_queue),
                timeout=30,
            )
            assert result == "after"
            assert any("recovered" in r.getMessage() for r in caplog.records)
    finally:
        server.stop()
