"""System, namespace and worker-lifecycle RPCs."""

from __future__ import annotations

import logging
import time

from temporalio.api.enums.v1 import namespace_pb2 as ns_enums
from temporalio.api.enums.v1 import task_queue_pb2 as tq_enums
from temporalio.api.namespace.v1 import message_pb2 as namespace_pb2
from temporalio.api.taskqueue.v1 import message_pb2 as tq_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import InvalidArgument, ServiceError
from perdure.server.frontend.context import FrontendContext
from perdure.server.frontend.deadline import Deadline
from perdure.server.history.api.reset_sticky_task_queue import move_off_sticky
from perdure.server.matching.queues import POLLER_MEMORY_SECONDS
from perdure.server.namespaces import Namespace, new_namespace
from perdure.server.store.base import ConditionFailed, TaskKind
from perdure.server.store.shared import SharedStore

log = logging.getLogger(__name__)

SERVER_VERSION = "1.32.0"
"""The Temporal server version whose API we implement (clients check it)."""
CLUSTER_NAME = "active"
MIN_RETENTION_SECONDS = 3600
ENHANCED = tq_enums.DESCRIBE_TASK_QUEUE_MODE_ENHANCED
WORKFLOW_TYPE = tq_enums.TASK_QUEUE_TYPE_WORKFLOW
ACTIVITY_TYPE = tq_enums.TASK_QUEUE_TYPE_ACTIVITY


def _capabilities() -> rr.GetSystemInfoResponse.Capabilities:
    return rr.GetSystemInfoResponse.Capabilities(
        signal_and_query_header=True,
        internal_error_differentiation=True,
        activity_failure_include_heartbeat=True,
        encoded_failure_attributes=True,
        upsert_memo=True,
        sdk_metadata=True,
        eager_workflow_start=True,
        count_group_by_execution_status=True,
        build_id_based_versioning=True,
        supports_schedules=True,
    )


def namespace_description(ns: Namespace) -> rr.DescribeNamespaceResponse:
    resp = rr.DescribeNamespaceResponse(is_global_namespace=False)
    resp.namespace_info.CopyFrom(ns.info)
    resp.namespace_info.capabilities.CopyFrom(
        namespace_pb2.NamespaceInfo.Capabilities(
            eager_workflow_start=True,
            sync_update=True,
            async_update=True,
            worker_poll_complete_on_shutdown=True,
            worker_heartbeats=True,
        )
    )
    resp.config.CopyFrom(ns.config)
    resp.replication_config.active_cluster_name = CLUSTER_NAME
    resp.replication_config.clusters.add(cluster_name=CLUSTER_NAME)
    return resp


