"""Batch operations through the official SDK's service client, same assertions on both
servers. Temporal runs one batch per namespace at a time, so each test waits for its
job to end (and retries a start refused for a job of another test still running)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from google.protobuf.empty_pb2 import Empty
from temporalio.api.batch.v1 import message_pb2 as batch_pb
from temporalio.api.enums.v1 import BatchOperationState, BatchOperationType, EventType
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

pytestmark = pytest.mark.timeout(120)
T = TypeVar("T")
NS = "default"


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 40.0) -> T:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.3)


async def _start_workflows(client: Client, tag: str, n: int) -> list[WorkflowHandle[None, None]]:
    handles = [
        await client.start_workflow("NobodyRunsThis", id=f"{tag}-{i}", task_queue=f"nobody-{tag}")
        for i in range(n)
    ]

    async def visible() -> None:
        count = await client.count_workflows(f"WorkflowId STARTS_WITH '{tag}-'")
        assert count.count == n

    await eventually(visible)
    return handles  # type: ignore[return-value]


async def _start_batch(client: Client, request: rr.StartBatchOperationRequest) -> None:
    """Start, waiting while another test's job holds the namespace's one slot."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        try:
            await client.workflow_service.start_batch_operation(request)
            return
        except RPCError as err:
            if err.status != RPCStatusCode.RESOURCE_EXHAUSTED or loop.time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _finished(client: Client, job_id: str) -> rr.DescribeBatchOperationResponse:
    async def done() -> rr.DescribeBatchOperationResponse:
        d = await client.workflow_service.describe_batch_operation(
            rr.DescribeBatchOperationRequest(namespace=NS, job_id=job_id)
        )
        assert d.state != BatchOperationState.BATCH_OPERATION_STATE_RUNNING
        return d

    return await eventually(done)


async def test_terminate_by_query(official_client: Client) -> None:
    tag = f"bt-{uuid.uuid4().hex[:8]}"
    handles = await _start_workflows(official_client, tag, 3)
    job = f"job-{tag}"
    await _start_batch(
        official_client,
        rr.StartBatchOperationRequest(
            namespace=NS,
            job_id=job,
            reason="cleanup",
            visibility_query=f"WorkflowId STARTS_WITH '{tag}-'",
            termination_operation=batch_pb.BatchOperationTermination(identity="ops"),
        ),
    )
    d = await _finished(official_client, job)
    assert d.state == BatchOperationState.BATCH_OPERATION_STATE_COMPLETED
    assert d.operation_type == BatchOperationType.BATCH_OPERATION_TYPE_TERMINATE_WORKFLOW
    assert (d.total_operation_count, d.complete_operation_count) == (3, 3)
    assert d.failure_operation_count == 0
    assert (d.identity, d.reason) == ("ops", "cleanup")
    assert d.query == f"WorkflowId STARTS_WITH '{tag}-'"
    assert d.close_time.ToNanoseconds() >= d.start_time.ToNanoseconds() > 0
    for h in handles:
        assert (await h.describe()).status == WorkflowExecutionStatus.TERMINATED

    listed = await official_client.workflow_service.list_batch_operations(
        rr.ListBatchOperationsRequest(namespace=NS)
    )
    mine = [i for i in listed.operation_info if i.job_id == job]
    assert len(mine) == 1
    assert mine[0].state == BatchOperationState.BATCH_OPERATION_STATE_COMPLETED
    # The batch itself is no workflow of the namespace's listings.
    assert not [w async for w in official_client.list_workflows(f"WorkflowId = '{job}'")]


