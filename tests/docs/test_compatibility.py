"""docs/compatibility.md lists exactly the RPCs Perdure's server answers, citing tests that exist.

Every RPC of WorkflowService, OperatorService and TestService is called with an empty
request on a running (time-skipping, gRPC-served) engine: an RPC is implemented unless it
answers UNIMPLEMENTED. The page's "Implemented RPCs" tables must name the same set.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import grpc
from temporalio.api.operatorservice.v1 import request_response_pb2 as operator_messages
from temporalio.api.workflowservice.v1 import request_response_pb2 as workflow_messages

from perdure.testing import WorkflowEnvironment

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "compatibility.md"
TEST_SERVICE_METHODS = (  # temporal.api.testservice.v1.TestService (its requests differ in name)
    "LockTimeSkipping",
    "UnlockTimeSkipping",
    "UnlockTimeSkippingWithSleep",
    "Sleep",
    "SleepUntil",
    "GetCurrentTime",
)


def _methods(messages: object) -> list[str]:
    """A service's methods, read off its messages (every method M has MRequest, MResponse)."""
    names = set(messages.DESCRIPTOR.message_types_by_name)  # type: ignore[attr-defined]
    return sorted(
        name.removesuffix("Request")
        for name in names
        if name.endswith("Request") and name.removesuffix("Request") + "Response" in names
    )


SERVICES = {
    "temporal.api.workflowservice.v1.WorkflowService": _methods(workflow_messages),
    "temporal.api.operatorservice.v1.OperatorService": _methods(operator_messages),
    "temporal.api.testservice.v1.TestService": list(TEST_SERVICE_METHODS),
}


async def _answered_rpcs(target: str) -> set[str]:
    async with grpc.aio.insecure_channel(target) as channel:

        async def implemented(service: str, method: str) -> str | None:
            call = channel.unary_unary(
                f"/{service}/{method}",
                request_serializer=lambda raw: raw,
                response_deserializer=lambda raw: raw,
            )
            try:
                await call(b"", timeout=5)
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.UNIMPLEMENTED:
                    return None
            return method

        answers = await asyncio.gather(
            *(implemented(service, m) for service, methods in SERVICES.items() for m in methods)
        )
    return {method for method in answers if method is not None}


def _implemented_section() -> str:
    text = PAGE.read_text()
    return text.split("## Implemented RPCs", 1)[1].split("\n## ", 1)[0]


def test_the_page_lists_exactly_the_rpcs_the_server_answers() -> None:
    async def probe() -> set[str]:
        async with await WorkflowEnvironment.start_time_skipping(serve_grpc=True) as env:
            assert env.grpc_target is not None
            return await _answered_rpcs(env.grpc_target)

    answered = asyncio.run(probe())
    listed = set(re.findall(r"^\| `(\w+)` \|", _implemented_section(), re.MULTILINE))
    assert len(answered) > 40  # the probe works: most of what SDKs use is there
    assert sorted(answered - listed) == [], "implemented but not on the page"
    assert sorted(listed - answered) == [], "on the page but UNIMPLEMENTED"


def test_every_test_file_the_page_cites_exists() -> None:
    cited = set(re.findall(r"`(tests/[\w/]+\.py)`", PAGE.read_text()))
    assert cited
    assert sorted(path for path in cited if not (ROOT / path).is_file()) == []
