"""GetWorkflowExecutionHistory (forward, and long-polled) and its reverse form.

Pages are read from history's event reads (the cached tail, else the store) and resumed
with history_pages.py's tokens. With `wait_new_event` a read that finds nothing new
waits on the run's history watchers (only for its close with the CLOSE_EVENT filter)
until something is written or the caller's time is up, then answers with a token that
resumes where it stopped; while the run is open every such answer carries one, also
with events (`temporal workflow show --follow` follows until the run closes).
"""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine.execution import HistoryEvent
from perdure.server.engine.state import ExecutionState
from perdure.server.history.history_pages import HistoryPages, PageToken
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10_000
_CLOSE_EVENT = wf_enums.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT


def _page_size(requested: int) -> int:
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


async def get_workflow_history(
    history: HistoryService,
    ns: Namespace,
    request: rr.GetWorkflowExecutionHistoryRequest,
    *,
    wait_seconds: float,
) -> rr.GetWorkflowExecutionHistoryResponse:
    """The next page of the run's events; with `wait_new_event`, waiting up to
    `wait_seconds` for events when there are none yet."""
    pages = HistoryPages(history)
    workflow_id = request.execution.workflow_id
    token = PageToken.decode(request.next_page_token) if request.next_page_token else None
    run_id = token.run_id if token else request.execution.run_id
    run_id = await history.resolve_run_id(ns, workflow_id, run_id)
    wait = request.wait_new_event
    loop = asyncio.get_running_loop()
    wait_until = loop.time() + wait_seconds
    while True:
        waiter = history.watchers.waiter(
            ns.id, run_id, close_only=request.history_event_filter_type == _CLOSE_EVENT
        )
        st: ExecutionState = await history.read(ns, workflow_id, run_id, lambda s: s)
        resp = await _page(pages, ns, st, request, token)
        left = wait_until - loop.time()
        if not wait or resp.history.events or not st.running or left <= 0:
            if wait and st.running and not resp.next_page_token:
                # A follower goes on until the run closes, as with Temporal.
                resp.next_page_token = (
                    _after_token(st, resp.history.events[-1].event_id)
                    if resp.history.events
                    else request.next_page_token or _resume_token(st, token)
                )
            return resp
        try:
            await asyncio.wait_for(waiter.wait(), left)
        except TimeoutError:
            pass


async def _page(
    pages: HistoryPages,
    ns: Namespace,
    st: ExecutionState,
    request: rr.GetWorkflowExecutionHistoryRequest,
    token: PageToken | None,
) -> rr.GetWorkflowExecutionHistoryResponse:
    resp = rr.GetWorkflowExecutionHistoryResponse()
    if request.history_event_filter_type == _CLOSE_EVENT:
        if not st.running and st.close_event_id:
            resp.history.events.extend(
                await pages.read(
                    ns, st.workflow_id, st.run_id, st.close_event_id, st.close_event_id, 1
                )
            )
        return resp
    first = token.next_event_id if token else 1
    # While a workflow task runs, its started event is the last one clients may see.
    last = token.last_event_id if token and token.last_event_id else st.next_event_id - 1
    page = _page_size(request.maximum_page_size)
    events: list[HistoryEvent] = []
    if first <= last:
        events = await pages.read(ns, st.workflow_id, st.run_id, first, last, page)
    resp.history.events.extend(events)
    shown = events[-1].event_id if events else first - 1
    if shown < last:
        resp.next_page_token = pages.token(
            st.run_id, shown + 1, last, token.transient if token else []
        )
    elif token is not None and token.transient:
        resp.history.events.extend(token.transient)
    return resp


def _after_token(st: ExecutionState, event_id: int) -> bytes:
    """Where a long poll that returned events up to `event_id` resumes."""
    return HistoryPages.token(st.run_id, event_id + 1, 0, [])


def _resume_token(st: ExecutionState, token: PageToken | None) -> bytes:
    """Where a long poll that found nothing new resumes (0: up to the end then)."""
    next_id = token.next_event_id if token else st.next_event_id
    return HistoryPages.token(st.run_id, next_id, 0, [])


async def get_workflow_history_reverse(
    history: HistoryService, ns: Namespace, request: rr.GetWorkflowExecutionHistoryReverseRequest
) -> rr.GetWorkflowExecutionHistoryReverseResponse:
    """The run's events newest first, a page at a time."""
    pages = HistoryPages(history)
    workflow_id = request.execution.workflow_id
    token = PageToken.decode(request.next_page_token) if request.next_page_token else None
    run_id = token.run_id if token else request.execution.run_id
    run_id = await history.resolve_run_id(ns, workflow_id, run_id)
    st: ExecutionState = await history.read(ns, workflow_id, run_id, lambda s: s)
    last = token.last_event_id if token else st.next_event_id - 1
    first = max(1, last - _page_size(request.maximum_page_size) + 1)
    events = await pages.read(ns, workflow_id, run_id, first, last, 0)
    resp = rr.GetWorkflowExecutionHistoryReverseResponse()
    resp.history.events.extend(reversed(events))
    if first > 1:
        resp.next_page_token = pages.token(run_id, 1, first - 1, [])
    return resp