async def test_signal_and_cancel_listed_executions(official_client: Client) -> None:
    tag = f"bs-{uuid.uuid4().hex[:8]}"
    handles = await _start_workflows(official_client, tag, 2)
    executions = [{"workflow_id": h.id, "run_id": h.result_run_id or ""} for h in handles]
    payloads = await DataConverter.default.encode(["hello"])
    signal = batch_pb.BatchOperationSignal(signal="poke", identity="ops")
    signal.input.payloads.extend(payloads)
    for n, op in enumerate(("signal", "cancel")):
        job = f"job-{tag}-{op}"
        request = rr.StartBatchOperationRequest(
            namespace=NS, job_id=job, reason=op, executions=executions
        )
        if op == "signal":
            request.signal_operation.CopyFrom(signal)
        else:
            request.cancellation_operation.identity = "ops"
        await _start_batch(official_client, request)
        d = await _finished(official_client, job)
        assert d.complete_operation_count == 2, (op, n)
        expected = (
            BatchOperationType.BATCH_OPERATION_TYPE_SIGNAL_WORKFLOW
            if op == "signal"
            else BatchOperationType.BATCH_OPERATION_TYPE_CANCEL_WORKFLOW
        )
        assert d.operation_type == expected
    for h in handles:
        events = [e async for e in h.fetch_history_events()]
        signalled = [
            e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        ]
        assert len(signalled) == 1
        attrs = signalled[0].workflow_execution_signaled_event_attributes
        assert attrs.signal_name == "poke"
        assert await DataConverter.default.decode(attrs.input.payloads) == ["hello"]
        assert any(
            e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED for e in events
        )
        await h.terminate("test over")


async def test_delete_by_query(official_client: Client) -> None:
    tag = f"bd-{uuid.uuid4().hex[:8]}"
    handles = await _start_workflows(official_client, tag, 2)
    job = f"job-{tag}"
    await _start_batch(
        official_client,
        rr.StartBatchOperationRequest(
            namespace=NS,
            job_id=job,
            reason="delete",
            visibility_query=f"WorkflowId STARTS_WITH '{tag}-'",
            deletion_operation=batch_pb.BatchOperationDeletion(identity="ops"),
        ),
    )
    d = await _finished(official_client, job)
    assert d.complete_operation_count == 2

    async def gone() -> None:
        for h in handles:
            try:
                await h.describe()
            except RPCError as err:
                assert err.status == RPCStatusCode.NOT_FOUND
            else:
                raise AssertionError(f"{h.id} is still there")

    await eventually(gone)


async def test_stop(official_client: Client) -> None:
    """Stopping a job that has ended is NOT_FOUND; one still running ends as FAILED.

    (The real dev server's jobs finish faster than a stop can reach them; Perdure's
    rate-limited run is stopped midway in test_rate_limit_and_stop_midway.)"""
    tag = f"bp-{uuid.uuid4().hex[:8]}"
    await _start_workflows(official_client, tag, 2)
    job = f"job-{tag}"
    await _start_batch(
        official_client,
        rr.StartBatchOperationRequest(
            namespace=NS,
            job_id=job,
            reason="stop me",
            visibility_query=f"WorkflowId STARTS_WITH '{tag}-'",
            termination_operation=batch_pb.BatchOperationTermination(identity="ops"),
        ),
    )
    d = await _finished(official_client, job)
    assert d.state == BatchOperationState.BATCH_OPERATION_STATE_COMPLETED
    with pytest.raises(RPCError) as err:
        await official_client.workflow_service.stop_batch_operation(
            rr.StopBatchOperationRequest(namespace=NS, job_id=job, reason="late")
        )
    assert err.value.status == RPCStatusCode.NOT_FOUND
    assert err.value.message == "workflow execution already completed"
    with pytest.raises(RPCError) as err:
        await official_client.workflow_service.stop_batch_operation(
            rr.StopBatchOperationRequest(namespace=NS, job_id=f"{job}-none", reason="x")
        )
    assert err.value.status == RPCStatusCode.NOT_FOUND


async def test_rate_limit_and_stop_midway(perdure_client: Client) -> None:
    """Perdure's jobs keep to max_operations_per_second, and a stop ends them midway."""
    client = perdure_client
    tag = f"br-{uuid.uuid4().hex[:8]}"
    handles = await _start_workflows(client, tag, 12)
    job = f"job-{tag}"
    loop = asyncio.get_running_loop()
    started = loop.time()
    await _start_batch(
        client,
        rr.StartBatchOperationRequest(
            namespace=NS,
            job_id=job,
            reason="slow",
            visibility_query=f"WorkflowId STARTS_WITH '{tag}-'",
            max_operations_per_second=4,
            termination_operation=batch_pb.BatchOperationTermination(identity="ops"),
        ),
    )
    await asyncio.sleep(1.5)
    d = await client.workflow_service.describe_batch_operation(
        rr.DescribeBatchOperationRequest(namespace=NS, job_id=job)
    )
    assert d.state == BatchOperationState.BATCH_OPERATION_STATE_RUNNING
    assert d.total_operation_count == 12
    await client.workflow_service.stop_batch_operation(
        rr.StopBatchOperationRequest(namespace=NS, job_id=job, reason="enough")
    )
    elapsed = loop.time() - started
    d = await _finished(client, job)
    assert d.state == BatchOperationState.BATCH_OPERATION_STATE_FAILED
    statuses = [(await h.describe()).status for h in handles]
    done = 12 - statuses.count(WorkflowExecutionStatus.RUNNING)
    assert 1 <= done <= 4 * elapsed + 1
    await asyncio.sleep(1.0)
    assert [(await h.describe()).status for h in handles] == statuses  # nothing after the stop
    for h, status in zip(handles, statuses, strict=True):
        if status == WorkflowExecutionStatus.RUNNING:
            await h.terminate("test over")


