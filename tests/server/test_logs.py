"""Structured server logs (server/logs.py): JSON lines with the request's context."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import (
    GetWorkflowExecutionHistoryRequest,
    GetWorkflowExecutionHistoryResponse,
)
from temporalio.client import Client

from perdure.server.frontend.deadline import Deadline
from perdure.server.frontend.dispatch import Call, Dispatcher
from perdure.server.logs import (
    ContextFilter,
    JsonFormatter,
    RequestLogContext,
    execution_context,
)
from tests.servers import start_perdure_server

pytestmark = pytest.mark.timeout(60)


class _Frontend:
    """A frontend with one handler that logs, as handlers deep in the server do."""

    async def GetWorkflowExecutionHistory(
        self, request: GetWorkflowExecutionHistoryRequest, deadline: Deadline
    ) -> GetWorkflowExecutionHistoryResponse:
        logging.getLogger("perdure.server.history").warning("run %s looked at", "r1")
        return GetWorkflowExecutionHistoryResponse()


async def test_records_carry_the_request_context() -> None:
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        dispatcher = Dispatcher(_Frontend(), interceptors=[RequestLogContext()])
        request = GetWorkflowExecutionHistoryRequest(
            namespace="ns1", execution=WorkflowExecution(workflow_id="wf1", run_id="r1")
        )
        call = Call("WorkflowService", "GetWorkflowExecutionHistory", peer="ipv4:1.2.3.4")
        await dispatcher.call(call, request, None)
        logging.getLogger("perdure.server").warning("outside any request")
        with execution_context(workflow_id="wf2", run_id="r2", timer="t1"):
            logging.getLogger("perdure.server.timers").info("timer fired")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)

    entries = [json.loads(line) for line in records]
    inside, access, outside, timer = entries
    assert inside["msg"] == "run r1 looked at"
    assert inside["level"] == "warning" and inside["logger"] == "perdure.server.history"
    assert (inside["namespace"], inside["workflow_id"], inside["run_id"]) == ("ns1", "wf1", "r1")
    assert inside["operation"] == "GetWorkflowExecutionHistory"
    assert inside["ts"].endswith("+00:00")
    assert access["logger"] == "perdure.server.access" and access["level"] == "debug"
    assert access["outcome"] == "ok" and access["peer"] == "ipv4:1.2.3.4"
    assert access["workflow_id"] == "wf1"
    assert "namespace" not in outside and outside["msg"] == "outside any request"
    assert (timer["workflow_id"], timer["run_id"], timer["timer"]) == ("wf2", "r2", "t1")


async def test_server_writes_json_lines(tmp_path: Path) -> None:
    server = start_perdure_server(
        tmp_path, extra_args=["--log-format", "json", "--log-level", "debug"]
    )
    try:
        client = await Client.connect(server.target)
        workflow_id = f"logged-{uuid.uuid4().hex[:8]}"
        handle = await client.start_workflow("NobodyRunsThis", id=workflow_id, task_queue="logs")
        await handle.terminate("done")
    finally:
        server.stop()
    lines = [line for line in server.log().splitlines() if line.startswith("{")]
    entries = [json.loads(line) for line in lines]
    assert entries and all({"ts", "level", "logger", "msg"} <= e.keys() for e in entries)
    started = [
        e
        for e in entries
        if e.get("operation") == "StartWorkflowExecution" and e["logger"] == "perdure.server.access"
    ]
    assert started, lines
    assert started[0]["namespace"] == "default" and started[0]["workflow_id"] == workflow_id
    assert started[0]["request_id"]  # the SDK's, from the request
