"""OperatorService.ListClusters (`temporal operator cluster list`): the one cluster a
Perdure server (or group of processes on one database) is, as GetClusterInfo names it."""

from __future__ import annotations

from temporalio.api.operatorservice.v1 import request_response_pb2 as op_rr

from perdure.server.frontend.context import FrontendContext
from perdure.server.frontend.deadline import Deadline
from perdure.server.frontend.system import CLUSTER_NAME


class ClusterRpcs(FrontendContext):
    async def ListClusters(
        self, request: op_rr.ListClustersRequest, deadline: Deadline
    ) -> op_rr.ListClustersResponse:
        cluster = op_rr.ClusterMetadata(
            cluster_name=CLUSTER_NAME,
            cluster_id=self.cluster_id,
            initial_failover_version=1,
            history_shard_count=1,
            is_connection_enabled=True,
        )
        return op_rr.ListClustersResponse(clusters=[cluster])
