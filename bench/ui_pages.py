"""How long the Web UI takes to render: the workflow list (50 rows out of many stored
executions) and the detail page of a long history, in headless Chromium.

    python -m bench.ui_pages --executions 100000 --events 10000 [--db /tmp/ui-bench.db]

Executions are started in-process through the server's dispatcher (the same handlers as
gRPC and HTTP); a database file given with --db is reused when it already holds them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.app import PerdureServer, ServerConfig
from perdure.server.frontend.dispatch import WORKFLOW_SERVICE, Call
from tests.server.ui.cdp import Browser, find_browser

LONG_ID = "ui-bench-long-history"


async def _call(server: PerdureServer, method: str, request: object) -> object:
    return await server.dispatcher.call(Call(WORKFLOW_SERVICE, method), request, None)  # type: ignore[arg-type]


async def _count(server: PerdureServer) -> int:
    out = await _call(server, "CountWorkflowExecutions", rr.CountWorkflowExecutionsRequest(namespace="default"))
    return int(out.count)  # type: ignore[attr-defined]


async def populate(server: PerdureServer, executions: int, events: int) -> None:
    have = await _count(server)
    batch = 500
    started = time.monotonic()
    for first in range(have, executions, batch):
        await asyncio.gather(*(
            _call(server, "StartWorkflowExecution", rr.StartWorkflowExecutionRequest(
                namespace="default", workflow_id=f"ui-bench-{i:07d}",
                workflow_type=common_pb2.WorkflowType(name="BenchWorkflow"),
                task_queue=taskqueue_pb2.TaskQueue(name="ui-bench"),
                request_id=f"ui-bench-{i}",
            ))
            for i in range(first, min(first + batch, executions))
        ))  # fmt: skip
        if (first // batch) % 20 == 0:
            print(f"  {first + batch} executions ({time.monotonic() - started:.0f}s)", flush=True)
    try:
        described = await _call(server, "DescribeWorkflowExecution", rr.DescribeWorkflowExecutionRequest(
            namespace="default", execution=common_pb2.WorkflowExecution(workflow_id=LONG_ID)))  # fmt: skip
        length = int(described.workflow_execution_info.history_length)  # type: ignore[attr-defined]
    except Exception:
        await _call(server, "StartWorkflowExecution", rr.StartWorkflowExecutionRequest(
            namespace="default", workflow_id=LONG_ID,
            workflow_type=common_pb2.WorkflowType(name="LongHistory"),
            task_queue=taskqueue_pb2.TaskQueue(name="ui-bench-long"), request_id=LONG_ID))  # fmt: skip
        length = 2
    payload = common_pb2.Payloads(payloads=[common_pb2.Payload(
        metadata={"encoding": b"json/plain"}, data=b'{"step":1}')])  # fmt: skip
    while length < events:
        n = min(200, events - length)
        await asyncio.gather(*(
            _call(server, "SignalWorkflowExecution", rr.SignalWorkflowExecutionRequest(
                namespace="default", workflow_execution=common_pb2.WorkflowExecution(workflow_id=LONG_ID),
                signal_name="step", input=payload, request_id=f"s-{length}-{k}"))
            for k in range(n)
        ))  # fmt: skip
        length += n


async def measure(base: str, reps: int, events: int) -> dict[str, list[float]]:
    executable = find_browser()
    if executable is None:
        raise SystemExit("no chromium")
    out: dict[str, list[float]] = {"list": [], "detail": []}
    with tempfile.TemporaryDirectory() as profile:
        browser = await Browser.launch(executable, Path(profile))
        try:
            for _ in range(reps):
                t = time.monotonic()
                await browser.goto(f"{base}/namespaces/default/workflows")
                await browser.wait_for(
                    "document.querySelectorAll('#workflow-table tbody tr[data-workflow-id]').length === 50",
                    timeout=120,
                )
                out["list"].append(time.monotonic() - t)
                t = time.monotonic()
                await browser.goto(f"{base}/namespaces/default/workflows/{LONG_ID}//history")
                await browser.wait_for(
                    f"document.querySelectorAll('#history-table tr.event').length >= {events}",
                    timeout=300,
                )
                out["detail"].append(time.monotonic() - t)
        finally:
            await browser.close()
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--db", default=os.path.join(tempfile.gettempdir(), "perdure-ui-bench.db"))
    args = parser.parse_args()
    config = ServerConfig(db=args.db, serve_grpc=False, ui_port=0)
    server = await PerdureServer.start(config)
    try:
        print(f"populating {args.db} ...", flush=True)
        await populate(server, args.executions, args.events)
        print(f"{await _count(server)} executions stored", flush=True)
        figures = await measure(f"http://127.0.0.1:{server.ui_port}", args.reps, args.events)
        print(json.dumps({k: [round(v, 2) for v in vs] for k, vs in figures.items()}))
        for key, values in figures.items():
            print(f"{key}: median {statistics.median(values):.2f}s over {len(values)} runs")
    finally:
        await server.stop()


if __name__ == "__main__":
    asyncio.run(main())
