"""The embedded transport: the engine in process, reached without gRPC, as over gRPC."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from temporalio.api.enums.v1 import TaskQueueKind
from temporalio.api.errordetails.v1 import message_pb2 as details_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as ws

from perdure import activity, workflow
from perdure.client import Client, WorkflowExecutionStatus
from perdure.server.errors import Unavailable
from perdure.service import EmbeddedServiceClient, RPCError, RPCStatusCode
from perdure.service._embedded import EmbeddedTarget
from perdure.worker import Worker
from tests.pg import create_database, drop_database, pg_unreachable


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn
class Shout:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(
            shout, text, start_to_close_timeout=timedelta(seconds=10)
        )


def _target(**query: str) -> str:
    params = "&".join(f"{k}={v}" for k, v in {"instance": uuid.uuid4().hex, **query}.items())
    return f"embedded://:memory:?{params}"


@pytest.fixture(params=["caller-loop", "own-loop"])
def engine_query(request: pytest.FixtureRequest) -> dict[str, str]:
    """Target options of an engine on the caller's loop, or (serving gRPC) on its own."""
    return {"serve_grpc": "0"} if request.param == "own-loop" else {}


def _service(client: Client) -> EmbeddedServiceClient:
    service = client.service_client
    assert isinstance(service, EmbeddedServiceClient)
    return service


def _inject(
    client: Client, rpc: str, handler: Callable[[Any, float | None], Awaitable[Message]]
) -> None:
    """Replace the engine's handler of one RPC (to test the transport around it)."""
    _service(client).engine._handlers[("workflow", rpc)] = handler


async def test_workflow_with_activity_runs_in_process(
    task_queue: str, engine_query: dict[str, str]
) -> None:
    client = await Client.connect(_target(**engine_query))
    try:
        async with Worker(client, task_queue=task_queue, workflows=[Shout], activities=[shout]):
            assert (
                await client.execute_workflow(Shout.run, "hi", id="shout", task_queue=task_queue)
                == "HI"
            )
    finally:
        await client.service_client.close()


async def test_errors_carry_status_and_typed_details_as_over_grpc() -> None:
    client = await Client.connect(_target(serve_grpc="0"))
    target = _service(client).grpc_target
    assert target is not None
    remote = await Client.connect(target)
    try:
        missing = ws.DescribeWorkflowExecutionRequest(namespace="default")
        missing.execution.workflow_id = "nope"
        errors = []
        for c in (client, remote):
            with pytest.raises(RPCError) as info:
                await c.workflow_service.describe_workflow_execution(missing)
            errors.append(info.value)
        embedded, grpc = errors
        assert embedded.status == grpc.status == RPCStatusCode.NOT_FOUND
        assert embedded.message == grpc.message
        assert embedded.grpc_status.details[0].Is(details_pb2.NotFoundFailure.DESCRIPTOR)
        assert embedded.raw_grpc_status == grpc.raw_grpc_status

        await client.start_workflow("Absent", id="dup", task_queue="nobody")
        with pytest.raises(Exception) as started_twice:
            await client.start_workflow("Absent", id="dup", task_queue="nobody")
        assert type(started_twice.value).__name__ == "WorkflowAlreadyStartedError"
        # The engine is one: the gRPC client sees what the embedded one started.
        assert (await remote.get_workflow_handle("dup").describe()).workflow_type == "Absent"
    finally:
        await remote.service_client.close()
        await client.service_client.close()


async def test_unknown_rpcs_are_unimplemented() -> None:
    client = await Client.connect(_target())
    try:
        with pytest.raises(RPCError) as info:
            await client.test_service.lock_time_skipping(ws.GetSystemInfoRequest())  # type: ignore[arg-type]
        assert info.value.status == RPCStatusCode.UNIMPLEMENTED
    finally:
        await client.service_client.close()


async def test_bad_requests_fail_with_the_same_errors_as_over_grpc() -> None:
    """One validation path: the frontend's handlers, whichever transport called them."""
    client = await Client.connect(_target(serve_grpc="0"))
    target = _service(client).grpc_target
    assert target is not None
    remote = await Client.connect(target)
    no_queue = ws.StartWorkflowExecutionRequest(namespace="default", workflow_id="w")
    no_queue.workflow_type.name = "Flow"
    no_signal = ws.SignalWorkflowExecutionRequest(namespace="default")
    no_signal.workflow_execution.workflow_id = "w"
    no_query = ws.QueryWorkflowRequest(namespace="default")
    no_query.execution.workflow_id = "w"
    try:
        for rpc, request in (
            ("start_workflow_execution", no_queue),
            ("signal_workflow_execution", no_signal),
            ("query_workflow", no_query),
            ("get_workflow_execution_history", ws.GetWorkflowExecutionHistoryRequest()),
        ):
            errors = []
            for c in (client, remote):
                with pytest.raises(RPCError) as info:
                    await getattr(c.workflow_service, rpc)(request)
                errors.append(info.value)
            embedded, grpc = errors
            assert embedded.status == grpc.status, rpc
            assert embedded.message == grpc.message, rpc
    finally:
        await remote.service_client.close()
        await client.service_client.close()


