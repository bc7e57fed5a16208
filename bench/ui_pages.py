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
from tests.server.ui.cdp import Browser, find_browser

from perdure.server.app import PerdureServer, ServerConfig
from perdure.server.frontend.dispatch import WORKFLOW_SERVICE, Call

LONG_ID = "ui-bench-long-history"


async def _call(server: PerdureServer, method: str, request: object) -> object:
    return await server.dispatcher.call(Call(WORKFLOW_SERVICE, method), request, None)  # type: ignore[arg-type]


def _execution(workflow_id: str) -> common_pb2.WorkflowExecution:
    return common_pb2.WorkflowExecution(workflow_id=workflow_id)


def _start(workflow_id: str, type_name: str, queue: str) -> rr.StartWorkflowExecutionRequest:
    return rr.StartWorkflowExecutionRequest(
        namespace="default",
        workflow_id=workflow_id,
        workflow_type=common_pb2.WorkflowType(name=type_name),
        task_queue=taskqueue_pb2.TaskQueue(name=queue),
        request_id=workflow_id,
    )


async def _count(server: PerdureServer) -> int:
    request = rr.CountWorkflowExecutionsRequest(namespace="default")
    out = await _call(server, "CountWorkflowExecutions", request)
    return int(out.count)  # type: ignore[attr-defined]


async def _history_length(server: PerdureServer) -> int:
    """Events of the long-history workflow, which is started when missing."""
    request = rr.DescribeWorkflowExecutionRequest(
        namespace="default", execution=_execution(LONG_ID)
    )
    try:
        described = await _call(server, "DescribeWorkflowExecution", request)
    except Exception:
        await _call(server, "StartWorkflowExecution", _start(LONG_ID, "LongHistory", "ui-long"))
        return 2
    return int(described.workflow_execution_info.history_length)  # type: ignore[attr-defined]


async def populate(server: PerdureServer, executions: int, events: int) -> None:
    have = await _count(server)
    batch = 500
    started = time.monotonic()
    for first in range(have, executions, batch):
        ids = range(first, min(first + batch, executions))
        await asyncio.gather(
            *(
                _call(server, "StartWorkflowExecution", _start(f"ui-bench-{i:07d}", "Bench", "ui"))
                for i in ids
            )
        )
        if (first // batch) % 20 == 0:
            print(f"  {first + batch} executions ({time.monotonic() - started:.0f}s)", flush=True)
    length = await _history_length(server)
    step = common_pb2.Payload(metadata={"encoding": b"json/plain"}, data=b'{"step":1}')
    while length < events:
        n = min(200, events - length)
        signals = [
            rr.SignalWorkflowExecutionRequest(
                namespace="default",
                workflow_execution=_execution(LONG_ID),
                signal_name="step",
                input=common_pb2.Payloads(payloads=[step]),
                request_id=f"s-{length}-{k}",
            )
            for k in range(n)
        ]
        await asyncio.gather(*(_call(server, "SignalWorkflowExecution", s) for s in signals))
        length += n


async def measure(base: str, reps: int, events: int) -> dict[str, list[float]]:
    executable = find_browser()
    if executable is None:
        raise SystemExit("no chromium")
    out: dict[str, list[float]] = {"list": [], "detail_first_rows": [], "detail_all_loaded": []}
    with tempfile.TemporaryDirectory() as profile:
        browser = await Browser.launch(executable, Path(profile))
        try:
            for _ in range(reps):
                t = time.monotonic()
                await browser.goto(f"{base}/namespaces/default/workflows")
                rows = "#workflow-table tbody tr[data-workflow-id]"
                await browser.wait_for(
                    f"document.querySelectorAll('{rows}').length === 50", timeout=120
                )
                out["list"].append(time.monotonic() - t)
                t = time.monotonic()
                await browser.goto(f"{base}/namespaces/default/workflows/{LONG_ID}//history")
                await browser.wait_for(
                    "document.querySelector('#history-table tr.event')", timeout=300
                )
                out["detail_first_rows"].append(time.monotonic() - t)
                await browser.wait_for(
                    "document.querySelector('#history-count[data-complete=true]')"
                    f" && +document.querySelector('#history-count').dataset.total >= {events}",
                    timeout=300,
                )
                out["detail_all_loaded"].append(time.monotonic() - t)
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
