"""ListWorkers, DescribeWorker, CountWorkers: the workers known from their heartbeats
(matching/workers.py), which RecordWorkerHeartbeat and ShutdownWorker (system.py) feed."""

from __future__ import annotations

from temporalio.api.worker.v1 import message_pb2 as worker_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import InvalidArgument
from perdure.server.frontend.context import FrontendContext
from perdure.server.frontend.deadline import Deadline

DEFAULT_PAGE_SIZE = 1000


class WorkerRpcs(FrontendContext):
    async def ListWorkers(
        self, request: rr.ListWorkersRequest, deadline: Deadline
    ) -> rr.ListWorkersResponse:
        ns = await self.namespaces.get(request.namespace)
        found = self.workers.list(ns.id, request.query)
        try:
            start = int(request.next_page_token or b"0")
        except ValueError:
            raise InvalidArgument("Invalid NextPageToken.") from None
        size = request.page_size or DEFAULT_PAGE_SIZE
        page = found[start : start + size]
        resp = rr.ListWorkersResponse(
            workers_info=[worker_pb2.WorkerInfo(worker_heartbeat=h) for h in page]
        )
        if start + size < len(found):
            resp.next_page_token = str(start + size).encode()
        return resp

    async def DescribeWorker(
        self, request: rr.DescribeWorkerRequest, deadline: Deadline
    ) -> rr.DescribeWorkerResponse:
        ns = await self.namespaces.get(request.namespace)
        if not request.worker_instance_key:
            raise InvalidArgument("WorkerInstanceKey is not set on request.")
        heartbeat = self.workers.get(ns.id, request.worker_instance_key)
        return rr.DescribeWorkerResponse(
            worker_info=worker_pb2.WorkerInfo(worker_heartbeat=heartbeat)
        )

    async def CountWorkers(
        self, request: rr.CountWorkersRequest, deadline: Deadline
    ) -> rr.CountWorkersResponse:
        ns = await self.namespaces.get(request.namespace)
        return rr.CountWorkersResponse(count=len(self.workers.list(ns.id, request.query)))