async def test_handlers_get_the_calls_deadline() -> None:
    client = await Client.connect(_target())
    seen: list[float | None] = []

    async def record(request: Any, deadline: float | None) -> Message:
        seen.append(deadline)
        return ws.GetClusterInfoResponse()

    try:
        _inject(client, "get_cluster_info", record)
        called = time.monotonic()
        await client.workflow_service.get_cluster_info(
            ws.GetClusterInfoRequest(), timeout=timedelta(seconds=7)
        )
        [deadline] = seen
        assert deadline is not None
        assert called + 6 < deadline <= time.monotonic() + 7
    finally:
        await client.service_client.close()


async def test_deadline_is_honoured_and_retries_follow_retry(engine_query: dict[str, str]) -> None:
    client = await Client.connect(_target(**engine_query))
    calls = 0

    async def slow(request: Any, deadline: float | None) -> Message:
        await asyncio.sleep(10)
        raise AssertionError("not reached")

    async def flaky(request: Any, deadline: float | None) -> Message:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise Unavailable("try again")
        return ws.GetClusterInfoResponse(cluster_name="ok")

    try:
        _inject(client, "get_search_attributes", slow)
        started = time.monotonic()
        with pytest.raises(RPCError) as info:
            await client.workflow_service.get_search_attributes(
                ws.GetSearchAttributesRequest(), timeout=timedelta(seconds=0.2)
            )
        assert info.value.status == RPCStatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 2

        _inject(client, "get_cluster_info", flaky)
        with pytest.raises(RPCError) as info:
            await client.workflow_service.get_cluster_info(ws.GetClusterInfoRequest())
        assert info.value.status == RPCStatusCode.UNAVAILABLE and calls == 1
        resp = await client.workflow_service.get_cluster_info(
            ws.GetClusterInfoRequest(), retry=True
        )
        assert resp.cluster_name == "ok" and calls == 3
    finally:
        await client.service_client.close()


def _poll(task_queue: str) -> ws.PollWorkflowTaskQueueRequest:
    request = ws.PollWorkflowTaskQueueRequest(namespace="default", identity="test")
    request.task_queue.name = task_queue
    request.task_queue.kind = TaskQueueKind.TASK_QUEUE_KIND_NORMAL
    return request


async def test_cancelled_poll_leaves_the_task_for_the_next(
    task_queue: str, engine_query: dict[str, str]
) -> None:
    client = await Client.connect(_target(**engine_query))
    service = client.workflow_service
    try:
        poll = asyncio.create_task(service.poll_workflow_task_queue(_poll(task_queue)))
        await asyncio.sleep(0.1)
        poll.cancel()
        with pytest.raises(asyncio.CancelledError):
            await poll
        handle = await client.start_workflow("Absent", id="after-cancel", task_queue=task_queue)
        task = await service.poll_workflow_task_queue(
            _poll(task_queue), timeout=timedelta(seconds=5)
        )
        assert task.workflow_execution.workflow_id == handle.id
    finally:
        await client.service_client.close()


async def test_long_polls_return_when_the_engine_stops(
    task_queue: str, engine_query: dict[str, str]
) -> None:
    target = _target(**engine_query)
    client = await Client.connect(target)
    bystander = await Client.connect(target)
    service = _service(client)
    poll = asyncio.create_task(client.workflow_service.poll_workflow_task_queue(_poll(task_queue)))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await service.shutdown()
    with pytest.raises(RPCError) as info:
        await asyncio.wait_for(poll, 5)
    assert info.value.status == RPCStatusCode.UNAVAILABLE
    assert time.monotonic() - started < 3
    with pytest.raises(RPCError, match="closed"):
        await client.workflow_service.get_system_info(ws.GetSystemInfoRequest())
    with pytest.raises(RPCError, match="stopped") as stopped:
        await bystander.workflow_service.get_system_info(ws.GetSystemInfoRequest())
    assert stopped.value.status == RPCStatusCode.UNAVAILABLE
    await bystander.service_client.close()


