"""Search attribute values given as lists, as the official SDKs' untyped API sends them.

Temporal accepts a value of any type as a list of that type: an empty list unsets the
attribute, a one-element list is its element (a null element the type's zero value), a
longer list is invalid. KeywordList values are lists already; for them, a list holding
one list. Started here with raw payloads through the official SDK's service client; the
same assertions hold on both servers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import Payload, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import IndexedValueType as T
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    ListWorkflowExecutionsRequest,
    RegisterNamespaceRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

pytestmark = pytest.mark.timeout(120)

TYPES = {
    "FormKw": T.INDEXED_VALUE_TYPE_KEYWORD,
    "FormText": T.INDEXED_VALUE_TYPE_TEXT,
    "FormInt": T.INDEXED_VALUE_TYPE_INT,
    "FormDouble": T.INDEXED_VALUE_TYPE_DOUBLE,
    "FormBool": T.INDEXED_VALUE_TYPE_BOOL,
    "FormDt": T.INDEXED_VALUE_TYPE_DATETIME,
    "FormKwl": T.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}
TYPE_NAMES = {
    "FormKw": "Keyword",
    "FormText": "Text",
    "FormInt": "Int",
    "FormDouble": "Double",
    "FormBool": "Bool",
    "FormDt": "Datetime",
    "FormKwl": "KeywordList",
}
DT = "2024-01-01T00:00:00Z"

# attribute, value as JSON, what List returns for it (None: the attribute is unset)
ACCEPTED = [
    ("FormKw", '["k"]', '"k"'),
    ("FormKw", "[null]", '""'),
    ("FormKw", "[]", None),
    ("FormText", '["hello world"]', '"hello world"'),
    ("FormText", "[]", None),
    ("FormInt", "[7]", "7"),
    ("FormInt", "[null]", "0"),
    ("FormInt", "[]", None),
    ("FormDouble", "[1.5]", "1.5"),
    ("FormDouble", "[2]", "2"),
    ("FormDouble", "[null]", "0"),
    ("FormBool", "[true]", "true"),
    ("FormBool", "[null]", "false"),
    ("FormBool", "[]", None),
    ("FormDt", f'["{DT}"]', f'"{DT}"'),
    ("FormDt", "[null]", '"0001-01-01T00:00:00Z"'),
    ("FormDt", "[]", None),
    ("FormKwl", '["a"]', '["a"]'),
    ("FormKwl", '[["a","b"]]', '["a","b"]'),
    ("FormKwl", '["a",null]', '["a",""]'),
    ("FormKwl", "[]", None),
    ("FormKw", "null", None),
]

# attribute, value as JSON, how the error prints it
REJECTED = [
    ("FormKw", '["a","b"]', "Keyword", "[a b]"),
    ("FormKw", '["a",null]', "Keyword", "[a <nil>]"),
    ("FormKw", '[["a"]]', "Keyword", "[[a]]"),
    ("FormText", '["a","b"]', "Text", "[a b]"),
    ("FormInt", "[1,2]", "Int", "[1 2]"),
    ("FormInt", '["1"]', "Int", "[1]"),
    ("FormInt", "[1.5]", "Int", "[1.5]"),
    ("FormDouble", "[1,2.5]", "Double", "[1 2.5]"),
    ("FormBool", "[true,false]", "Bool", "[true false]"),
    ("FormBool", "[[true]]", "Bool", "[[true]]"),
    ("FormDt", f'["{DT}","{DT}"]', "Datetime", f"[{DT} {DT}]"),
    ("FormDt", '["2024-01-01"]', "Datetime", "[2024-01-01]"),
    ("FormKwl", '"a"', "KeywordList", "a"),
    ("FormKwl", '[["a"],["b"]]', "KeywordList", "[[a] [b]]"),
    ("FormKwl", "[1]", "KeywordList", "[1]"),
]


NAMESPACE = "search-attribute-forms"
"""A namespace of its own: the real dev server allows only 3 custom attributes of a type
per namespace, and other tests register theirs in "default"."""


@pytest.fixture(scope="session")
async def forms_client(official_client: Client) -> Client:
    service = official_client.workflow_service
    try:
        await service.register_namespace(
            RegisterNamespaceRequest(
                namespace=NAMESPACE,
                workflow_execution_retention_period=Duration(seconds=86400),
            )
        )
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise
    await _until_known(
        lambda: official_client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=NAMESPACE, search_attributes=TYPES)
        )
    )
    await _until_known(
        lambda: service.list_workflow_executions(
            ListWorkflowExecutionsRequest(namespace=NAMESPACE, query="FormKw = 'x'")
        )
    )
    return official_client


async def _until_known(call: Callable[[], Awaitable[object]]) -> None:
    """Retry `call` while the real server's caches do not know the new namespace or its
    attributes yet (a few seconds at most)."""
    for _ in range(300):
        try:
            await call()
            return
        except RPCError as err:
            if err.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                raise
            await asyncio.sleep(0.1)
    await call()


def _start(workflow_id: str, name: str, value: str) -> StartWorkflowExecutionRequest:
    request = StartWorkflowExecutionRequest(
        namespace=NAMESPACE,
        workflow_id=workflow_id,
        workflow_type=WorkflowType(name="Forms"),
        task_queue=TaskQueue(name=f"forms-{uuid.uuid4().hex[:8]}"),
        request_id=str(uuid.uuid4()),
    )
    request.search_attributes.indexed_fields[name].CopyFrom(
        Payload(metadata={"encoding": b"json/plain"}, data=value.encode())
    )
    return request


async def test_list_forms_are_refused_as_temporal_refuses_them(forms_client: Client) -> None:
    service = forms_client.workflow_service
    for name, value, kind, shown in REJECTED:
        with pytest.raises(RPCError) as info:
            await service.start_workflow_execution(_start(f"form-{uuid.uuid4()}", name, value))
        assert info.value.status == RPCStatusCode.INVALID_ARGUMENT, (name, value)
        assert info.value.message == (
            f"invalid value for search attribute {name} of type {kind}: {shown}"
        ), (name, value)


async def test_list_forms_are_accepted_and_listed_as_their_value(forms_client: Client) -> None:
    service = forms_client.workflow_service
    run = uuid.uuid4().hex[:8]
    started: dict[str, tuple[str, str, str | None]] = {}
    for i, (name, value, listed) in enumerate(ACCEPTED):
        workflow_id = f"form-{run}-{i}"
        await service.start_workflow_execution(_start(workflow_id, name, value))
        started[workflow_id] = (name, value, listed)
        described = await service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=NAMESPACE, execution=WorkflowExecution(workflow_id=workflow_id)
            )
        )
        fields = described.workflow_execution_info.search_attributes.indexed_fields
        assert (name in fields) == (listed is not None), (name, value)

    query = f"WorkflowId STARTS_WITH 'form-{run}-'"
    executions = []
    for _ in range(100):  # the real server's visibility is eventually consistent
        response = await service.list_workflow_executions(
            ListWorkflowExecutionsRequest(namespace=NAMESPACE, query=query)
        )
        executions = list(response.executions)
        if len(executions) == len(ACCEPTED):
            break
        await asyncio.sleep(0.1)
    assert len(executions) == len(ACCEPTED)
    for execution in executions:
        name, value, listed = started[execution.execution.workflow_id]
        fields = execution.search_attributes.indexed_fields
        if listed is None:
            assert name not in fields, (name, value)
        else:
            assert fields[name].data.decode() == listed, (name, value)
            assert fields[name].metadata["type"].decode() == TYPE_NAMES[name], (name, value)

    # A one-element Keyword list is matched by its element.
    matched = await service.list_workflow_executions(
        ListWorkflowExecutionsRequest(namespace=NAMESPACE, query=f"{query} AND FormKw = 'k'")
    )
    assert [e.execution.workflow_id for e in matched.executions] == [f"form-{run}-0"]
