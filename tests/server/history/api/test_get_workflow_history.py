"""get_workflow_history(_reverse): pages and their tokens, long polls, the close filter."""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine.execution import HistoryEvent
from perdure.server.history.api.get_workflow_history import (
    get_workflow_history,
    get_workflow_history_reverse,
)
from perdure.server.history.api.signal_workflow import signal_workflow
from perdure.server.history.history_pages import HistoryPages
from tests.server.engine.helpers import complete_workflow
from tests.server.history.api.conftest import Env, event_types


def read(
    workflow_id: str, page_size: int = 0, token: bytes = b"", **fields: object
) -> rr.GetWorkflowExecutionHistoryRequest:
    request = rr.GetWorkflowExecutionHistoryRequest(
        namespace="default",
        maximum_page_size=page_size,
        next_page_token=token,
        **fields,  # type: ignore[arg-type]
    )
    request.execution.workflow_id = workflow_id
    return request


async def poke(env: Env, workflow_id: str) -> None:
    request = rr.SignalWorkflowExecutionRequest(namespace="default", signal_name="poke")
    request.workflow_execution.workflow_id = workflow_id
    await signal_workflow(env.history, env.ns, request)


async def test_pages_and_their_tokens_cover_the_whole_history_once(env: Env) -> None:
    await env.start("wf")
    await env.run_task("wf")
    for _ in range(3):
        await poke(env, "wf")
    everything = await env.events("wf")

    seen: list[HistoryEvent] = []
    token, pages = b"", 0
    while True:
        resp = await get_workflow_history(env.history, env.ns, read("wf", 2, token), wait_seconds=0)
        seen.extend(resp.history.events)
        pages += 1
        token = resp.next_page_token
        if not token:
            break
    assert seen == everything and pages == 4  # 7 events, 2 a page


async def test_the_reverse_read_pages_from_the_newest_event(env: Env) -> None:
    await env.start("wf")
    await env.run_task("wf")
    everything = await env.events("wf")

    request = rr.GetWorkflowExecutionHistoryReverseRequest(namespace="default", maximum_page_size=3)
    request.execution.workflow_id = "wf"
    first = await get_workflow_history_reverse(env.history, env.ns, request)
    request.next_page_token = first.next_page_token
    second = await get_workflow_history_reverse(env.history, env.ns, request)

    assert [*first.history.events, *second.history.events] == everything[::-1]
    assert not second.next_page_token


async def test_a_long_poll_returns_the_next_event_once_it_is_written(env: Env) -> None:
    run_id = await env.start("wf")
    after_head = HistoryPages.token(run_id, 3, 0, [])  # events 1-2 are written
    resume = read("wf", token=after_head, wait_new_event=True)

    # Nothing new: after the wait, a token to resume from where it stopped.
    empty = await get_workflow_history(env.history, env.ns, resume, wait_seconds=0.02)
    assert not empty.history.events and empty.next_page_token

    waiting = asyncio.create_task(
        get_workflow_history(
            env.history, env.ns,
            read("wf", token=empty.next_page_token, wait_new_event=True), wait_seconds=5,
        )
    )  # fmt: skip
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await poke(env, "wf")
    resp = await asyncio.wait_for(waiting, 5)
    assert event_types(resp.history.events) == ["WORKFLOW_EXECUTION_SIGNALED"]


async def test_the_close_filter_waits_for_the_close_event_only(env: Env) -> None:
    await env.start("wf")
    request = read(
        "wf",
        wait_new_event=True,
        history_event_filter_type=wf_enums.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
    )
    waiting = asyncio.create_task(
        get_workflow_history(env.history, env.ns, request, wait_seconds=5)
    )
    await poke(env, "wf")
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await env.run_task("wf", complete_workflow())
    resp = await asyncio.wait_for(waiting, 5)
    assert event_types(resp.history.events) == ["WORKFLOW_EXECUTION_COMPLETED"]