async def test_bad_batch_requests(official_client: Client) -> None:
    service = official_client.workflow_service
    term = batch_pb.BatchOperationTermination()
    cases = [
        (
            rr.StartBatchOperationRequest(
                namespace=NS, job_id="j", reason="r", visibility_query="bad (((",
                termination_operation=term,
            ),
            None,
        ),
        (
            rr.StartBatchOperationRequest(
                namespace=NS, reason="r", visibility_query="WorkflowId = 'x'",
                termination_operation=term,
            ),
            "JobId is not set on request.",
        ),
        (
            rr.StartBatchOperationRequest(
                namespace=NS, job_id="j", visibility_query="WorkflowId = 'x'",
                termination_operation=term,
            ),
            "must provide required parameters: BatchType,Reason,Namespace, AND one of"
            " (Query OR Executions OR TargetExecutions)",
        ),
        (
            rr.StartBatchOperationRequest(
                namespace=NS, job_id="j", reason="r", termination_operation=term
            ),
            "must provide required parameters: BatchType,Reason,Namespace, AND one of"
            " (Query OR Executions OR TargetExecutions)",
        ),
    ]  # fmt: skip
    for request, message in cases:
        with pytest.raises(RPCError) as err:
            await service.start_batch_operation(request)
        assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
        if message is not None:
            assert err.value.message == message
    missing = f"nope-{uuid.uuid4().hex[:6]}"
    with pytest.raises(RPCError) as err:
        await service.describe_batch_operation(
            rr.DescribeBatchOperationRequest(namespace=NS, job_id=missing)
        )
    assert err.value.status == RPCStatusCode.NOT_FOUND
    assert err.value.message == f"workflow not found for ID: {missing}"


async def test_reset_to_the_last_workflow_task(official_client: Client, task_queue: str) -> None:
    """Each execution gets a new run from its last completed workflow task."""
    from temporalio.api.common.v1 import ResetOptions
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker

    from tests.e2e.official_workflows import Forever

    tag = f"bz-{uuid.uuid4().hex[:8]}"
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[Forever],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handles = [
            await official_client.start_workflow(
                Forever.run, id=f"{tag}-{i}", task_queue=task_queue
            )
            for i in range(2)
        ]

        async def tasks_done() -> None:
            for h in handles:
                kinds = [e.event_type async for e in h.fetch_history_events()]
                assert EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED in kinds
            count = await official_client.count_workflows(f"WorkflowId STARTS_WITH '{tag}-'")
            assert count.count == 2

        await eventually(tasks_done)
        job = f"job-{tag}"
        reset = batch_pb.BatchOperationReset(
            identity="ops", options=ResetOptions(last_workflow_task=Empty())
        )
        await _start_batch(
            official_client,
            rr.StartBatchOperationRequest(
                namespace=NS,
                job_id=job,
                reason="redo",
                visibility_query=f"WorkflowId STARTS_WITH '{tag}-' AND ExecutionStatus = 'Running'",
                reset_operation=reset,
            ),
        )
        d = await _finished(official_client, job)
        assert d.operation_type == BatchOperationType.BATCH_OPERATION_TYPE_RESET_WORKFLOW
        assert (d.total_operation_count, d.complete_operation_count) == (2, 2)
        for h in handles:
            old = official_client.get_workflow_handle(h.id, run_id=h.result_run_id)
            assert (await old.describe()).status == WorkflowExecutionStatus.TERMINATED
            current = await official_client.get_workflow_handle(h.id).describe()
            assert current.run_id != h.result_run_id
            assert current.status == WorkflowExecutionStatus.RUNNING
            await official_client.get_workflow_handle(h.id).terminate("test over")
