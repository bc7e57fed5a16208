"""One typed async method per RPC of WorkflowService, OperatorService and TestService.

Each method takes the request proto and returns the response proto; the actual call is
``ServiceClient._rpc_call(rpc_name, request, response_type, service=..., ...)``, so a
transport (gRPC, or the in-process embedded server) implements that one method and
gets every RPC. Method names are the RPC names in snake_case, as temporalio's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, overload

from google.protobuf import empty_pb2
from google.protobuf.message import Message
from temporalio.api.operatorservice.v1 import request_response_pb2 as ops
from temporalio.api.testservice.v1 import request_response_pb2 as ts
from temporalio.api.workflowservice.v1 import request_response_pb2 as ws

if TYPE_CHECKING:
    from perdure.service._client import ServiceClient

ReqT = TypeVar("ReqT", bound=Message)
RespT = TypeVar("RespT", bound=Message)
_ReqContra = TypeVar("_ReqContra", bound=Message, contravariant=True)
_RespCo = TypeVar("_RespCo", bound=Message, covariant=True)

_NO_METADATA: Mapping[str, str | bytes] = MappingProxyType({})


class RpcMethod(Protocol[_ReqContra, _RespCo]):
    """The signature of every RPC method."""

    def __call__(
        self,
        req: _ReqContra,
        retry: bool = False,
        metadata: Mapping[str, str | bytes] = _NO_METADATA,
        timeout: timedelta | None = None,
    ) -> Awaitable[_RespCo]:
        """Call the RPC: ``retry`` retries transient failures with backoff,
        ``metadata`` adds headers, ``timeout`` bounds the call.
        """
        ...


class _Rpc(Generic[ReqT, RespT]):
    """Declares one RPC on a service class; accessed on an instance it is the bound call."""

    def __init__(self, request_type: type[ReqT], response_type: type[RespT]) -> None:
        self.request_type = request_type
        self.response_type = response_type
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> _Rpc[ReqT, RespT]: ...

    @overload
    def __get__(self, obj: _Service, owner: type) -> RpcMethod[ReqT, RespT]: ...

    def __get__(self, obj: _Service | None, owner: type) -> Any:
        if obj is None:
            return self
        client, service, name, response_type = (
            obj._client,
            obj._service,
            self.name,
            self.response_type,
        )

        async def call(
            req: ReqT,
            retry: bool = False,
            metadata: Mapping[str, str | bytes] = _NO_METADATA,
            timeout: timedelta | None = None,
        ) -> RespT:
            return await client._rpc_call(
                name,
                req,
                response_type,
                service=service,
                retry=retry,
                metadata=metadata,
                timeout=timeout,
            )

        metrics = client.request_metrics
        if metrics is not None:
            operation = self.request_type.__name__.removesuffix("Request")
            plain = call

            async def call(
                req: ReqT,
                retry: bool = False,
                metadata: Mapping[str, str | bytes] = _NO_METADATA,
                timeout: timedelta | None = None,
            ) -> RespT:
                return await metrics.measure(
                    operation, req, lambda: plain(req, retry, metadata, timeout)
                )

        call.__name__ = call.__qualname__ = name
        obj.__dict__[name] = call  # cache: later lookups skip the descriptor
        return call


def _rpc(request_type: type[ReqT], response_type: type[RespT]) -> _Rpc[ReqT, RespT]:
    return _Rpc(request_type, response_type)


class _Service:
    """A set of RPCs sent through one :py:class:`ServiceClient`."""

    _service: str = ""
    """The service's short name, passed to ``_rpc_call``."""
    grpc_name: str = ""
    """The fully qualified gRPC service name."""

    def __init__(self, client: ServiceClient) -> None:
        """Bind the service's RPCs to ``client``."""
        self._client = client

    @classmethod
    def rpcs(cls) -> dict[str, _Rpc[Any, Any]]:
        """Every RPC of the service, by method name."""
        return {
            name: value
            for klass in reversed(cls.__mro__)
            for name, value in vars(klass).items()
            if isinstance(value, _Rpc)
        }


