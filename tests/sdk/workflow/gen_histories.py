"""Write reference histories with the official SDK (temporalio) on the real dev server.

Run: .venv/bin/python -m tests.sdk.workflow.gen_histories [OUT_DIR]
Starts `temporal server start-dev`, runs every scenario of scenarios.py with temporalio's
own worker and saves each history as Temporal's JSON (the format of
`temporal workflow show --output json`) under tests/sdk/workflow/histories/.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.sdk.workflow.scenarios import load
from tests.servers import start_temporal_server

OUT = Path(__file__).parent / "histories"


@activity.defn(name="greet")
async def greet(name: str) -> str:
    return f"hello {name}"


@activity.defn(name="slow")
async def slow() -> None:
    while True:
        await asyncio.sleep(0.1)
        activity.heartbeat()


@activity.defn(name="fail")
async def fail() -> None:
    raise RuntimeError("activity boom")


async def _drive(client: Client, tq: str, out: Path) -> None:
    s = load("temporalio")
    async with Worker(
        client,
        task_queue=tq,
        workflows=[
            s.Activities, s.Timers, s.Signals, s.Child, s.Parent, s.LocalActivities,
            s.Patches, s.Updates, s.Randomness, s.CancelActivity, s.ContinueAsNew, s.Failing,
            s.LocalFailures,
        ],
        activities=[greet, slow, fail],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):  # fmt: skip

        async def run(name: str, wf: Any, *args: Any) -> WorkflowHandle[Any, Any]:
            handle = await client.start_workflow(
                wf, args=list(args), id=f"{name}-{uuid.uuid4().hex[:8]}", task_queue=tq
            )
            return handle

        async def save(name: str, handle: WorkflowHandle[Any, Any]) -> None:
            try:
                await handle.result()
            except Exception as err:  # failing scenarios are recorded too
                print(f"{name}: {type(err).__name__}: {err}")
            history = await handle.fetch_history()
            (out / f"{name}.json").write_text(history.to_json())
            print(f"{name}: {len(history.events)} events")

        await save("activities", await run("activities", s.Activities.run, "x"))
        await save("timers", await run("timers", s.Timers.run))
        h = await run("signals", s.Signals.run)
        await h.signal(s.Signals.add, "one")
        assert await h.query(s.Signals.count) >= 0
        await h.signal(s.Signals.add, "two")
        await save("signals", h)
        await save("parent", await run("parent", s.Parent.run))
        await save("local_activities", await run("local_activities", s.LocalActivities.run))
        await save("patches", await run("patches", s.Patches.run))
        h = await run("updates", s.Updates.run)
        assert await h.execute_update(s.Updates.add, 2) == 2
        try:
            await h.execute_update(s.Updates.add, -1)
        except Exception as err:
            print("rejected update:", type(err).__name__)
        assert await h.execute_update(s.Updates.add, 3) == 5
        assert await h.execute_update(s.Updates.finish) == 5
        await save("updates", h)
        await save("randomness", await run("randomness", s.Randomness.run))
        await save("cancel_activity", await run("cancel_activity", s.CancelActivity.run))
        h = await run("continue_as_new", s.ContinueAsNew.run, 1)
        await h.result()
        first = await client.get_workflow_handle(h.id, run_id=h.result_run_id).fetch_history()
        (out / "continue_as_new.json").write_text(first.to_json())
        await save("failing", await run("failing", s.Failing.run))
        h = await run("local_failures", s.LocalFailures.run)
        print("local failures:", await h.result())
        await save("local_failures", h)


async def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = start_temporal_server(Path(tmp))
        try:
            client = await Client.connect(server.target)
            await _drive(client, f"gen-{uuid.uuid4().hex[:8]}", out)
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(), timedelta(minutes=3).total_seconds()))
    sys.stdout.flush()
    os._exit(0)