class SystemRpcs(FrontendContext):
    async def GetSystemInfo(
        self, request: rr.GetSystemInfoRequest, deadline: Deadline
    ) -> rr.GetSystemInfoResponse:
        return rr.GetSystemInfoResponse(server_version=SERVER_VERSION, capabilities=_capabilities())

    async def GetClusterInfo(
        self, request: rr.GetClusterInfoRequest, deadline: Deadline
    ) -> rr.GetClusterInfoResponse:
        return rr.GetClusterInfoResponse(
            supported_clients={"temporal-cli": ">=0.0.0", "temporal-python": ">=0.0.0"},
            server_version=SERVER_VERSION,
            cluster_id=self.cluster_id,
            cluster_name=CLUSTER_NAME,
            history_shard_count=1,
            persistence_store="perdure",
            visibility_store="perdure",
        )

    # ------------------------------------------------------------------ namespaces

    async def DescribeNamespace(
        self, request: rr.DescribeNamespaceRequest, deadline: Deadline
    ) -> rr.DescribeNamespaceResponse:
        if request.id:
            ns = await self.namespaces.get_by_id(request.id)
        else:
            ns = await self.namespaces.get(request.namespace)
        return namespace_description(ns)

    async def ListNamespaces(
        self, request: rr.ListNamespacesRequest, deadline: Deadline
    ) -> rr.ListNamespacesResponse:
        all_ns = sorted(await self.namespaces.list(), key=lambda n: n.name)
        if not request.namespace_filter.include_deleted:
            all_ns = [n for n in all_ns if n.active]
        try:
            start = int(request.next_page_token or b"0")
        except ValueError:
            start = len(all_ns)  # a token not ours: an empty page, as Temporal answers
        start = max(start, 0)
        size = request.page_size if request.page_size > 0 else 100
        page = all_ns[start : start + size]
        resp = rr.ListNamespacesResponse(namespaces=[namespace_description(n) for n in page])
        if start + size < len(all_ns):
            resp.next_page_token = str(start + size).encode()
        return resp

    async def RegisterNamespace(
        self, request: rr.RegisterNamespaceRequest, deadline: Deadline
    ) -> rr.RegisterNamespaceResponse:
        if not request.namespace:
            raise InvalidArgument("Namespace is not set on request.")
        if len(request.namespace) > 1000:
            raise InvalidArgument("Namespace length exceeds limit.")
        retention = request.workflow_execution_retention_period.seconds
        if retention and retention < self.min_retention_seconds:
            raise InvalidArgument("WorkflowExecutionRetentionTTL should be at least 1 hour.")
        ns = new_namespace(
            request.namespace,
            retention_seconds=retention or 24 * 3600,
            description=request.description,
            owner_email=request.owner_email,
            data=dict(request.data),
        )
        await self.namespaces.create(ns)
        return rr.RegisterNamespaceResponse()

    async def UpdateNamespace(
        self, request: rr.UpdateNamespaceRequest, deadline: Deadline
    ) -> rr.UpdateNamespaceResponse:
        for _ in range(5):
            ns = await self.namespaces.get(request.namespace)
            info = namespace_pb2.NamespaceInfo()
            info.CopyFrom(ns.info)
            config = namespace_pb2.NamespaceConfig()
            config.CopyFrom(ns.config)
            if request.HasField("update_info"):
                upd = request.update_info
                if upd.description:
                    info.description = upd.description
                if upd.owner_email:
                    info.owner_email = upd.owner_email
                for key, value in upd.data.items():
                    info.data[key] = value
                if upd.state != ns_enums.NAMESPACE_STATE_UNSPECIFIED:
                    info.state = upd.state
            if request.HasField("config"):
                cfg = request.config
                if cfg.HasField("workflow_execution_retention_ttl"):
                    if cfg.workflow_execution_retention_ttl.seconds < self.min_retention_seconds:
                        raise InvalidArgument(
                            "WorkflowExecutionRetentionTTL should be at least 1 hour."
                        )
                    config.workflow_execution_retention_ttl.CopyFrom(
                        cfg.workflow_execution_retention_ttl
                    )
                if cfg.HasField("bad_binaries"):
                    config.bad_binaries.CopyFrom(cfg.bad_binaries)
            updated = Namespace(ns.id, ns.name, info, config, ns.version + 1)
            try:
                await self.namespaces.update(updated, ns.version)
            except ConditionFailed:
                continue
            desc = namespace_description(updated)
            return rr.UpdateNamespaceResponse(
                namespace_info=desc.namespace_info,
                config=desc.config,
                replication_config=desc.replication_config,
                is_global_namespace=False,
            )
        raise ServiceError("namespace changed concurrently; try again")

    # ------------------------------------------------------------------ workers

    async def DescribeTaskQueue(
        self, request: rr.DescribeTaskQueueRequest, deadline: Deadline
    ) -> rr.DescribeTaskQueueResponse:
        ns = await self.namespaces.get(request.namespace)
        if not request.task_queue.name:
            raise InvalidArgument("TaskQueue is not set on request.")
        name = request.task_queue.name
        resp = rr.DescribeTaskQueueResponse()
        if request.api_mode == ENHANCED:
            # What `temporal task-queue describe` asks for: per type, under the
            # unversioned entry ("") since Perdure has no worker versioning.
            types = [
                t for t in request.task_queue_types if t in (WORKFLOW_TYPE, ACTIVITY_TYPE)
            ] or [WORKFLOW_TYPE, ACTIVITY_TYPE]
            version = resp.versions_info[""]
            for tq_type in types:
                info = version.types_info[tq_type]
                kind = TaskKind(tq_type)
                if request.report_pollers:
                    info.pollers.extend(await self._pollers(ns, name, kind))
                if request.report_stats:
                    info.stats.CopyFrom(await self._queue_stats(ns, name, kind))
            return resp
        kind = TaskKind.ACTIVITY if request.task_queue_type == ACTIVITY_TYPE else TaskKind.WORKFLOW
        resp.pollers.extend(await self._pollers(ns, name, kind))
        if request.report_stats:
            resp.stats.CopyFrom(await self._queue_stats(ns, name, kind))
        if request.include_task_queue_status:
            stats = await self.store.task_queue_stats(ns.id, name, kind)
            resp.task_queue_status.CopyFrom(
                tq_pb2.TaskQueueStatus(backlog_count_hint=stats.backlog_count)
            )
        return resp

    async def _pollers(self, ns: Namespace, name: str, kind: TaskKind) -> list[tq_pb2.PollerInfo]:
        """This process's pollers, and on a shared database those of the others too."""
        seen: dict[str, int] = {}
        if isinstance(self.store, SharedStore):
            since = time.time_ns() - int(POLLER_MEMORY_SECONDS * 1e9)
            for row in await self.store.get_pollers(ns.id, name, kind, since):
                seen[row.identity] = row.last_access
        queue = self.matching.find(ns.id, name, kind)
        if queue is not None:
            now_wall = time.time()
            now_mono = time.monotonic()
            for poller in queue.pollers.values():
                at = int((now_wall - (now_mono - poller.last_access)) * 1e9)
                seen[poller.identity] = max(at, seen.get(poller.identity, 0))
        out = []
        for identity, at in seen.items():
            info = tq_pb2.PollerInfo(identity=identity)
            info.last_access_time.FromNanoseconds(at)
            out.append(info)
        return out

    async def _queue_stats(self, ns: Namespace, name: str, kind: TaskKind) -> tq_pb2.TaskQueueStats:
        stats = await self.store.task_queue_stats(ns.id, name, kind)
        out = tq_pb2.TaskQueueStats(approximate_backlog_count=stats.backlog_count)
        if stats.oldest_created_time is not None:
            age = max(time.time_ns() - stats.oldest_created_time, 0)
            out.approximate_backlog_age.FromNanoseconds(age)
        else:
            out.approximate_backlog_age.FromNanoseconds(0)
        return out

    async def ShutdownWorker(
        self, request: rr.ShutdownWorkerRequest, deadline: Deadline
    ) -> rr.ShutdownWorkerResponse:
        ns = await self.namespaces.get(request.namespace)
        if request.HasField("worker_heartbeat"):
            self.workers.record(ns.id, [request.worker_heartbeat])
        if request.worker_instance_key:
            self.matching.release_worker(ns.id, request.worker_instance_key)
            if isinstance(self.store, SharedStore):  # its polls may wait in other processes
                self.store.announce_worker_left(ns.id, request.worker_instance_key)
        if request.sticky_task_queue:
            for row in self.matching.close_sticky(ns.id, request.sticky_task_queue):
                await move_off_sticky(self.history, ns, row.workflow_id, row.run_id)
        return rr.ShutdownWorkerResponse()

    async def RecordWorkerHeartbeat(
        self, request: rr.RecordWorkerHeartbeatRequest, deadline: Deadline
    ) -> rr.RecordWorkerHeartbeatResponse:
        ns = await self.namespaces.get(request.namespace)
        self.workers.record(ns.id, list(request.worker_heartbeat))
        return rr.RecordWorkerHeartbeatResponse()