class WorkflowService(_Service):
    """The Temporal server's workflow service: what clients and workers call."""

    _service = "workflow"
    grpc_name = "temporal.api.workflowservice.v1.WorkflowService"

    count_activity_executions = _rpc(
        ws.CountActivityExecutionsRequest, ws.CountActivityExecutionsResponse
    )
    count_nexus_operation_executions = _rpc(
        ws.CountNexusOperationExecutionsRequest, ws.CountNexusOperationExecutionsResponse
    )
    count_schedules = _rpc(ws.CountSchedulesRequest, ws.CountSchedulesResponse)
    count_workers = _rpc(ws.CountWorkersRequest, ws.CountWorkersResponse)
    count_workflow_executions = _rpc(
        ws.CountWorkflowExecutionsRequest, ws.CountWorkflowExecutionsResponse
    )
    create_schedule = _rpc(ws.CreateScheduleRequest, ws.CreateScheduleResponse)
    create_worker_deployment = _rpc(
        ws.CreateWorkerDeploymentRequest, ws.CreateWorkerDeploymentResponse
    )
    create_worker_deployment_version = _rpc(
        ws.CreateWorkerDeploymentVersionRequest, ws.CreateWorkerDeploymentVersionResponse
    )
    create_workflow_rule = _rpc(ws.CreateWorkflowRuleRequest, ws.CreateWorkflowRuleResponse)
    delete_activity_execution = _rpc(
        ws.DeleteActivityExecutionRequest, ws.DeleteActivityExecutionResponse
    )
    delete_nexus_operation_execution = _rpc(
        ws.DeleteNexusOperationExecutionRequest, ws.DeleteNexusOperationExecutionResponse
    )
    delete_schedule = _rpc(ws.DeleteScheduleRequest, ws.DeleteScheduleResponse)
    delete_worker_deployment = _rpc(
        ws.DeleteWorkerDeploymentRequest, ws.DeleteWorkerDeploymentResponse
    )
    delete_worker_deployment_version = _rpc(
        ws.DeleteWorkerDeploymentVersionRequest, ws.DeleteWorkerDeploymentVersionResponse
    )
    delete_workflow_execution = _rpc(
        ws.DeleteWorkflowExecutionRequest, ws.DeleteWorkflowExecutionResponse
    )
    delete_workflow_rule = _rpc(ws.DeleteWorkflowRuleRequest, ws.DeleteWorkflowRuleResponse)
    deprecate_namespace = _rpc(ws.DeprecateNamespaceRequest, ws.DeprecateNamespaceResponse)
    describe_activity_execution = _rpc(
        ws.DescribeActivityExecutionRequest, ws.DescribeActivityExecutionResponse
    )
    describe_batch_operation = _rpc(
        ws.DescribeBatchOperationRequest, ws.DescribeBatchOperationResponse
    )
    describe_deployment = _rpc(ws.DescribeDeploymentRequest, ws.DescribeDeploymentResponse)
    describe_namespace = _rpc(ws.DescribeNamespaceRequest, ws.DescribeNamespaceResponse)
    describe_nexus_operation_execution = _rpc(
        ws.DescribeNexusOperationExecutionRequest, ws.DescribeNexusOperationExecutionResponse
    )
    describe_schedule = _rpc(ws.DescribeScheduleRequest, ws.DescribeScheduleResponse)
    describe_task_queue = _rpc(ws.DescribeTaskQueueRequest, ws.DescribeTaskQueueResponse)
    describe_worker = _rpc(ws.DescribeWorkerRequest, ws.DescribeWorkerResponse)
    describe_worker_deployment = _rpc(
        ws.DescribeWorkerDeploymentRequest, ws.DescribeWorkerDeploymentResponse
    )
    describe_worker_deployment_version = _rpc(
        ws.DescribeWorkerDeploymentVersionRequest, ws.DescribeWorkerDeploymentVersionResponse
    )
    describe_workflow_execution = _rpc(
        ws.DescribeWorkflowExecutionRequest, ws.DescribeWorkflowExecutionResponse
    )
    describe_workflow_rule = _rpc(ws.DescribeWorkflowRuleRequest, ws.DescribeWorkflowRuleResponse)
    execute_multi_operation = _rpc(
        ws.ExecuteMultiOperationRequest, ws.ExecuteMultiOperationResponse
    )
    fetch_worker_config = _rpc(ws.FetchWorkerConfigRequest, ws.FetchWorkerConfigResponse)
    get_cluster_info = _rpc(ws.GetClusterInfoRequest, ws.GetClusterInfoResponse)
    get_current_deployment = _rpc(ws.GetCurrentDeploymentRequest, ws.GetCurrentDeploymentResponse)
    get_deployment_reachability = _rpc(
        ws.GetDeploymentReachabilityRequest, ws.GetDeploymentReachabilityResponse
    )
    get_search_attributes = _rpc(ws.GetSearchAttributesRequest, ws.GetSearchAttributesResponse)
    get_system_info = _rpc(ws.GetSystemInfoRequest, ws.GetSystemInfoResponse)
    get_worker_build_id_compatibility = _rpc(
        ws.GetWorkerBuildIdCompatibilityRequest, ws.GetWorkerBuildIdCompatibilityResponse
    )
    get_worker_task_reachability = _rpc(
        ws.GetWorkerTaskReachabilityRequest, ws.GetWorkerTaskReachabilityResponse
    )
    get_worker_versioning_rules = _rpc(
        ws.GetWorkerVersioningRulesRequest, ws.GetWorkerVersioningRulesResponse
    )
    get_workflow_execution_history = _rpc(
        ws.GetWorkflowExecutionHistoryRequest, ws.GetWorkflowExecutionHistoryResponse
    )
    get_workflow_execution_history_reverse = _rpc(
        ws.GetWorkflowExecutionHistoryReverseRequest, ws.GetWorkflowExecutionHistoryReverseResponse
    )
    list_activity_executions = _rpc(
        ws.ListActivityExecutionsRequest, ws.ListActivityExecutionsResponse
    )
    list_archived_workflow_executions = _rpc(
        ws.ListArchivedWorkflowExecutionsRequest, ws.ListArchivedWorkflowExecutionsResponse
    )
    list_batch_operations = _rpc(ws.ListBatchOperationsRequest, ws.ListBatchOperationsResponse)
    list_closed_workflow_executions = _rpc(
        ws.ListClosedWorkflowExecutionsRequest, ws.ListClosedWorkflowExecutionsResponse
    )
    list_deployments = _rpc(ws.ListDeploymentsRequest, ws.ListDeploymentsResponse)
    list_namespaces = _rpc(ws.ListNamespacesRequest, ws.ListNamespacesResponse)
    list_nexus_operation_executions = _rpc(
        ws.ListNexusOperationExecutionsRequest, ws.ListNexusOperationExecutionsResponse
    )
    list_open_workflow_executions = _rpc(
        ws.ListOpenWorkflowExecutionsRequest, ws.ListOpenWorkflowExecutionsResponse
    )
    list_schedule_matching_times = _rpc(
        ws.ListScheduleMatchingTimesRequest, ws.ListScheduleMatchingTimesResponse
    )
    list_schedules = _rpc(ws.ListSchedulesRequest, ws.ListSchedulesResponse)
    list_task_queue_partitions = _rpc(
        ws.ListTaskQueuePartitionsRequest, ws.ListTaskQueuePartitionsResponse
    )
    list_worker_deployments = _rpc(
        ws.ListWorkerDeploymentsRequest, ws.ListWorkerDeploymentsResponse
    )
    list_workers = _rpc(ws.ListWorkersRequest, ws.ListWorkersResponse)
    list_workflow_executions = _rpc(
        ws.ListWorkflowExecutionsRequest, ws.ListWorkflowExecutionsResponse
    )
    list_workflow_rules = _rpc(ws.ListWorkflowRulesRequest, ws.ListWorkflowRulesResponse)
    patch_schedule = _rpc(ws.PatchScheduleRequest, ws.PatchScheduleResponse)
    pause_activity = _rpc(ws.PauseActivityRequest, ws.PauseActivityResponse)
    pause_activity_execution = _rpc(
        ws.PauseActivityExecutionRequest, ws.PauseActivityExecutionResponse
    )
    pause_workflow_execution = _rpc(
        ws.PauseWorkflowExecutionRequest, ws.PauseWorkflowExecutionResponse
    )
    poll_activity_execution = _rpc(
        ws.PollActivityExecutionRequest, ws.PollActivityExecutionResponse
    )
    poll_activity_task_queue = _rpc(
        ws.PollActivityTaskQueueRequest, ws.PollActivityTaskQueueResponse
    )
    poll_nexus_operation_execution = _rpc(
        ws.PollNexusOperationExecutionRequest, ws.PollNexusOperationExecutionResponse
    )
    poll_nexus_task_queue = _rpc(ws.PollNexusTaskQueueRequest, ws.PollNexusTaskQueueResponse)
    poll_workflow_execution_time_skipping = _rpc(
        ws.PollWorkflowExecutionTimeSkippingRequest, ws.PollWorkflowExecutionTimeSkippingResponse
    )
    poll_workflow_execution_update = _rpc(
        ws.PollWorkflowExecutionUpdateRequest, ws.PollWorkflowExecutionUpdateResponse
    )
    poll_workflow_task_queue = _rpc(
        ws.PollWorkflowTaskQueueRequest, ws.PollWorkflowTaskQueueResponse
    )
    query_workflow = _rpc(ws.QueryWorkflowRequest, ws.QueryWorkflowResponse)
    record_activity_task_heartbeat = _rpc(
        ws.RecordActivityTaskHeartbeatRequest, ws.RecordActivityTaskHeartbeatResponse
    )
    record_activity_task_heartbeat_by_id = _rpc(
        ws.RecordActivityTaskHeartbeatByIdRequest, ws.RecordActivityTaskHeartbeatByIdResponse
    )
    record_worker_heartbeat = _rpc(
        ws.RecordWorkerHeartbeatRequest, ws.RecordWorkerHeartbeatResponse
    )
    register_namespace = _rpc(ws.RegisterNamespaceRequest, ws.RegisterNamespaceResponse)
    request_cancel_activity_execution = _rpc(
        ws.RequestCancelActivityExecutionRequest, ws.RequestCancelActivityExecutionResponse
    )
    request_cancel_nexus_operation_execution = _rpc(
        ws.RequestCancelNexusOperationExecutionRequest,
        ws.RequestCancelNexusOperationExecutionResponse,
    )
    request_cancel_workflow_execution = _rpc(
        ws.RequestCancelWorkflowExecutionRequest, ws.RequestCancelWorkflowExecutionResponse
    )
    reset_activity = _rpc(ws.ResetActivityRequest, ws.ResetActivityResponse)
    reset_activity_execution = _rpc(
        ws.ResetActivityExecutionRequest, ws.ResetActivityExecutionResponse
    )
    reset_sticky_task_queue = _rpc(ws.ResetStickyTaskQueueRequest, ws.ResetStickyTaskQueueResponse)
    reset_workflow_execution = _rpc(
        ws.ResetWorkflowExecutionRequest, ws.ResetWorkflowExecutionResponse
    )
    respond_activity_task_canceled = _rpc(
        ws.RespondActivityTaskCanceledRequest, ws.RespondActivityTaskCanceledResponse
    )
    respond_activity_task_canceled_by_id = _rpc(
        ws.RespondActivityTaskCanceledByIdRequest, ws.RespondActivityTaskCanceledByIdResponse
    )
    respond_activity_task_completed = _rpc(
        ws.RespondActivityTaskCompletedRequest, ws.RespondActivityTaskCompletedResponse
    )
    respond_activity_task_completed_by_id = _rpc(
        ws.RespondActivityTaskCompletedByIdRequest, ws.RespondActivityTaskCompletedByIdResponse
    )
    respond_activity_task_failed = _rpc(
        ws.RespondActivityTaskFailedRequest, ws.RespondActivityTaskFailedResponse
    )
    respond_activity_task_failed_by_id = _rpc(
        ws.RespondActivityTaskFailedByIdRequest, ws.RespondActivityTaskFailedByIdResponse
    )
    respond_nexus_task_completed = _rpc(
        ws.RespondNexusTaskCompletedRequest, ws.RespondNexusTaskCompletedResponse
    )
    respond_nexus_task_failed = _rpc(
        ws.RespondNexusTaskFailedRequest, ws.RespondNexusTaskFailedResponse
    )
    respond_query_task_completed = _rpc(
        ws.RespondQueryTaskCompletedRequest, ws.RespondQueryTaskCompletedResponse
    )
    respond_workflow_task_completed = _rpc(
        ws.RespondWorkflowTaskCompletedRequest, ws.RespondWorkflowTaskCompletedResponse
    )
    respond_workflow_task_failed = _rpc(
        ws.RespondWorkflowTaskFailedRequest, ws.RespondWorkflowTaskFailedResponse
    )
    scan_workflow_executions = _rpc(
        ws.ScanWorkflowExecutionsRequest, ws.ScanWorkflowExecutionsResponse
    )
    set_current_deployment = _rpc(ws.SetCurrentDeploymentRequest, ws.SetCurrentDeploymentResponse)
    set_worker_deployment_current_version = _rpc(
        ws.SetWorkerDeploymentCurrentVersionRequest, ws.SetWorkerDeploymentCurrentVersionResponse
    )
    set_worker_deployment_manager = _rpc(
        ws.SetWorkerDeploymentManagerRequest, ws.SetWorkerDeploymentManagerResponse
    )
    set_worker_deployment_ramping_version = _rpc(
        ws.SetWorkerDeploymentRampingVersionRequest, ws.SetWorkerDeploymentRampingVersionResponse
    )
    shutdown_worker = _rpc(ws.ShutdownWorkerRequest, ws.ShutdownWorkerResponse)
    signal_with_start_workflow_execution = _rpc(
        ws.SignalWithStartWorkflowExecutionRequest, ws.SignalWithStartWorkflowExecutionResponse
    )
    signal_workflow_execution = _rpc(
        ws.SignalWorkflowExecutionRequest, ws.SignalWorkflowExecutionResponse
    )
    start_activity_execution = _rpc(
        ws.StartActivityExecutionRequest, ws.StartActivityExecutionResponse
    )
    start_batch_operation = _rpc(ws.StartBatchOperationRequest, ws.StartBatchOperationResponse)
    start_nexus_operation_execution = _rpc(
        ws.StartNexusOperationExecutionRequest, ws.StartNexusOperationExecutionResponse
    )
    start_workflow_execution = _rpc(
        ws.StartWorkflowExecutionRequest, ws.StartWorkflowExecutionResponse
    )
    stop_batch_operation = _rpc(ws.StopBatchOperationRequest, ws.StopBatchOperationResponse)
    terminate_activity_execution = _rpc(
        ws.TerminateActivityExecutionRequest, ws.TerminateActivityExecutionResponse
    )
    terminate_nexus_operation_execution = _rpc(
        ws.TerminateNexusOperationExecutionRequest, ws.TerminateNexusOperationExecutionResponse
    )
    terminate_workflow_execution = _rpc(
        ws.TerminateWorkflowExecutionRequest, ws.TerminateWorkflowExecutionResponse
    )
    trigger_workflow_rule = _rpc(ws.TriggerWorkflowRuleRequest, ws.TriggerWorkflowRuleResponse)
    unpause_activity = _rpc(ws.UnpauseActivityRequest, ws.UnpauseActivityResponse)
    unpause_activity_execution = _rpc(
        ws.UnpauseActivityExecutionRequest, ws.UnpauseActivityExecutionResponse
    )
    unpause_workflow_execution = _rpc(
        ws.UnpauseWorkflowExecutionRequest, ws.UnpauseWorkflowExecutionResponse
    )
    update_activity_execution_options = _rpc(
        ws.UpdateActivityExecutionOptionsRequest, ws.UpdateActivityExecutionOptionsResponse
    )
    update_activity_options = _rpc(
        ws.UpdateActivityOptionsRequest, ws.UpdateActivityOptionsResponse
    )
    update_namespace = _rpc(ws.UpdateNamespaceRequest, ws.UpdateNamespaceResponse)
    update_schedule = _rpc(ws.UpdateScheduleRequest, ws.UpdateScheduleResponse)
    update_task_queue_config = _rpc(
        ws.UpdateTaskQueueConfigRequest, ws.UpdateTaskQueueConfigResponse
    )
    update_worker_build_id_compatibility = _rpc(
        ws.UpdateWorkerBuildIdCompatibilityRequest, ws.UpdateWorkerBuildIdCompatibilityResponse
    )
    update_worker_config = _rpc(ws.UpdateWorkerConfigRequest, ws.UpdateWorkerConfigResponse)
    update_worker_deployment_version_compute_config = _rpc(
        ws.UpdateWorkerDeploymentVersionComputeConfigRequest,
        ws.UpdateWorkerDeploymentVersionComputeConfigResponse,
    )
    update_worker_deployment_version_metadata = _rpc(
        ws.UpdateWorkerDeploymentVersionMetadataRequest,
        ws.UpdateWorkerDeploymentVersionMetadataResponse,
    )
    update_worker_versioning_rules = _rpc(
        ws.UpdateWorkerVersioningRulesRequest, ws.UpdateWorkerVersioningRulesResponse
    )
    update_workflow_execution = _rpc(
        ws.UpdateWorkflowExecutionRequest, ws.UpdateWorkflowExecutionResponse
    )
    update_workflow_execution_options = _rpc(
        ws.UpdateWorkflowExecutionOptionsRequest, ws.UpdateWorkflowExecutionOptionsResponse
    )
    validate_worker_deployment_version_compute_config = _rpc(
        ws.ValidateWorkerDeploymentVersionComputeConfigRequest,
        ws.ValidateWorkerDeploymentVersionComputeConfigResponse,
    )


