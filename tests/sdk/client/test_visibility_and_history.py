"""Describe, memo, search attributes, list/count, history export, async activity completion."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.client import WorkflowHistory as TemporalWorkflowHistory

from perdure.client import (
    AsyncActivityCancelledError,
    Client,
    Interceptor,
    OutboundInterceptor,
    SignalWorkflowInput,
    StartWorkflowInput,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowHistoryEventFilterType,
)
from perdure.common import Priority, SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from tests.sdk.client.conftest import Env
from tests.sdk.client.workflows import TASK_TOKENS, InfoWorkflow
from tests.servers import TEMPORAL_BIN

pytestmark = pytest.mark.timeout(60)

KEYWORD = SearchAttributeKey.for_keyword("PerdureKeyword")
NUMBER = SearchAttributeKey.for_int("PerdureInt")
WHEN = SearchAttributeKey.for_datetime("PerdureDatetime")


@dataclass
class Note:
    text: str
    score: int


async def _eventually(check: Any, timeout: float = 10.0) -> Any:
    """Visibility is eventually consistent: retry ``check`` until it returns truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.2)


async def test_describe_memo_search_attributes(env: Env, search_attributes: None) -> None:
    tag = uuid.uuid4().hex
    when = datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC)
    handle = await env.client.start_workflow(
        InfoWorkflow.run,  # type: ignore[arg-type]
        id=env.workflow_id(),
        task_queue=env.task_queue,
        memo={"note": Note("remember", 3), "plain": 1},
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(KEYWORD, tag),
                SearchAttributePair(NUMBER, 42),
                SearchAttributePair(WHEN, when),
            ]
        ),
        static_summary="a summary",
        static_details="some **details**",
        priority=Priority(priority_key=2),
    )
    result = await handle.result()
    assert result["keyword"] == tag and result["memo"] == {"text": "remember", "score": 3}
    description = await handle.describe()
    assert description.id == handle.id and description.run_id == handle.result_run_id
    assert description.workflow_type == "InfoWorkflow"
    assert description.task_queue == env.task_queue
    assert description.status == WorkflowExecutionStatus.COMPLETED
    assert description.close_time is not None and description.history_length > 3
    assert await description.memo_value("note", type_hint=Note) == Note("remember", 3)
    assert (await description.memo())["plain"] == 1
    assert await description.memo_value("missing", "fallback") == "fallback"
    with pytest.raises(KeyError):
        await description.memo_value("missing")
    typed = description.typed_search_attributes
    assert typed[KEYWORD] == tag and typed[NUMBER] == 42 and typed[WHEN] == when
    assert description.search_attributes["PerdureKeyword"] == [tag]
    assert await description.static_summary() == "a summary"
    assert await description.static_details() == "some **details**"
    assert description.raw_description.workflow_execution_info.priority.priority_key == 2

    query = f"PerdureKeyword = '{tag}'"
    # Visibility is eventually consistent on the real server: wait for the close.
    listed = await _eventually(lambda: _collect_closed(env.client, query), timeout=15)
    assert [execution.id for execution in listed] == [handle.id]
    assert listed[0].typed_search_attributes[NUMBER] == 42
    count = await env.client.count_workflows(query)
    assert count.count == 1
    grouped = await env.client.count_workflows(f"{query} GROUP BY ExecutionStatus")
    assert grouped.count == 1 and grouped.groups[0].group_values == ["Completed"]


async def _collect(client: Client, query: str) -> list[Any]:
    return [execution async for execution in client.list_workflows(query)]


async def test_list_paging_and_limit(env: Env, search_attributes: None) -> None:
    tag = uuid.uuid4().hex
    for _ in range(3):
        await env.client.execute_workflow(
            "Echo",
            id=env.workflow_id(),
            task_queue=env.task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(KEYWORD, tag)]),
        )
    query = f"PerdureKeyword = '{tag}'"
    assert len(await _eventually(lambda: _collect_len3(env.client, query), 15)) == 3
    paged = env.client.list_workflows(query, page_size=2)
    seen = [execution.id async for execution in paged]
    assert len(seen) == 3 and len(set(seen)) == 3
    limited = [e async for e in env.client.list_workflows(query, page_size=2, limit=1)]
    assert len(limited) == 1
    histories = [h async for h in env.client.list_workflows(query, limit=2).map_histories()]
    assert len(histories) == 2 and all(h.events for h in histories)


async def _collect_closed(client: Client, query: str) -> list[Any]:
    found = await _collect(client, query)
    return found if all(e.status == WorkflowExecutionStatus.COMPLETED for e in found) else []


