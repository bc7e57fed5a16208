"""Temporal's HTTP/JSON API, driven with an HTTP client against Perdure's server and the
real `temporal server start-dev --http-port`, with the same assertions."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.servers import ServerProcess

pytestmark = pytest.mark.timeout(90)


@workflow.defn
class HttpCounter:
    def __init__(self) -> None:
        self.value = 0
        self.done = False

    @workflow.run
    async def run(self, start: int) -> int:
        self.value = start
        await workflow.wait_condition(lambda: self.done)
        return self.value

    @workflow.query
    def current(self) -> int:
        return self.value

    @workflow.signal
    def bump(self, by: int) -> None:
        self.value += by

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.update
    async def add(self, amount: int) -> int:
        self.value += amount
        return self.value


class Api:
    """A small HTTP client of one server's API."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def call(
        self, method: str, path: str, body: Any = None, *, data: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any]:  # fmt: skip
        kwargs: dict[str, Any] = {"params": params}
        if data is not None:
            kwargs["data"] = data
        elif body is not None:
            kwargs["json"] = body
        async with self.session.request(method, self.base + path, **kwargs) as response:
            return response.status, await response.json(content_type=None)

    async def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, out = await self.call(method, path, body, **kw)
        assert status == 200, (method, path, status, out)
        return out


@pytest.fixture(scope="session")
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def api(any_server: ServerProcess, http_session: aiohttp.ClientSession) -> Api:
    out = Api(http_session, any_server.http_url)
    deadline = time.monotonic() + 30
    while True:  # the HTTP port opens a moment after the gRPC one
        try:
            await out.call("GET", "/api/v1/system-info")
            return out
        except aiohttp.ClientConnectionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


@pytest.fixture
async def worker(any_server: ServerProcess, task_queue: str) -> AsyncIterator[Worker]:
    client = await Client.connect(any_server.target)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[HttpCounter],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ) as w:
        yield w


def _wf(ns: str = "default") -> str:
    return f"/api/v1/namespaces/{ns}/workflows"


def _start_body(task_queue: str, *args: Any, type_name: str = "HttpCounter") -> dict[str, Any]:
    return {
        "workflowType": {"name": type_name},
        "taskQueue": {"name": task_queue},
        "input": list(args),
        "requestId": str(uuid.uuid4()),
    }