class OperatorService(_Service):
    """The Temporal server's operator service: namespaces' search attributes, clusters, Nexus."""

    _service = "operator"
    grpc_name = "temporal.api.operatorservice.v1.OperatorService"

    add_or_update_remote_cluster = _rpc(
        ops.AddOrUpdateRemoteClusterRequest, ops.AddOrUpdateRemoteClusterResponse
    )
    add_search_attributes = _rpc(ops.AddSearchAttributesRequest, ops.AddSearchAttributesResponse)
    create_nexus_endpoint = _rpc(ops.CreateNexusEndpointRequest, ops.CreateNexusEndpointResponse)
    delete_namespace = _rpc(ops.DeleteNamespaceRequest, ops.DeleteNamespaceResponse)
    delete_nexus_endpoint = _rpc(ops.DeleteNexusEndpointRequest, ops.DeleteNexusEndpointResponse)
    get_nexus_endpoint = _rpc(ops.GetNexusEndpointRequest, ops.GetNexusEndpointResponse)
    list_clusters = _rpc(ops.ListClustersRequest, ops.ListClustersResponse)
    list_nexus_endpoints = _rpc(ops.ListNexusEndpointsRequest, ops.ListNexusEndpointsResponse)
    list_search_attributes = _rpc(ops.ListSearchAttributesRequest, ops.ListSearchAttributesResponse)
    remove_remote_cluster = _rpc(ops.RemoveRemoteClusterRequest, ops.RemoveRemoteClusterResponse)
    remove_search_attributes = _rpc(
        ops.RemoveSearchAttributesRequest, ops.RemoveSearchAttributesResponse
    )
    update_nexus_endpoint = _rpc(ops.UpdateNexusEndpointRequest, ops.UpdateNexusEndpointResponse)


class TestService(_Service):
    """The Temporal test server's time-skipping service."""

    __test__ = False  # not a pytest test class
    _service = "test"
    grpc_name = "temporal.api.testservice.v1.TestService"

    get_current_time = _rpc(empty_pb2.Empty, ts.GetCurrentTimeResponse)
    sleep_until = _rpc(ts.SleepUntilRequest, ts.SleepResponse)
    unlock_time_skipping_with_sleep = _rpc(ts.SleepRequest, ts.SleepResponse)
    lock_time_skipping = _rpc(ts.LockTimeSkippingRequest, ts.LockTimeSkippingResponse)
    sleep = _rpc(ts.SleepRequest, ts.SleepResponse)
    unlock_time_skipping = _rpc(ts.UnlockTimeSkippingRequest, ts.UnlockTimeSkippingResponse)