async def test_clients_of_a_target_share_one_engine_until_the_last_closes() -> None:
    target = _target()
    first = await Client.connect(target)
    second = await Client.connect(target)
    other = await Client.connect(_target())
    engine = _service(first).engine
    assert _service(second).engine is engine
    assert _service(other).engine is not engine
    await first.service_client.close()
    assert not engine.stopped
    await second.start_workflow("Absent", id="still-up", task_queue="nobody")
    await second.service_client.close()
    assert engine.stopped
    await other.service_client.close()


async def test_sqlite_file_keeps_workflows_across_engines(tmp_path: Path) -> None:
    target = f"embedded://{tmp_path / 'app.db'}"
    client = await Client.connect(target)
    handle = await client.start_workflow("Absent", id="kept", task_queue="nobody")
    await handle.terminate("done here")
    await client.service_client.close()
    again = await Client.connect(f"embedded://{tmp_path}/../{tmp_path.name}/app.db")
    try:
        assert _service(again).engine is not _service(client).engine
        described = await again.get_workflow_handle("kept").describe()
        assert described.status == WorkflowExecutionStatus.TERMINATED
    finally:
        await again.service_client.close()


@pytest.mark.postgres
async def test_postgresql_url() -> None:
    reason = pg_unreachable()
    if reason:
        pytest.skip(reason)
    url = create_database("perdure_embedded")
    try:
        client = await Client.connect(f"embedded://{url}?namespace=pg-ns", namespace="pg-ns")
        try:
            handle = await client.start_workflow("Absent", id="in-pg", task_queue="nobody")
            assert (await handle.describe()).workflow_type == "Absent"
        finally:
            await client.service_client.close()
    finally:
        drop_database(url)


def test_targets() -> None:
    memory = EmbeddedTarget.parse("embedded://:memory:")
    assert memory.options.db == ":memory:" and memory.options.serve_grpc is None
    assert EmbeddedTarget.parse("embedded:///var/app.db").options.db == "/var/app.db"
    relative = EmbeddedTarget.parse("embedded://data/app.db?serve_grpc=0.0.0.0:7233")
    assert relative.key[0].endswith("/data/app.db")
    assert relative.options.serve_grpc == "0.0.0.0:7233"
    pg = EmbeddedTarget.parse(
        "embedded://postgresql://u@h:5432/db?sslmode=disable&namespace=a&namespace=b"
    )
    assert pg.options.db == "postgresql://u@h:5432/db?sslmode=disable"
    assert tuple(pg.options.namespaces) == ("default", "a", "b")
    assert EmbeddedTarget.parse("embedded://:memory:?instance=x").key == (":memory:", "x")
    with pytest.raises(ValueError, match="Unknown option"):
        EmbeddedTarget.parse("embedded://:memory:?serve=1")
    with pytest.raises(ValueError, match="No database"):
        EmbeddedTarget.parse("embedded://")


PROBE = """
import asyncio, sys, time
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest, ListWorkflowExecutionsRequest
from temporalio.client import Client

async def main() -> None:
    client = await Client.connect(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.monotonic()
    await client.workflow_service.get_system_info(GetSystemInfoRequest())
    listed = await client.workflow_service.list_workflow_executions(
        ListWorkflowExecutionsRequest(namespace="default")
    )
    print(f"answered {time.monotonic() - started:.3f} {len(listed.executions)}", flush=True)

asyncio.run(main())
"""


async def test_blocked_application_loop_does_not_stall_grpc_clients() -> None:
    client = await Client.connect(_target(serve_grpc="0"))
    service = _service(client)
    assert service.engine.own_loop and service.grpc_target is not None
    probe = subprocess.Popen(  # noqa: ASYNC220 - starting it does not block
        [sys.executable, "-c", PROBE, service.grpc_target],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert probe.stdin is not None and probe.stdout is not None
    try:
        await client.start_workflow("Absent", id="listed", task_queue="nobody")
        assert await asyncio.to_thread(probe.stdout.readline) == "ready\n"
        probe.stdin.write("go\n")
        probe.stdin.flush()
        time.sleep(3)  # noqa: ASYNC251 - the application blocks its event loop
        answer = probe.stdout.readline().split()
        assert answer[0] == "answered", answer
        assert float(answer[1]) < 1.0
        assert int(answer[2]) == 1
    finally:
        probe.kill()
        probe.wait()
        await client.service_client.close()