def _events(history: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = history["history"]["events"]
    return events


async def test_list_namespaces_and_system_info(api: Api) -> None:
    out = await api.ok("GET", "/api/v1/namespaces")
    names = [n["namespaceInfo"]["name"] for n in out["namespaces"]]
    assert "default" in names
    described = await api.ok("GET", "/api/v1/namespaces/default")
    assert described["namespaceInfo"]["state"] == "NAMESPACE_STATE_REGISTERED"
    info = await api.ok("GET", "/api/v1/system-info")
    assert info["capabilities"]["signalAndQueryHeader"] is True


async def test_start_describe_history_signal_terminate(
    api: Api, task_queue: str, workflow_id: str
) -> None:
    started = await api.ok(
        "POST", f"{_wf()}/{workflow_id}", _start_body(task_queue, {"a": 1}, "text", 3)
    )
    run_id = started["runId"]
    assert started["started"] is True
    described = await api.ok("GET", f"{_wf()}/{workflow_id}")
    info = described["workflowExecutionInfo"]
    assert info["execution"] == {"workflowId": workflow_id, "runId": run_id}
    assert info["type"] == {"name": "HttpCounter"}
    assert info["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"
    assert info["taskQueue"] == task_queue
    by_run = await api.ok("GET", f"{_wf()}/{workflow_id}", params={"execution.runId": run_id})
    assert by_run["workflowExecutionInfo"]["execution"]["runId"] == run_id

    signal = {"input": [{"by": "<b>&"}], "requestId": str(uuid.uuid4())}
    await api.ok("POST", f"{_wf()}/{workflow_id}/signal/bump", signal)
    await api.ok("POST", f"{_wf()}/{workflow_id}/terminate", {"reason": "enough"})

    history = await api.ok("GET", f"{_wf()}/{workflow_id}/history")
    events = _events(history)
    first = events[0]
    assert first["eventId"] == "1"
    assert first["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    attrs = first["workflowExecutionStartedEventAttributes"]
    assert attrs["input"] == [{"a": 1}, "text", 3]
    assert attrs["workflowType"] == {"name": "HttpCounter"}
    signaled = [e for e in events if e["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"]
    assert signaled[0]["workflowExecutionSignaledEventAttributes"]["input"] == [{"by": "<b>&"}]
    last = events[-1]
    assert last["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED"
    assert last["workflowExecutionTerminatedEventAttributes"]["reason"] == "enough"

    raw = await api.ok("GET", f"{_wf()}/{workflow_id}/history", params={"noPayloadShorthand": "1"})
    payloads = _events(raw)[0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"]
    assert payloads[1] == {"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "InRleHQi"}
    # JSON data is stored as Temporal encodes it: keys sorted, no spaces, HTML escaped.
    sig_raw = [e for e in _events(raw) if "workflowExecutionSignaledEventAttributes" in e]
    data = sig_raw[0]["workflowExecutionSignaledEventAttributes"]["input"]["payloads"][0]["data"]
    assert data == "eyJieSI6Ilx1MDAzY2JcdTAwM2VcdTAwMjYifQ=="  # {"by":"\u003cb\u003e\u0026"}

    closed = await api.ok("GET", f"{_wf()}/{workflow_id}")
    assert closed["workflowExecutionInfo"]["status"] == "WORKFLOW_EXECUTION_STATUS_TERMINATED"
    page = await api.ok("GET", f"{_wf()}/{workflow_id}/history", params={"maximumPageSize": "2"})
    # Pages hold whole event batches: at least the size asked for, less than everything.
    assert 2 <= len(_events(page)) < len(events)
    assert page["nextPageToken"]
    rest = await api.ok(
        "GET",
        f"{_wf()}/{workflow_id}/history",
        params={"maximumPageSize": "100", "nextPageToken": page["nextPageToken"]},
    )
    assert [e["eventId"] for e in _events(page) + _events(rest)] == [e["eventId"] for e in events]

    status, again = await api.call("POST", f"{_wf()}/{workflow_id}/terminate", {})
    assert status == 404 and again["code"] == 5
    assert again["details"][0]["@type"].endswith("errordetails.v1.NotFoundFailure")


async def test_query_update_signal_with_a_worker(
    api: Api, worker: Worker, task_queue: str, workflow_id: str
) -> None:
    await api.ok("POST", f"{_wf()}/{workflow_id}", _start_body(task_queue, 5))
    query = await api.ok("POST", f"{_wf()}/{workflow_id}/query/current", {})
    assert query["queryResult"] == [5]
    await api.ok("POST", f"{_wf()}/{workflow_id}/signal/bump", {"input": [2]})
    update = await api.ok(
        "POST",
        f"{_wf()}/{workflow_id}/update/add",
        {
            "request": {"meta": {"updateId": "u1"}, "input": {"args": [10]}},
            "waitPolicy": {"lifecycleStage": "UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED"},
        },
    )
    assert update["outcome"]["success"] == [17]
    assert update["stage"] == "UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED"
    await api.ok("POST", f"{_wf()}/{workflow_id}/signal/finish", {})
    deadline = time.monotonic() + 30
    while True:
        closed = await api.ok(
            "GET",
            f"{_wf()}/{workflow_id}/history",
            params={"historyEventFilterType": "HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT"},
        )
        events = closed.get("history", {}).get("events", [])
        if events or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    done = events[0]["workflowExecutionCompletedEventAttributes"]
    assert done["result"] == [17]


async def test_cancel_records_the_request(api: Api, task_queue: str, workflow_id: str) -> None:
    await api.ok("POST", f"{_wf()}/{workflow_id}", _start_body(task_queue, 0))
    assert await api.ok("POST", f"{_wf()}/{workflow_id}/cancel", {"reason": "stop"}) == {}
    events = _events(await api.ok("GET", f"{_wf()}/{workflow_id}/history"))
    cancel = [
        e for e in events if e["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED"
    ]
    assert cancel[0]["workflowExecutionCancelRequestedEventAttributes"]["cause"] == "stop"
    await api.ok("POST", f"{_wf()}/{workflow_id}/terminate", {})


async def test_list_and_count(api: Api, task_queue: str, workflow_id: str) -> None:
    await api.ok("POST", f"{_wf()}/{workflow_id}", _start_body(task_queue, 0))
    query = f'WorkflowId = "{workflow_id}"'
    deadline = time.monotonic() + 20
    while True:  # visibility is eventually consistent on the real server
        listed = await api.ok("GET", _wf(), params={"query": query, "pageSize": "10"})
        if listed.get("executions") or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    (row,) = listed["executions"]
    assert row["execution"]["workflowId"] == workflow_id
    assert row["type"] == {"name": "HttpCounter"}
    assert row["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"
    assert row["taskQueue"] == task_queue
    count = await api.ok(
        "GET", "/api/v1/namespaces/default/workflow-count", params={"query": query}
    )
    assert count["count"] == "1"
    await api.ok("POST", f"{_wf()}/{workflow_id}/terminate", {})


async def test_unicode_workflow_id(api: Api, task_queue: str) -> None:
    workflow_id = f"wf é <i>{uuid.uuid4().hex[:8]}"
    path = f"{_wf()}/{quote(workflow_id, safe='')}"
    await api.ok("POST", path, _start_body(task_queue, 0))
    described = await api.ok("GET", path)
    assert described["workflowExecutionInfo"]["execution"]["workflowId"] == workflow_id
    await api.ok("POST", f"{path}/terminate", {})


async def test_bad_input_gets_temporals_errors(api: Api, task_queue: str, workflow_id: str) -> None:
    start = f"{_wf()}/{workflow_id}"
    status, out = await api.call("POST", start, data=b"{bad")
    assert (status, out["code"]) == (400, 3)
    status, out = await api.call("POST", start, {**_start_body(task_queue), "bogus": 1})
    assert (status, out["code"]) == (400, 3) and "bogus" in out["message"]
    status, out = await api.call("POST", start, {"workflowType": {"name": 5}})
    assert (status, out["code"]) == (400, 3)
    status, out = await api.call("POST", start, {"taskQueue": {"name": task_queue}})
    assert (status, out) == (400, {"code": 3, "message": "WorkflowType is not set on request."})
    status, out = await api.call("GET", "/api/v1/no-such-thing")
    assert (status, out) == (404, {"code": 5, "message": "Not Found"})
    status, out = await api.call("PUT", start, {})
    assert (status, out) == (501, {"code": 12, "message": "Method Not Allowed"})
    status, out = await api.call("GET", _wf(), params={"pageSize": "abc"})
    assert (status, out["code"]) == (400, 3)
    status, out = await api.call("GET", f"{_wf('no-such-ns')}/x")
    assert (status, out["code"]) == (404, 5)
    assert out["message"] == "Namespace no-such-ns is not found."
    assert out["details"] == [
        {
            "@type": "type.googleapis.com/temporal.api.errordetails.v1.NamespaceNotFoundFailure",
            "namespace": "no-such-ns",
        }
    ]
    status, out = await api.call("GET", f"{_wf()}/never-started-{workflow_id}")
    assert (status, out["code"]) == (404, 5)
    assert out["details"][0]["@type"].endswith("errordetails.v1.NotFoundFailure")

    started = await api.ok("POST", start, _start_body(task_queue, 0))
    status, out = await api.call("POST", start, _start_body(task_queue, 0))
    assert (status, out["code"]) == (409, 6)
    (detail,) = out["details"]
    assert detail["@type"].endswith("errordetails.v1.WorkflowExecutionAlreadyStartedFailure")
    assert detail["runId"] == started["runId"]
    await api.ok("POST", f"{start}/terminate", {})
