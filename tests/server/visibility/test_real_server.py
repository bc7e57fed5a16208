"""Differential test: the real Temporal dev server and our compiled SQL agree.

Runs are started on the real server with custom search attributes; their visibility
records (as the real List returns them) are loaded into a SQLite table through
search_attribute_columns, and every query must select the same runs there as on the real
server. Invalid queries must fail on both, with the same message where we word it alike.

The data avoids the dev server's SQLite quirks that we deliberately do not copy (case-
insensitive STARTS_WITH and KeywordList matching, datetime comparisons at equal values).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload, SearchAttributes, WorkflowType
from temporalio.api.enums.v1 import IndexedValueType as T
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    ListWorkflowExecutionsRequest,
    StartWorkflowExecutionRequest,
    TerminateWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError

from perdure.server.errors import InvalidArgument
from perdure.server.visibility import compile_query, search_attribute_columns
from tests.server.visibility.tables import Row, Table, sqlite_table
from tests.servers import ServerProcess

pytestmark = pytest.mark.real_temporal

ALIASES = {
    "Keyword01": "VisKw",
    "Text01": "VisText",
    "Int01": "VisInt",
    "Double01": "VisDouble",
    "Bool01": "VisBool",
    "Datetime01": "VisDt",
    "KeywordList01": "VisKwl",
}
TYPES = {
    "VisKw": T.INDEXED_VALUE_TYPE_KEYWORD,
    "VisText": T.INDEXED_VALUE_TYPE_TEXT,
    "VisInt": T.INDEXED_VALUE_TYPE_INT,
    "VisDouble": T.INDEXED_VALUE_TYPE_DOUBLE,
    "VisBool": T.INDEXED_VALUE_TYPE_BOOL,
    "VisDt": T.INDEXED_VALUE_TYPE_DATETIME,
    "VisKwl": T.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}

# workflow id suffix -> (terminate?, search attributes)
RUNS: dict[str, tuple[bool, dict[str, Any]]] = {
    "a": (False, {"VisKw": "alpha", "VisText": "Hello World foo", "VisInt": 5, "VisDouble": 1.5,
                  "VisBool": True, "VisDt": "2024-01-01T00:00:00Z", "VisKwl": ["x", "y"]}),
    "b": (True, {"VisKw": "bravo", "VisText": "hello-there, World!", "VisInt": 10,
                 "VisKwl": ["y", "z"], "VisBool": False, "VisDouble": -2.0}),
    "c": (True, {}),
    "d": (False, {"VisKw": "beta%_x", "VisText": "Café naïve foo_bar", "VisKwl": [],
                  "VisInt": -3, "VisDt": "2025-06-01T12:30:00Z"}),
    "e": (False, {"VisKw": "alphabet", "VisText": "worldwide hellos", "VisKwl": ["w"],
                  "VisInt": 0}),
    "f": (False, {"TemporalNamespaceDivision": "hidden", "VisKw": "alpha"}),
    "g": (True, {"VisKw": "it's", "VisKwl": ["it's"], "TemporalChangeVersion": ["v1"],
                 "BuildIds": ["b1"]}),
}  # fmt: skip

QUERIES = [
    "",
    "VisKw = 'alpha'",
    'VisKw = "alpha"',
    "`VisKw` = 'alpha'",
    "VisKw != 'alpha'",
    "VisKw > 'alpha'",
    "VisKw <= 'alpha'",
    "VisKw BETWEEN 'a' AND 'b'",
    "VisKw NOT BETWEEN 'a' AND 'b'",
    "VisKw IN ('alpha', 'bravo')",
    "VisKw NOT IN ('alpha', 'bravo')",
    "VisKw STARTS_WITH 'alph'",
    "VisKw NOT STARTS_WITH 'alph'",
    "VisKw STARTS_WITH 'beta%'",
    "VisKw STARTS_WITH 'beta_'",
    "VisKw STARTS_WITH ''",
    "VisKw = 'it''s'",
    "VisKw IS NULL",
    "VisKw IS NOT NULL",
    "VisText = 'hello'",
    "VisText = 'HELLO'",
    "VisText = 'world hello'",
    "VisText = 'hello foo'",
    "VisText = 'hello-world'",
    "VisText = 'world-hello'",
    "VisText = 'cafe'",
    "VisText = 'bar'",
    "VisText = 'hell'",
    "VisText = '!!!'",
    "VisText != 'hello'",
    "VisText IS NULL",
    "VisKwl = 'x'",
    "VisKwl != 'x'",
    "VisKwl IN ('x', 'z')",
    "VisKwl NOT IN ('x', 'z')",
    'VisKwl = "it\'s"',
    "VisKwl IS NULL",
    "NOT VisKwl = 'y'",
    "VisInt = 5",
    "VisInt = 5.0",
    "VisInt = 5.5",
    "VisInt > 0",
    "VisInt >= 0",
    "VisInt < 0",
    "VisInt != 5",
    "VisInt IN (5, 10)",
    "VisInt NOT IN (5, 10)",
    "VisInt BETWEEN 0 AND 5",
    "VisInt = - 3",
    "VisDouble = 1.5",
    "VisDouble > 0",
    "VisDouble < -1",
    "VisBool = true",
    "VisBool = false",
    "VisBool != true",
    "VisBool IS NULL",
    "VisDt > '2024-06-01T00:00:00Z'",
    "VisDt < '2024-06-01T00:00:00+02:00'",
    "VisDt BETWEEN '2023-01-01T00:00:00Z' AND '2025-12-01T00:00:00Z'",
    "VisDt > 1717200000000000000",
    "ExecutionStatus = 'Running'",
    "ExecutionStatus = 'Terminated'",
    "ExecutionStatus != 'Running'",
    "ExecutionStatus IN ('Terminated', 'Completed')",
    "ExecutionStatus > 'Running'",
    "ExecutionStatus = 1",
    "CloseTime IS NULL",
    "CloseTime IS NOT NULL",
    "ExecutionDuration IS NULL",
    "ExecutionDuration < '1h'",
    "StartTime > '2020-01-01T00:00:00Z'",
    "ParentWorkflowId IS NULL",
    "TemporalChangeVersion = 'v1'",
    "ChangeVersion = 'v1'",
    "BuildIds IN ('b1')",
    "TemporalPauseInfo IS NULL",
    "TemporalNamespaceDivision = 'hidden'",
    "TemporalNamespaceDivision IS NOT NULL",
    "VisKw = 'alpha' OR TemporalNamespaceDivision = 'zz'",
    "VisKw = 'alpha' OR VisKw = 'bravo' AND VisInt = 5",
    "(VisKw = 'alpha' OR VisKw = 'bravo') AND VisInt = 10",
    "NOT VisKw = 'alpha'",
    "NOT (VisKw = 'alpha' OR VisInt = 10)",
    "VisKw = 'alpha' || VisKw = 'bravo'",
    "VisKw = 'alpha' && VisInt = 5",
]

# Both must refuse these; `True` when the messages must be equal too.
INVALID: list[tuple[str, bool]] = [
    ("Foo = 'x'", True),
    ("VisKw = 5", True),
    ("VisInt = '5'", True),
    ("VisBool = 1", True),
    ("VisDt = 'abc'", True),
    ("VisDt < '2024-06-01'", True),
    ("ExecutionStatus = 'running'", True),
    ("ExecutionStatus = 99", True),
    ("ExecutionDuration < 'abc'", True),
    ("ExecutionDuration < 1.5", True),
    ("VisText IN ('hello')", True),
    ("VisText > 'a'", True),
    ("VisKwl > 'x'", True),
    ("VisKwl BETWEEN 'a' AND 'z'", True),
    ("VisKw LIKE 'a%'", True),
    ("VisText = ''", True),
    ("WorkflowId = RunId", True),
    ("VisKw = 'a' LIMIT 5", True),
    ("VisKw IS TRUE", True),
    ("'x' = VisKw", False),
    ("VisKw = ", False),
    ("VisKw = 'a", False),
    ("VisKw IN ()", False),
    ("VisKw = NULL", False),
    ("VisInt = 0x10", False),
    ("VisKw", False),
]


@dataclass
class Loaded:
    client: Client
    workflow_type: str
    table: Table


def _payload(value: Any) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


def _nanos_or_none(info: WorkflowExecutionInfo, field: str) -> int | None:
    present: bool = info.HasField(field)  # type: ignore[arg-type]
    return int(getattr(info, field).ToNanoseconds()) if present else None


def _row(info: WorkflowExecutionInfo) -> Row:
    return Row(
        workflow_id=info.execution.workflow_id,
        run_id=info.execution.run_id,
        workflow_type=info.type.name,
        task_queue=info.task_queue,
        status=info.status,
        start_time=info.start_time.ToNanoseconds(),
        execution_time=info.execution_time.ToNanoseconds(),
        close_time=_nanos_or_none(info, "close_time"),
        execution_duration=_nanos_or_none(info, "execution_duration"),
        history_length=info.history_length,
        history_size_bytes=info.history_size_bytes,
        state_transition_count=info.state_transition_count,
        parent_workflow_id=info.parent_execution.workflow_id or None,
        parent_run_id=info.parent_execution.run_id or None,
        root_workflow_id=info.root_execution.workflow_id,
        root_run_id=info.root_execution.run_id,
        columns=search_attribute_columns(info.search_attributes, ALIASES),
    )


async def _real_list(client: Client, query: str) -> list[WorkflowExecutionInfo]:
    response = await client.workflow_service.list_workflow_executions(
        ListWorkflowExecutionsRequest(namespace="default", query=query, page_size=1000)
    )
    return list(response.executions)


@pytest.fixture(scope="module")
async def loaded(temporal_server: ServerProcess) -> AsyncIterator[Loaded]:
    client = await Client.connect(temporal_server.target)
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace="default", search_attributes=TYPES)
    )
    workflow_type = f"VisProbe{uuid.uuid4().hex[:8]}"
    for suffix, (terminate, values) in RUNS.items():
        workflow_id = f"{workflow_type}-{suffix}"
        await client.workflow_service.start_workflow_execution(
            StartWorkflowExecutionRequest(
                namespace="default",
                workflow_id=workflow_id,
                workflow_type=WorkflowType(name=workflow_type),
                task_queue=TaskQueue(name=f"{workflow_type}-tq"),
                request_id=str(uuid.uuid4()),
                search_attributes=SearchAttributes(
                    indexed_fields={k: _payload(v) for k, v in values.items()}
                ),
            )
        )
        if terminate:
            await client.workflow_service.terminate_workflow_execution(
                TerminateWorkflowExecutionRequest(
                    namespace="default",
                    workflow_execution={"workflow_id": workflow_id},  # type: ignore[arg-type]
                    reason="visibility test",
                )
            )
    everything = f"WorkflowType = '{workflow_type}' AND TemporalNamespaceDivision IS NULL"
    closed = sum(terminate for terminate, _ in RUNS.values())
    for _ in range(100):  # visibility is eventually consistent
        count = await client.workflow_service.count_workflow_executions(
            CountWorkflowExecutionsRequest(
                namespace="default", query=f"{everything} AND CloseTime IS NOT NULL"
            )
        )
        if count.count == closed:
            break
        await asyncio.sleep(0.1)
    infos = await _real_list(client, f"WorkflowType = '{workflow_type}'")
    infos += await _real_list(client, f"WorkflowType = '{workflow_type}' AND "
                                      "TemporalNamespaceDivision IS NOT NULL")  # fmt: skip
    assert len(infos) == len(RUNS)
    table = sqlite_table("default")
    table.insert([_row(info) for info in infos])
    yield Loaded(client, workflow_type, table)


def _scoped(loaded: Loaded, query: str) -> str:
    scope = f"WorkflowType = '{loaded.workflow_type}'"
    return f"{scope} AND ({query})" if query else scope


@pytest.mark.parametrize("query", QUERIES, ids=[q or "<empty>" for q in QUERIES])
async def test_same_runs_as_the_real_server(loaded: Loaded, query: str) -> None:
    full = _scoped(loaded, query)
    real = sorted(i.execution.workflow_id for i in await _real_list(loaded.client, full))
    ours = sorted(loaded.table.ids(compile_query(full, aliases=ALIASES, dialect="sqlite")))
    assert ours == real


@pytest.mark.parametrize(("query", "same_message"), INVALID, ids=[q for q, _ in INVALID])
async def test_same_refusals_as_the_real_server(
    loaded: Loaded, query: str, same_message: bool
) -> None:
    with pytest.raises(RPCError) as real:
        await _real_list(loaded.client, query)
    with pytest.raises(InvalidArgument) as ours:
        compile_query(query, aliases=ALIASES, dialect="sqlite")
    assert ours.value.message.startswith("invalid query: ")
    if same_message:
        assert ours.value.message == real.value.message


async def test_the_comparison_is_not_vacuous(loaded: Loaded) -> None:
    for query, expected in [("", "a b c d e g"), ("VisText = 'hello foo'", "a b d"),
                            ("TemporalNamespaceDivision = 'hidden'", "f")]:  # fmt: skip
        infos = await _real_list(loaded.client, _scoped(loaded, query))
        ids = sorted(i.execution.workflow_id.rsplit("-", 1)[1] for i in infos)
        assert ids == expected.split()
