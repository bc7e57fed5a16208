"""Batch operation RPCs: start, stop, describe, list (the work is server/batch/runner.py)."""

from __future__ import annotations

import base64

from google.protobuf.message import Message
from temporalio.api.batch.v1 import message_pb2 as batch_pb
from temporalio.api.enums.v1 import failed_cause_pb2
from temporalio.api.errordetails.v1 import message_pb2 as details_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.batch import job as jobs
from perdure.server.batch.job import BatchJob
from perdure.server.batch.runner import BatchRunner
from perdure.server.errors import InvalidArgument, NotFound, ResourceExhausted
from perdure.server.frontend.context import FrontendContext
from perdure.server.frontend.deadline import Deadline
from perdure.server.store.base import AlreadyExists as StoreAlreadyExists
from perdure.server.store.base import BatchRecord
from perdure.server.visibility.sql import compile_query

MAX_CONCURRENT_PER_NAMESPACE = 1
"""Temporal's default (frontend.MaxConcurrentBatchOperationPerNamespace)."""
DEFAULT_PAGE_SIZE = 1000
MAX_JOB_ID_LENGTH = 1000


class ConcurrentBatchLimit(ResourceExhausted):
    def __init__(self) -> None:
        super().__init__(
            "Max concurrent batch operations is reached",
            failed_cause_pb2.RESOURCE_EXHAUSTED_CAUSE_CONCURRENT_LIMIT,
        )

    def details(self) -> Message:
        return details_pb.ResourceExhaustedFailure(
            cause=failed_cause_pb2.RESOURCE_EXHAUSTED_CAUSE_CONCURRENT_LIMIT,
            scope=failed_cause_pb2.RESOURCE_EXHAUSTED_SCOPE_NAMESPACE,
        )


class BatchRpcs(FrontendContext):
    batch_runner: BatchRunner
    visibility_dialect: str

    async def StartBatchOperation(
        self, request: rr.StartBatchOperationRequest, deadline: Deadline
    ) -> rr.StartBatchOperationResponse:
        ns = await self.namespaces.get(request.namespace)
        if not request.job_id:
            raise InvalidArgument("JobId is not set on request.")
        if len(request.job_id) > MAX_JOB_ID_LENGTH:
            raise InvalidArgument("JobId exceeds length limit.")
        has_targets = bool(request.visibility_query or request.executions)
        if not request.reason or not has_targets or request.WhichOneof("operation") is None:
            raise InvalidArgument(jobs.REQUIRED)
        if request.target_executions:
            raise InvalidArgument("target_executions are not supported by this server")
        operation = jobs.operation_type(request)
        if request.signal_operation.ByteSize() and not request.signal_operation.signal:
            raise InvalidArgument("SignalName is not set on request.")
        if request.visibility_query:
            compile_query(
                request.visibility_query,
                aliases=ns.search_attribute_aliases,
                dialect=self.visibility_dialect,
            )
        running = await self.store.batches_in_state(
            jobs.RUNNING, ns.id, MAX_CONCURRENT_PER_NAMESPACE
        )
        if len(running) >= MAX_CONCURRENT_PER_NAMESPACE:
            raise ConcurrentBatchLimit()
        now = self.history.clock.now_ns()
        job = BatchJob(
            namespace_id=ns.id,
            job_id=request.job_id,
            request=request,
            operation=operation,
            start_time=now,
            owner=self.batch_runner.owner,
            lease_until=now + 30 * 1_000_000_000,
        )
        record = BatchRecord(ns.id, request.job_id, jobs.RUNNING, now, job.encode())
        try:
            await self.store.create_batch(record)
        except StoreAlreadyExists:
            raise ConcurrentBatchLimit() from None
        self.batch_runner.launch(record)
        return rr.StartBatchOperationResponse()

    async def StopBatchOperation(
        self, request: rr.StopBatchOperationRequest, deadline: Deadline
    ) -> rr.StopBatchOperationResponse:
        ns = await self.namespaces.get(request.namespace)
        if not request.job_id:
            raise InvalidArgument("JobId is not set on request.")
        await self.batch_runner.stop_job(ns.id, request.job_id, request.reason)
        return rr.StopBatchOperationResponse()

    async def DescribeBatchOperation(
        self, request: rr.DescribeBatchOperationRequest, deadline: Deadline
    ) -> rr.DescribeBatchOperationResponse:
        ns = await self.namespaces.get(request.namespace)
        if not request.job_id:
            raise InvalidArgument("JobId is not set on request.")
        record = await self.store.get_batch(ns.id, request.job_id)
        if record is None:
            raise NotFound(f"workflow not found for ID: {request.job_id}")
        job = BatchJob.decode(record.data)
        r = job.request
        resp = rr.DescribeBatchOperationResponse(
            operation_type=job.operation,  # type: ignore[arg-type]
            job_id=job.job_id,
            state=job.state,  # type: ignore[arg-type]
            total_operation_count=job.total,
            complete_operation_count=job.completed,
            failure_operation_count=job.failed,
            identity=jobs.identity_of(r),
            reason=r.reason,
            query=r.visibility_query,
        )
        resp.start_time.FromNanoseconds(job.start_time)
        if job.close_time:
            resp.close_time.FromNanoseconds(job.close_time)
        return resp

    async def ListBatchOperations(
        self, request: rr.ListBatchOperationsRequest, deadline: Deadline
    ) -> rr.ListBatchOperationsResponse:
        ns = await self.namespaces.get(request.namespace)
        size = request.page_size if request.page_size > 0 else DEFAULT_PAGE_SIZE
        before = _parse_token(request.next_page_token) if request.next_page_token else None
        records = await self.store.list_batches(ns.id, before, size + 1)
        resp = rr.ListBatchOperationsResponse()
        for record in records[:size]:
            job = BatchJob.decode(record.data)
            info = batch_pb.BatchOperationInfo(
                job_id=job.job_id,
                state=job.state,  # type: ignore[arg-type]
                operation_type=job.operation,  # type: ignore[arg-type]
            )
            info.start_time.FromNanoseconds(job.start_time)
            if job.close_time:
                info.close_time.FromNanoseconds(job.close_time)
            resp.operation_info.append(info)
        if len(records) > size:
            last = records[size - 1]
            resp.next_page_token = _token(last.start_time, last.job_id)
        return resp


def _token(start_time: int, job_id: str) -> bytes:
    return f"{start_time}:{base64.urlsafe_b64encode(job_id.encode()).decode()}".encode()


def _parse_token(token: bytes) -> tuple[int, str]:
    try:
        start, job = token.decode().split(":", 1)
        return int(start), base64.urlsafe_b64decode(job.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("Invalid NextPageToken") from None
