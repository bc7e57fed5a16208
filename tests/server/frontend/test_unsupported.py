"""Every RPC of Temporal's WorkflowService and OperatorService has a handler: the ones
Perdure does not have answer UNIMPLEMENTED naming the feature, over every transport."""

from __future__ import annotations

import pytest
from temporalio.api.operatorservice.v1 import request_response_pb2 as op_rr
from temporalio.api.workflowservice.v1 import request_response_pb2 as wf_rr

from perdure.server.errors import Unimplemented
from perdure.server.frontend.dispatch import WORKFLOW_SERVICE, Call, Dispatcher
from perdure.server.frontend.rpc import status_code
from perdure.server.frontend.service import Frontend
from perdure.server.frontend.unsupported import UNSUPPORTED


def _methods() -> list[str]:
    out = []
    for messages in (wf_rr, op_rr):
        for name in messages.DESCRIPTOR.message_types_by_name:
            method = name.removesuffix("Request")
            if method != name and hasattr(messages, method + "Response"):
                out.append(method)
    return out


def test_every_rpc_has_a_handler() -> None:
    missing = [m for m in _methods() if getattr(Frontend, m, None) is None]
    assert missing == []


def test_the_table_names_only_rpcs_that_exist_and_have_no_other_handler() -> None:
    methods = set(_methods())
    assert set(UNSUPPORTED) <= methods
    for method in UNSUPPORTED:
        assert getattr(Frontend, method).__qualname__.endswith("unsupported"), method


@pytest.mark.parametrize(
    ("method", "feature"),
    [("CreateWorkflowRule", "workflow rules"), ("PollNexusTaskQueue", "Nexus"),
     ("DescribeWorkerDeployment", "worker deployments"),
     ("StartActivityExecution", "standalone activities")],
)  # fmt: skip
async def test_an_unsupported_rpc_names_its_feature(method: str, feature: str) -> None:
    dispatcher = Dispatcher(Frontend.__new__(Frontend))
    request = getattr(wf_rr, method + "Request")()
    with pytest.raises(Unimplemented) as caught:
        await dispatcher.call(Call(WORKFLOW_SERVICE, method), request, None)
    assert feature in caught.value.message and method in caught.value.message
    assert status_code(caught.value).name == "UNIMPLEMENTED"
