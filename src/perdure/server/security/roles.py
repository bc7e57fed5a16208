"""Roles and what each RPC needs, as Temporal's authorizer sees them.

Temporal's `permissions` claim grants roles per namespace ("default:read") and across the
cluster ("temporal-system:admin"). Each RPC has a scope (one namespace, or the cluster)
and an access level; a role grants a set of access levels:

    reader  READ
    worker  READ, WORKER           (poll and answer tasks, heartbeat; not start or terminate)
    writer  READ, WORKER, WRITE
    admin   everything, including namespace and search attribute administration

System (cluster) roles apply to every namespace as well, as in Temporal.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.IntFlag):
    """Temporal's role bits (authorization.Role)."""

    NONE = 0
    WORKER = 1
    READER = 2
    WRITER = 4
    ADMIN = 8


ROLE_NAMES = {"read": Role.READER, "write": Role.WRITER, "worker": Role.WORKER, "admin": Role.ADMIN}
"""The role names of Temporal's `permissions` claim ("namespace:read")."""

SYSTEM_NAMESPACE = "temporal-system"
"""The namespace name whose roles are the system (cluster-wide) roles."""


class Access(enum.IntEnum):
    READ = 1
    WORKER = 2
    WRITE = 3
    ADMIN = 4


class Scope(enum.Enum):
    NAMESPACE = "namespace"
    CLUSTER = "cluster"
    NONE = "none"
    """Open to every caller (Temporal's health checks: GetSystemInfo)."""


GRANTS: dict[Role, frozenset[Access]] = {
    Role.READER: frozenset({Access.READ}),
    Role.WORKER: frozenset({Access.READ, Access.WORKER}),
    Role.WRITER: frozenset({Access.READ, Access.WORKER, Access.WRITE}),
    Role.ADMIN: frozenset(Access),
}


def granted(roles: Role) -> frozenset[Access]:
    """Every access level that `roles` (any combination of bits) grants."""
    out: frozenset[Access] = frozenset()
    for role, accesses in GRANTS.items():
        if roles & role:
            out |= accesses
    return out


@dataclass(frozen=True)
class ApiRule:
    scope: Scope
    access: Access


_OPEN = {"GetSystemInfo"}
_CLUSTER = {
    "GetClusterInfo": Access.READ,
    "ListNamespaces": Access.READ,
    "GetSearchAttributes": Access.READ,
    "ListClusters": Access.READ,
    "AddOrUpdateRemoteCluster": Access.ADMIN,
    "RemoveRemoteCluster": Access.ADMIN,
    "CreateNexusEndpoint": Access.ADMIN,
    "UpdateNexusEndpoint": Access.ADMIN,
    "DeleteNexusEndpoint": Access.ADMIN,
    "GetNexusEndpoint": Access.READ,
    "ListNexusEndpoints": Access.READ,
}
_NAMESPACE_ADMIN = {
    "RegisterNamespace",
    "UpdateNamespace",
    "DeprecateNamespace",
    "DeleteNamespace",
    "AddSearchAttributes",
    "RemoveSearchAttributes",
}
_WORKER = {
    "PollWorkflowTaskQueue",
    "PollActivityTaskQueue",
    "PollNexusTaskQueue",
    "RespondWorkflowTaskCompleted",
    "RespondWorkflowTaskFailed",
    "RespondQueryTaskCompleted",
    "RespondActivityTaskCompleted",
    "RespondActivityTaskCompletedById",
    "RespondActivityTaskFailed",
    "RespondActivityTaskFailedById",
    "RespondActivityTaskCanceled",
    "RespondActivityTaskCanceledById",
    "RespondNexusTaskCompleted",
    "RespondNexusTaskFailed",
    "RecordActivityTaskHeartbeat",
    "RecordActivityTaskHeartbeatById",
    "ResetStickyTaskQueue",
    "RecordWorkerHeartbeat",
    "ShutdownWorker",
    "FetchWorkerConfig",
}
_READ_PREFIXES = ("Get", "Describe", "List", "Count", "Scan")
_READ = {
    "QueryWorkflow",
    "PollWorkflowExecutionUpdate",
    "PollActivityExecution",
    "PollNexusOperationExecution",
    "ValidateWorkerDeploymentVersionComputeConfig",
}


def rule(method: str) -> ApiRule:
    """The scope and access level RPC `method` needs (anything not listed writes)."""
    if method in _OPEN:
        return ApiRule(Scope.NONE, Access.READ)
    if method in _CLUSTER:
        return ApiRule(Scope.CLUSTER, _CLUSTER[method])
    if method in _NAMESPACE_ADMIN:
        return ApiRule(Scope.NAMESPACE, Access.ADMIN)
    if method in _WORKER:
        return ApiRule(Scope.NAMESPACE, Access.WORKER)
    if method in _READ or method.startswith(_READ_PREFIXES):
        return ApiRule(Scope.NAMESPACE, Access.READ)
    return ApiRule(Scope.NAMESPACE, Access.WRITE)
