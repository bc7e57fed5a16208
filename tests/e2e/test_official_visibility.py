"""Visibility from the official SDK: custom search attributes, list, count, group by."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.e2e.official_workflows import Forever, OneActivity, greet

pytestmark = pytest.mark.timeout(90)

RUN_KEY = SearchAttributeKey.for_keyword("PerdureTestRun")
SIZE = SearchAttributeKey.for_int("PerdureTestSize")
SCORE = SearchAttributeKey.for_float("PerdureTestScore")
URGENT = SearchAttributeKey.for_bool("PerdureTestUrgent")
DUE = SearchAttributeKey.for_datetime("PerdureTestDue")
TAGS = SearchAttributeKey.for_keyword_list("PerdureTestTags")
NOTE = SearchAttributeKey.for_text("PerdureTestNote")


@pytest.fixture(scope="session")
async def registered(official_client: Client) -> Client:
    await official_client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace="default",
            search_attributes={
                "PerdureTestRun": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
                "PerdureTestSize": IndexedValueType.INDEXED_VALUE_TYPE_INT,
                "PerdureTestScore": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
                "PerdureTestUrgent": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
                "PerdureTestDue": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
                "PerdureTestTags": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
                "PerdureTestNote": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
            },
        )
    )
    return official_client


@pytest.fixture
async def population(registered: Client, task_queue: str) -> AsyncIterator[str]:
    """Six workflows tagged with one run key: four completed, two still running."""
    run = uuid.uuid4().hex
    async with Worker(
        registered,
        task_queue=task_queue,
        workflows=[OneActivity, Forever],
        activities=[greet],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handles = []
        for i in range(6):
            attrs = TypedSearchAttributes(
                [
                    SearchAttributePair(RUN_KEY, run),
                    SearchAttributePair(SIZE, i),
                    SearchAttributePair(SCORE, i / 2),
                    SearchAttributePair(URGENT, i % 2 == 0),
                    SearchAttributePair(DUE, datetime(2030, 1, 1 + i, tzinfo=UTC)),
                    SearchAttributePair(TAGS, ["all", f"t{i}"]),
                    SearchAttributePair(NOTE, f"order number {i} shipped"),
                ]
            )
            workflow = Forever.run if i >= 4 else OneActivity.run
            args = [] if i >= 4 else [str(i)]
            handles.append(
                await registered.start_workflow(
                    workflow,  # type: ignore[arg-type]
                    args=args,
                    id=f"vis-{run}-{i}",
                    task_queue=task_queue,
                    search_attributes=attrs,
                    memo={"index": i},
                )
            )
        for handle in handles[:4]:
            await handle.result()
        await _settle(registered, run)
        yield run
        for handle in handles[4:]:
            await handle.terminate()


async def _settle(client: Client, run: str) -> None:
    """Wait until visibility shows all six runs and the four closes.

    The real server's visibility is eventually consistent: a close can show a
    moment after `result()` returns. Perdure's shows it at once.
    """
    query = f"PerdureTestRun = '{run}' GROUP BY ExecutionStatus"
    for _ in range(100):
        resp = await client.count_workflows(query)
        groups = {g.group_values[0]: g.count for g in resp.groups}
        if groups == {"Running": 2, "Completed": 4}:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"visibility never settled: {groups}")


async def _count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


async def _ids(client: Client, query: str) -> list[str]:
    return sorted([wf.id async for wf in client.list_workflows(query)])


async def test_list_and_count_with_filters(registered: Client, population: str) -> None:
    run = population
    base = f"PerdureTestRun = '{run}'"
    assert await _count(registered, base) == 6
    assert await _count(registered, f"{base} AND ExecutionStatus = 'Running'") == 2
    assert await _count(registered, f"{base} AND PerdureTestSize >= 3") == 3
    assert await _count(registered, f"{base} AND PerdureTestSize BETWEEN 1 AND 2") == 2
    assert await _count(registered, f"{base} AND PerdureTestScore > 1.2") == 3
    assert await _count(registered, f"{base} AND PerdureTestUrgent = true") == 3
    assert await _count(registered, f"{base} AND PerdureTestDue > '2030-01-03T12:00:00Z'") == 3
    assert await _count(registered, f"{base} AND PerdureTestTags = 't5'") == 1
    assert await _count(registered, f"{base} AND PerdureTestTags IN ('t1', 't2')") == 2
    assert await _count(registered, f"{base} AND WorkflowId STARTS_WITH 'vis-{run}-1'") == 1
    assert await _count(registered, f"{base} AND PerdureTestNote = 'shipped'") == 6
    assert await _count(registered, f"{base} AND (PerdureTestSize = 0 OR PerdureTestSize = 5)") == 2
    ids = await _ids(registered, f"{base} AND WorkflowType = 'OneActivity'")
    assert ids == [f"vis-{run}-{i}" for i in range(4)]
    assert await _count(registered, f"{base} AND CloseTime IS NULL") == 2


async def test_list_returns_memo_and_search_attributes(registered: Client, population: str) -> None:
    found = [
        wf
        async for wf in registered.list_workflows(
            f"PerdureTestRun = '{population}' AND PerdureTestSize = 2"
        )
    ]
    assert len(found) == 1
    assert found[0].status == WorkflowExecutionStatus.COMPLETED
    assert await found[0].memo_value("index") == 2
    assert found[0].typed_search_attributes.get(TAGS) == ["all", "t2"]


async def test_count_group_by_status(registered: Client, population: str) -> None:
    resp = await registered.count_workflows(
        f"PerdureTestRun = '{population}' GROUP BY ExecutionStatus"
    )
    groups = {g.group_values[0]: g.count for g in resp.groups}
    assert resp.count == 6
    assert groups == {"Running": 2, "Completed": 4}


async def test_malformed_query_is_invalid_argument(registered: Client) -> None:
    with pytest.raises(RPCError) as err:
        await registered.count_workflows("WorkflowId = ")
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    with pytest.raises(RPCError) as err:
        await registered.count_workflows("NoSuchAttribute = 'x'")
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
