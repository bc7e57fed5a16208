"""The RPCs of Temporal's API that Perdure's server does not serve, each answering
UNIMPLEMENTED with a message naming the feature (not gRPC's bare "Method not found!").

Every WorkflowService and OperatorService method without a handler elsewhere must be in
`UNSUPPORTED`; tests/server/frontend/test_unsupported.py checks that nothing is missed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from google.protobuf.message import Message

from perdure.server.errors import Unimplemented
from perdure.server.frontend.deadline import Deadline

_NEXUS = "Nexus"
_DEPLOYMENTS = "worker deployments"
_BUILD_ID_RULES = "worker versioning by build id rules"
_STANDALONE_ACTIVITIES = "standalone activities"

UNSUPPORTED: dict[str, str] = {
    **dict.fromkeys(
        [
            "PollNexusTaskQueue", "RespondNexusTaskCompleted", "RespondNexusTaskFailed",
            "StartNexusOperationExecution", "DescribeNexusOperationExecution",
            "PollNexusOperationExecution", "ListNexusOperationExecutions",
            "CountNexusOperationExecutions", "RequestCancelNexusOperationExecution",
            "TerminateNexusOperationExecution", "DeleteNexusOperationExecution",
            "GetNexusEndpoint", "CreateNexusEndpoint", "UpdateNexusEndpoint",
            "DeleteNexusEndpoint", "ListNexusEndpoints",
        ],
        _NEXUS,
    ),
    **dict.fromkeys(
        [
            "DescribeDeployment", "DescribeWorkerDeploymentVersion", "DescribeWorkerDeployment",
            "ListDeployments", "SetCurrentDeployment", "SetWorkerDeploymentCurrentVersion",
            "SetWorkerDeploymentRampingVersion", "CreateWorkerDeployment",
            "ListWorkerDeployments", "CreateWorkerDeploymentVersion",
            "DeleteWorkerDeploymentVersion", "DeleteWorkerDeployment",
            "UpdateWorkerDeploymentVersionComputeConfig",
            "ValidateWorkerDeploymentVersionComputeConfig",
            "UpdateWorkerDeploymentVersionMetadata", "SetWorkerDeploymentManager",
            "GetCurrentDeployment", "GetDeploymentReachability",
            "UpdateWorkflowExecutionOptions",
        ],
        _DEPLOYMENTS,
    ),
    **dict.fromkeys(
        [
            "UpdateWorkerBuildIdCompatibility", "GetWorkerBuildIdCompatibility",
            "UpdateWorkerVersioningRules", "GetWorkerVersioningRules",
            "GetWorkerTaskReachability",
        ],
        _BUILD_ID_RULES,
    ),
    **dict.fromkeys(
        [
            "StartActivityExecution", "DescribeActivityExecution", "PollActivityExecution",
            "ListActivityExecutions", "CountActivityExecutions",
            "RequestCancelActivityExecution", "TerminateActivityExecution",
            "DeleteActivityExecution",
        ],
        _STANDALONE_ACTIVITIES,
    ),
    **dict.fromkeys(
        ["CreateWorkflowRule", "DescribeWorkflowRule", "DeleteWorkflowRule",
         "ListWorkflowRules", "TriggerWorkflowRule"],
        "workflow rules",
    ),
    **dict.fromkeys(
        ["AddOrUpdateRemoteCluster", "RemoveRemoteCluster"], "multi-cluster replication"
    ),
    **dict.fromkeys(["FetchWorkerConfig", "UpdateWorkerConfig"], "remote worker configuration"),
    **dict.fromkeys(["PauseWorkflowExecution", "UnpauseWorkflowExecution"], "workflow pause"),
    "ListArchivedWorkflowExecutions": "archival",
    "ListTaskQueuePartitions": "task queue partitions",
    "UpdateTaskQueueConfig": "task queue configuration",
    "DeprecateNamespace": "namespace deprecation",
    "PollWorkflowExecutionTimeSkipping": "time skipping outside the test server",
}  # fmt: skip
"""RPC name -> the feature it belongs to."""


def unsupported_message(method: str) -> str:
    return f"{method} is not supported by the Perdure server ({UNSUPPORTED[method]})"


def _handler(method: str) -> Callable[[object, Message, Deadline], Awaitable[Message]]:
    async def unsupported(self: object, request: Message, deadline: Deadline) -> Message:
        raise Unimplemented(unsupported_message(method))

    unsupported.__name__ = method
    return unsupported


class UnsupportedRpcs:
    """One handler per name in `UNSUPPORTED` (set below), so that the gRPC adapter and
    the embedded transport answer them alike."""


for _method in UNSUPPORTED:
    setattr(UnsupportedRpcs, _method, _handler(_method))
