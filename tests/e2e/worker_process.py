"""An official-SDK worker in a process of its own, for tests that crash a worker.

`python -m tests.e2e.worker_process TARGET TASK_QUEUE STICKY_TIMEOUT_SECONDS` runs a
worker for the workflows of official_workflows.py, prints "ready" once it polls, and
runs until it is killed (SIGKILL: no ShutdownWorker reaches the server).
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.e2e import official_workflows as wf


async def main(target: str, task_queue: str, sticky_timeout: float) -> None:
    client = await Client.connect(target)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=wf.ALL_WORKFLOWS,
        activities=wf.ALL_ACTIVITIES,
        workflow_runner=UnsandboxedWorkflowRunner(),
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=sticky_timeout),
    ):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
    finally:
        os._exit(0)