async def _collect_len3(client: Client, query: str) -> list[Any]:
    found = await _collect(client, query)
    return found if len(found) == 3 else []


async def test_history_and_json_round_trip(env: Env) -> None:
    handle = await env.client.start_workflow(
        "InteractiveWorkflow", id=env.workflow_id(), task_queue=env.task_queue
    )
    for i in range(5):
        await handle.signal("add", str(i))
    await handle.signal("finish")
    await handle.result()
    history = await handle.fetch_history()
    assert history.run_id == handle.result_run_id
    types = [event.event_type for event in history.events]
    assert types[0] == 1 and len(types) == history.events[-1].event_id
    small_pages = handle.fetch_history_events(page_size=3)
    assert [event.event_id async for event in small_pages] == [e.event_id for e in history.events]
    close = [
        event
        async for event in handle.fetch_history_events(
            event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
        )
    ]
    assert len(close) == 1 and close[0].HasField("workflow_execution_completed_event_attributes")

    exported = history.to_json()
    assert json.loads(exported)["events"][0]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    assert WorkflowHistory.from_json(handle.id, exported) == history
    # the official SDK reads ours and we read its export
    assert list(TemporalWorkflowHistory.from_json(handle.id, exported).events) == list(
        history.events
    )
    # older tools wrote enums in PascalCase without prefix
    legacy = history.to_json_dict()
    for event in legacy["events"]:
        event["eventType"] = event["eventType"].removeprefix("EVENT_TYPE_").title().replace("_", "")
    assert WorkflowHistory.from_json(handle.id, legacy) == history


async def test_async_activity_completion(env: Env) -> None:
    key = uuid.uuid4().hex
    handle = await env.client.start_workflow(
        "AsyncActivityWorkflow", key, id=env.workflow_id(), task_queue=env.task_queue
    )
    token = await _eventually(lambda: _token(key))
    assert token
    activity = env.client.get_async_activity_handle(task_token=token)
    await activity.heartbeat("progress")
    await activity.complete("done by client")
    assert await handle.result() == "done by client"

    key2 = uuid.uuid4().hex
    handle2 = await env.client.start_workflow(
        "AsyncActivityWorkflow", key2, id=env.workflow_id(), task_queue=env.task_queue
    )
    assert await _eventually(lambda: _token(key2))
    by_id = env.client.get_async_activity_handle(
        workflow_id=handle2.id, run_id=None, activity_id="1"
    )
    await handle2.cancel()
    with pytest.raises(AsyncActivityCancelledError):
        for _ in range(50):
            await by_id.heartbeat()
            await asyncio.sleep(0.1)
    await by_id.report_cancellation("bye")
    with pytest.raises(Exception):  # noqa: B017 - cancelled workflow
        await handle2.result()
    with pytest.raises(ValueError):
        env.client.get_async_activity_handle(task_token=b"x", activity_id="1")  # type: ignore[call-overload]


async def _token(key: str) -> bytes | None:
    return TASK_TOKENS.get(key)


class _Recorder(Interceptor):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        recorder = self

        class Outbound(OutboundInterceptor):
            async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
                recorder.calls.append(f"start:{input.workflow}")
                input.args = [*input.args, "added-by-interceptor"]
                return await super().start_workflow(input)

            async def signal_workflow(self, input: SignalWorkflowInput) -> None:
                recorder.calls.append(f"signal:{input.signal}")
                await super().signal_workflow(input)

        return Outbound(next)


async def test_interceptors_see_and_change_calls(env: Env) -> None:
    recorder = _Recorder()
    client = Client(env.client.service_client, interceptors=[recorder])
    handle = await client.start_workflow(
        "Echo", "x", id=env.workflow_id(), task_queue=env.task_queue
    )
    assert await handle.result() == ["x", "added-by-interceptor"]
    with pytest.raises(Exception):  # noqa: B017 - the workflow is closed
        await handle.signal("nothing")
    assert recorder.calls == ["start:Echo", "signal:nothing"]
    assert client.config()["interceptors"] == [recorder]


async def test_history_from_the_cli_export(env: Env) -> None:
    """``temporal workflow show -o json`` output reads back as the same events."""
    handle = await env.client.start_workflow(
        "Echo", "cli", id=env.workflow_id(), task_queue=env.task_queue
    )
    await handle.result()
    ours = await handle.fetch_history()
    process = await asyncio.create_subprocess_exec(
        str(TEMPORAL_BIN), "workflow", "show", "--workflow-id", handle.id,
        "--address", env.server.target, "--output", "json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    exported = WorkflowHistory.from_json(handle.id, out.decode())
    assert [e.event_id for e in exported.events] == [e.event_id for e in ours.events]
    assert exported.events == ours.events
