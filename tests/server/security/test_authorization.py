"""The authorization interceptor: every RPC's role in its namespace, Temporal's errors."""

from __future__ import annotations

import pytest
from google.protobuf.message import Message
from temporalio.api.errordetails.v1 import message_pb2 as details
from temporalio.api.operatorservice.v1 import request_response_pb2 as op
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import PermissionDenied, Unauthenticated
from perdure.server.frontend.deadline import Deadline
from perdure.server.frontend.dispatch import OPERATOR_SERVICE, WORKFLOW_SERVICE, Call, Dispatcher
from perdure.server.security import (
    AuthorizationInterceptor,
    CallTarget,
    Claims,
    Decision,
    DefaultAuthorizer,
    DefaultClaimMapper,
    key_digest,
)
from perdure.server.security.roles import Access, Scope, rule

KEYS = {
    "reader": ["a:read"],
    "worker": ["a:worker"],
    "writer": ["a:write"],
    "admin-a": ["a:admin"],
    "system-reader": ["temporal-system:read"],
    "root": ["temporal-system:admin"],
}


class Everything:
    """A frontend that answers every RPC with an empty response."""

    def __getattr__(self, method: str) -> object:
        async def handler(request: Message, deadline: Deadline) -> Message:
            module = op if hasattr(op, f"{method}Response") else rr
            response: Message = getattr(module, f"{method}Response")()
            return response

        return handler


DISPATCHER = Dispatcher(
    Everything(),
    [AuthorizationInterceptor(DefaultClaimMapper({key_digest(k): v for k, v in KEYS.items()}))],
)


async def _call(method: str, key: str | None, namespace: str = "a") -> None:
    module = op if hasattr(op, f"{method}Request") else rr
    service = OPERATOR_SERVICE if module is op else WORKFLOW_SERVICE
    request = getattr(module, f"{method}Request")()
    if "namespace" in request.DESCRIPTOR.fields_by_name:
        request.namespace = namespace
    headers = {"authorization": f"Bearer {key}"} if key else {}
    await DISPATCHER.call(Call(service, method, headers, "test"), request, None)


ALLOWED = [
    ("reader", "ListWorkflowExecutions"),
    ("reader", "DescribeWorkflowExecution"),
    ("reader", "GetWorkflowExecutionHistory"),
    ("reader", "QueryWorkflow"),
    ("reader", "DescribeNamespace"),
    ("worker", "PollWorkflowTaskQueue"),
    ("worker", "RespondActivityTaskCompleted"),
    ("worker", "RecordActivityTaskHeartbeat"),
    ("worker", "GetWorkflowExecutionHistory"),
    ("writer", "StartWorkflowExecution"),
    ("writer", "SignalWorkflowExecution"),
    ("writer", "TerminateWorkflowExecution"),
    ("writer", "PollActivityTaskQueue"),
    ("admin-a", "UpdateNamespace"),
    ("admin-a", "AddSearchAttributes"),
    ("system-reader", "ListNamespaces"),
    ("system-reader", "ListWorkflowExecutions"),
    ("root", "RegisterNamespace"),
    ("root", "AddOrUpdateRemoteCluster"),
]
DENIED = [
    ("reader", "StartWorkflowExecution"),
    ("reader", "PollWorkflowTaskQueue"),
    ("worker", "TerminateWorkflowExecution"),
    ("worker", "StartWorkflowExecution"),
    ("writer", "UpdateNamespace"),
    ("writer", "AddSearchAttributes"),
    ("admin-a", "ListNamespaces"),  # cluster-wide: needs a system role
    ("system-reader", "StartWorkflowExecution"),
]


@pytest.mark.parametrize(("key", "method"), ALLOWED)
async def test_roles_allow(key: str, method: str) -> None:
    await _call(method, key)


@pytest.mark.parametrize(("key", "method"), DENIED)
async def test_roles_deny_with_temporals_error(key: str, method: str) -> None:
    with pytest.raises(PermissionDenied) as info:
        await _call(method, key)
    assert info.value.message == "Request unauthorized."
    detail = info.value.details()
    assert isinstance(detail, details.PermissionDeniedFailure) and method in detail.reason


async def test_a_key_for_one_namespace_grants_nothing_in_another() -> None:
    await _call("ListWorkflowExecutions", "reader", "a")
    with pytest.raises(PermissionDenied):
        await _call("ListWorkflowExecutions", "reader", "b")


async def test_no_or_unknown_credentials_are_unauthenticated_but_get_system_info_is_open() -> None:
    await _call("GetSystemInfo", None)
    with pytest.raises(Unauthenticated, match=r"Request unauthenticated\."):
        await _call("ListWorkflowExecutions", None)
    with pytest.raises(Unauthenticated):
        await _call("ListWorkflowExecutions", "obviously-wrong")
    with pytest.raises(Unauthenticated):  # bad credentials are refused even where none are needed
        await _call("GetSystemInfo", "obviously-wrong")


def test_every_rpc_has_a_rule_and_reads_are_reads() -> None:
    for module in (rr, op):
        for name in dir(module):
            if name.endswith("Request") and hasattr(module, name[:-7] + "Response"):
                r = rule(name[:-7])
                assert r.scope in Scope
    assert rule("GetSystemInfo").scope is Scope.NONE
    assert rule("CountWorkflowExecutions") == rule("ListWorkflowExecutions")
    assert rule("ListWorkflowExecutions").access is Access.READ
    assert rule("ResetWorkflowExecution").access is Access.WRITE
    assert rule("DeleteNamespace").access is Access.ADMIN


class NoTerminations:
    """A custom rule on top of the default one: nobody terminates in namespace "a"."""

    def __init__(self) -> None:
        self.default = DefaultAuthorizer()

    def authorize(self, claims: Claims | None, target: CallTarget) -> Decision:
        if target.api_name == "TerminateWorkflowExecution" and target.namespace == "a":
            return Decision(False, "terminations are off in a")
        return self.default.authorize(claims, target)


async def test_a_custom_authorizer_plugs_in() -> None:
    mapper = DefaultClaimMapper({key_digest("root"): ["temporal-system:admin"]})
    dispatcher = Dispatcher(Everything(), [AuthorizationInterceptor(mapper, NoTerminations())])
    call = Call(WORKFLOW_SERVICE, "TerminateWorkflowExecution", {"authorization": "Bearer root"})
    with pytest.raises(PermissionDenied) as info:
        await dispatcher.call(call, rr.TerminateWorkflowExecutionRequest(namespace="a"), None)
    assert info.value.reason == "terminations are off in a"
    await dispatcher.call(call, rr.TerminateWorkflowExecutionRequest(namespace="b"), None)
