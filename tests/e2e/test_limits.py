"""Temporal's limits, on both servers started with the same dynamic config values: a
history over its count or size limit ends in a termination with Temporal's reason, and a
namespace over its request rate gets RESOURCE_EXHAUSTED with Temporal's cause."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from temporalio.api.enums.v1 import EventType, ResourceExhaustedCause, ResourceExhaustedScope
from temporalio.api.errordetails.v1 import ResourceExhaustedFailure
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import TerminatedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.e2e import limits_workflows as rw
from tests.servers import ServerProcess, start_perdure_server, start_temporal_server

pytestmark = pytest.mark.timeout(120)

COUNT_LIMIT = 30
SIZE_LIMIT = 6000
RPS = 2
BLOB_LIMIT = 1500
ARGS = [
    "--dynamic-config-value", f"limit.blobSize.error={BLOB_LIMIT}",
    "--dynamic-config-value", "limit.blobSize.warn=1200",
    "--namespace", "limits",
    "--dynamic-config-value", f"limit.historyCount.error={COUNT_LIMIT}",
    "--dynamic-config-value", f"limit.historySize.error={SIZE_LIMIT}",
    "--dynamic-config-value", f"frontend.namespaceRPS={RPS}",
]  # fmt: skip


@pytest.fixture(scope="module", params=["perdure", "temporal"])
def limited_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp(f"limits-{request.param}")
    start = start_perdure_server if request.param == "perdure" else start_temporal_server
    server = start(work, extra_args=ARGS)
    try:
        yield server
    finally:
        server.stop()


async def _client(server: ServerProcess) -> Client:
    return await Client.connect(server.target, namespace="limits")


async def _signal_until_refused(client: Client, payload: str) -> tuple[int, RPCError, list]:
    """Signal a workflow that no worker runs until the server refuses; the signals
    accepted, the refusal and the history."""
    handle = await client.start_workflow(
        "Nothing", id=f"lim-{uuid.uuid4().hex[:8]}", task_queue="x"
    )
    accepted = 0
    refusal: RPCError | None = None
    for _ in range(200):
        try:
            await handle.signal("s", payload)
        except RPCError as err:
            refusal = err
            break
        accepted += 1
    assert refusal is not None, "no limit reached"
    events = [e async for e in handle.fetch_history_events()]
    assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED
    return accepted, refusal, events


async def test_a_history_over_its_event_count_is_terminated(limited_server: ServerProcess) -> None:
    accepted, refusal, events = await _signal_until_refused(await _client(limited_server), "x")
    assert refusal.status == RPCStatusCode.INVALID_ARGUMENT
    assert refusal.message == "Workflow history count exceeds limit."
    # Started, WorkflowTaskScheduled and signals up to one past the limit: the signal
    # that finds the history over it is refused and the run terminated instead.
    assert accepted == COUNT_LIMIT - 1
    assert len(events) == COUNT_LIMIT + 2
    last = events[-1]
    assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED
    attrs = last.workflow_execution_terminated_event_attributes
    assert (attrs.reason, attrs.identity) == (
        "Workflow history count exceeds limit.",
        "history-service",
    )


async def test_a_workflow_whose_timers_pass_the_event_count_is_terminated(
    limited_server: ServerProcess,
) -> None:
    """The transition that would take the history past the limit (a timer fires and a
    workflow task is scheduled) is not written; the run ends terminated instead."""
    client = await _client(limited_server)
    task_queue = f"lim-tq-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[rw.ManyTimers],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(
            rw.ManyTimers.run, 100, id=f"wf-{task_queue}", task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    assert isinstance(info.value.cause, TerminatedError)
    assert info.value.cause.message == "Workflow history count exceeds limit."
    events = [e async for e in handle.fetch_history_events()]
    assert len(events) == COUNT_LIMIT + 1
    assert events[-2].event_type == EventType.EVENT_TYPE_TIMER_STARTED
    assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED
    assert events[-1].workflow_execution_terminated_event_attributes.identity == "history-service"
    if limited_server.kind == "perdure":  # the timer that found the limit is not retried
        assert "Traceback" not in limited_server.log()


async def test_a_history_over_its_size_is_terminated(limited_server: ServerProcess) -> None:
    accepted, refusal, events = await _signal_until_refused(
        await _client(limited_server), "x" * 1000
    )
    assert refusal.status == RPCStatusCode.INVALID_ARGUMENT
    assert refusal.message == "Workflow history size exceeds limit."
    assert sum(e.ByteSize() for e in events[:-1]) > SIZE_LIMIT
    assert sum(e.ByteSize() for e in events[:-2]) <= SIZE_LIMIT
    assert len(events) == accepted + 3
    attrs = events[-1].workflow_execution_terminated_event_attributes
    assert (attrs.reason, attrs.identity) == (
        "Workflow history size exceeds limit.",
        "history-service",
    )


async def test_a_payload_over_the_blob_size_limit_is_refused(
    limited_server: ServerProcess,
) -> None:
    client = await _client(limited_server)
    with pytest.raises(RPCError) as info:
        await client.start_workflow(
            "Nothing", "x" * 2000, id=f"lim-{uuid.uuid4().hex[:8]}", task_queue="x"
        )
    assert info.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert info.value.message == "Blob data size exceeds limit."
    handle = await client.start_workflow(
        "Nothing", "x" * 1000, id=f"lim-{uuid.uuid4().hex[:8]}", task_queue="x"
    )
    with pytest.raises(RPCError) as info:
        await handle.signal("s", "y" * 2000)
    assert info.value.message == "Blob data size exceeds limit."
    await handle.terminate()


async def test_a_namespace_over_its_request_rate_is_refused(limited_server: ServerProcess) -> None:
    client = await _client(limited_server)
    await asyncio.sleep(2 * RPS)  # a full bucket: RPS * the burst ratio (2)
    refused: list[tuple[int, RPCError]] = []
    for i in range(4 * RPS + 4):
        try:
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace="limits"), retry=False
            )
        except RPCError as err:
            refused.append((i, err))
    assert refused, "no request was refused"
    first, err = refused[0]
    assert first >= 2 * RPS  # the burst got through
    assert err.status == RPCStatusCode.RESOURCE_EXHAUSTED
    assert err.message == "namespace rate limit exceeded"
    detail = ResourceExhaustedFailure()
    assert err.grpc_status.details[0].Unpack(detail)
    assert detail.cause == ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT
    assert detail.scope == ResourceExhaustedScope.RESOURCE_EXHAUSTED_SCOPE_NAMESPACE
