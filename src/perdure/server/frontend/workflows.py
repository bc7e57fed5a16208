"""Client-facing workflow RPCs: start, signal, cancel, terminate, describe, history."""

from __future__ import annotations

import asyncio
from typing import Any, TypeAlias

import grpc
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.history.v1 import message_pb2 as history_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import describe, requests, start, workflow_task
from perdure.server.engine.execution import Execution, HistoryEvent
from perdure.server.engine.state import ExecutionState
from perdure.server.errors import InvalidArgument
from perdure.server.frontend.context import FrontendContext
from perdure.server.frontend.history_pages import HistoryPages, PageToken
from perdure.server.frontend.limits import check_payloads
from perdure.server.frontend.rpc import remaining_seconds
from perdure.server.frontend.tasks import workflow_task_response
from perdure.server.namespaces import Namespace
from perdure.server.store.base import ConditionFailed

Ctx: TypeAlias = grpc.aio.ServicerContext
HISTORY_LONG_POLL_SECONDS = 20.0
DEFAULT_HISTORY_PAGE = 1000
MAX_HISTORY_PAGE = 10_000
_CLOSE_EVENT = wf_enums.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT


class WorkflowRpcs(FrontendContext):
    # ------------------------------------------------------------------ start

    def _check_start(self, ns: Namespace, request: start.StartRequest) -> None:
        start.validate(request)
        check_payloads(request.input, "input", self.limits)
        if request.memo.ByteSize() > self.limits.memo_size_error:
            raise InvalidArgument("Memo size exceeds limit.")
        if request.HasField("search_attributes"):
            validate = self.search_attribute_validator(ns)
            if validate is not None:
                validate(request.search_attributes)

    async def _start(
        self,
        ns: Namespace,
        request: start.StartRequest,
        *,
        signal_with_start: bool,
        eager: list[rr.PollWorkflowTaskQueueResponse] | None = None,
    ) -> tuple[str, bool]:
        """Start (or find) the run for a start or signal-with-start request.

        With `eager`, the new run's first workflow task starts in the same commit and its
        poll response is appended there (eager workflow start).
        """
        if not request.request_id:
            request.request_id = self.history.new_id()
        async with self.history.workflow_lock(ns, request.workflow_id):
            for _ in range(10):
                current = await self.store.get_current_execution(ns.id, request.workflow_id)
                decision = start.decide(request, current, signal_with_start=signal_with_start)
                if not decision.create:
                    if decision.signal_current:
                        assert isinstance(request, rr.SignalWithStartWorkflowExecutionRequest)
                        await self._signal_locked(ns, request, decision.existing_run_id)
                    # A repeat of the request that made the run reports it as started.
                    repeat = current is not None and current.start_request_id == request.request_id
                    return decision.existing_run_id, repeat
                run_id = self.history.new_id()
                now = self.history.clock.now_ns()
                new = start.new_run(
                    request, namespace=ns.name, namespace_id=ns.id, run_id=run_id, now=now
                )
                parts: list[tuple[Execution, int | None]] = [(new, None)]
                eager_task = None
                wt = new.state.workflow_task
                if eager is not None and wt is not None:
                    eager_task = workflow_task.start(
                        new, wt.seq, identity=request.identity, request_id=request.request_id
                    )
                if decision.terminate_current and current is not None:
                    cached = await self.history.load_locked(ns, request.workflow_id, current.run_id)
                    old = Execution(cached.state, now, ns.name)
                    start.terminate_for_new_run(old, run_id, request.identity)
                    parts.insert(0, (old, cached.version))
                try:
                    await self.history.commit(
                        ns, parts, current_expected=current.run_id if current else None
                    )
                except ConditionFailed:
                    if current is not None:
                        self.history.evict(ns, current.run_id)
                    continue
                if eager is not None and eager_task is not None:
                    resp = workflow_task_response(new, eager_task)
                    resp.history.events.extend(new.out.events)
                    eager.append(resp)
                return run_id, True
        raise InvalidArgument("could not start the workflow: too many concurrent changes")

    async def _signal_locked(
        self, ns: Namespace, request: rr.SignalWithStartWorkflowExecutionRequest, run_id: str
    ) -> None:
        attrs = start.signal_attributes(request)
        cached = await self.history.load_locked(ns, request.workflow_id, run_id)
        ex = Execution(cached.state, self.history.clock.now_ns(), ns.name)
        try:
            requests.signal(ex, attrs)
            await self.history.commit(ns, [(ex, cached.version)], current_expected=run_id)
        except BaseException:
            self.history.evict(ns, run_id)
            raise

    async def StartWorkflowExecution(
        self, request: rr.StartWorkflowExecutionRequest, context: Ctx
    ) -> rr.StartWorkflowExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        self._check_start(ns, request)
        eager: list[rr.PollWorkflowTaskQueueResponse] | None = (
            [] if request.request_eager_execution else None
        )
        run_id, started = await self._start(ns, request, signal_with_start=False, eager=eager)
        resp = rr.StartWorkflowExecutionResponse(
            run_id=run_id, started=started, status=wf_enums.WORKFLOW_EXECUTION_STATUS_RUNNING
        )
        if eager:
            resp.eager_workflow_task.CopyFrom(eager[0])
        return resp

    async def SignalWithStartWorkflowExecution(
        self, request: rr.SignalWithStartWorkflowExecutionRequest, context: Ctx
    ) -> rr.SignalWithStartWorkflowExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        self._check_start(ns, request)
        if not request.signal_name:
            raise InvalidArgument("SignalName is not set on request.")
        check_payloads(request.signal_input, "signal input", self.limits)
        run_id, started = await self._start(ns, request, signal_with_start=True)
        return rr.SignalWithStartWorkflowExecutionResponse(run_id=run_id, started=started)

    # ------------------------------------------------------------------ requests

    async def SignalWorkflowExecution(
        self, request: rr.SignalWorkflowExecutionRequest, context: Ctx
    ) -> rr.SignalWorkflowExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        _require_workflow_id(request.workflow_execution.workflow_id)
        if not request.signal_name:
            raise InvalidArgument("SignalName is not set on request.")
        check_payloads(request.input, "signal input", self.limits)
        attrs = history_pb2.WorkflowExecutionSignaledEventAttributes(
            signal_name=request.signal_name,
            identity=request.identity,
            request_id=request.request_id,
        )
        if request.HasField("input"):
            attrs.input.CopyFrom(request.input)
        if request.HasField("header"):
            attrs.header.CopyFrom(request.header)
        await self.history.update(
            ns,
            request.workflow_execution.workflow_id,
            request.workflow_execution.run_id,
            lambda ex: requests.signal(ex, attrs),
        )
        return rr.SignalWorkflowExecutionResponse()

    async def RequestCancelWorkflowExecution(
        self, request: rr.RequestCancelWorkflowExecutionRequest, context: Ctx
    ) -> rr.RequestCancelWorkflowExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        _require_workflow_id(request.workflow_execution.workflow_id)
        await self.history.update(
            ns,
            request.workflow_execution.workflow_id,
            request.workflow_execution.run_id,
            lambda ex: requests.request_cancel(
                ex, request_id=request.request_id, identity=request.identity, reason=request.reason
            ),
            first_execution_run_id=request.first_execution_run_id,
        )
        return rr.RequestCancelWorkflowExecutionResponse()

    async def TerminateWorkflowExecution(
        self, request: rr.TerminateWorkflowExecutionRequest, context: Ctx
    ) -> rr.TerminateWorkflowExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        _require_workflow_id(request.workflow_execution.workflow_id)
        check_payloads(request.details, "details", self.limits)
        details = request.details if request.HasField("details") else None
        await self.history.update(
            ns,
            request.workflow_execution.workflow_id,
            request.workflow_execution.run_id,
            lambda ex: requests.terminate(
                ex, reason=request.reason, details=details, identity=request.identity
            ),
            first_execution_run_id=request.first_execution_run_id,
        )
        return rr.TerminateWorkflowExecutionResponse()

    async def ResetStickyTaskQueue(
        self, request: rr.ResetStickyTaskQueueRequest, context: Ctx
    ) -> rr.ResetStickyTaskQueueResponse:
        ns = await self.namespaces.get(request.namespace)
        _require_workflow_id(request.execution.workflow_id)
        await self.history.update(
            ns, request.execution.workflow_id, request.execution.run_id,
            workflow_task.clear_stickiness,
        )  # fmt: skip
        return rr.ResetStickyTaskQueueResponse()

    # ------------------------------------------------------------------ reads

    async def DescribeWorkflowExecution(
        self, request: rr.DescribeWorkflowExecutionRequest, context: Ctx
    ) -> rr.DescribeWorkflowExecutionResponse:
        ns = await self.namespaces.get(request.namespace)
        _require_workflow_id(request.execution.workflow_id)
        resp = await self.history.read(
            ns, request.execution.workflow_id, request.execution.run_id, describe.describe
        )
        self.annotate_search_attributes(ns, resp.workflow_execution_info)
        return resp

    def annotate_search_attributes(self, ns: Namespace, info: Any) -> None:
        """Describe and list return search attributes with their registered types."""
        if info.HasField("search_attributes"):
            from perdure.server.visibility import annotate_types

            info.search_attributes.CopyFrom(
                annotate_types(info.search_attributes, ns.search_attribute_aliases)
            )

    async def GetWorkflowExecutionHistory(
        self, request: rr.GetWorkflowExecutionHistoryRequest, context: Ctx
    ) -> rr.GetWorkflowExecutionHistoryResponse:
        ns = await self.namespaces.get(request.namespace)
        workflow_id = request.execution.workflow_id
        _require_workflow_id(workflow_id)
        token = PageToken.decode(request.next_page_token) if request.next_page_token else None
        run_id = token.run_id if token else request.execution.run_id
        run_id = await self.history.resolve_run_id(ns, workflow_id, run_id)
        wait = request.wait_new_event
        deadline = asyncio.get_running_loop().time() + remaining_seconds(
            context, HISTORY_LONG_POLL_SECONDS
        )
        while True:
            waiter = self.history.watchers.waiter(
                ns.id, run_id, close_only=request.history_event_filter_type == _CLOSE_EVENT
            )
            st: ExecutionState = await self.history.read(ns, workflow_id, run_id, lambda s: s)
            resp = await self._history_page(ns, st, request, token)
            left = deadline - asyncio.get_running_loop().time()
            if not wait or resp.history.events or not st.running or left <= 0:
                if wait and not resp.history.events and st.running:
                    resp.next_page_token = request.next_page_token or _resume_token(st, token)
                return resp
            try:
                await asyncio.wait_for(waiter.wait(), left)
            except TimeoutError:
                pass

    async def _history_page(
        self,
        ns: Namespace,
        st: ExecutionState,
        request: rr.GetWorkflowExecutionHistoryRequest,
        token: PageToken | None,
    ) -> rr.GetWorkflowExecutionHistoryResponse:
        resp = rr.GetWorkflowExecutionHistoryResponse()
        if request.history_event_filter_type == _CLOSE_EVENT:
            if not st.running and st.close_event_id:
                resp.history.events.extend(
                    await self.history_pages.read(
                        ns, st.workflow_id, st.run_id, st.close_event_id, st.close_event_id, 1
                    )
                )
            return resp
        first = token.next_event_id if token else 1
        # While a workflow task runs, its started event is the last one clients may see.
        last = token.last_event_id if token and token.last_event_id else st.next_event_id - 1
        page = min(request.maximum_page_size or DEFAULT_HISTORY_PAGE, MAX_HISTORY_PAGE)
        events: list[HistoryEvent] = []
        if first <= last:
            events = await self.history_pages.read(ns, st.workflow_id, st.run_id, first, last, page)
        resp.history.events.extend(events)
        shown = events[-1].event_id if events else first - 1
        if shown < last:
            resp.next_page_token = self.history_pages.token(
                st.run_id, shown + 1, last, token.transient if token else []
            )
        elif token is not None and token.transient:
            resp.history.events.extend(token.transient)
        return resp

    async def GetWorkflowExecutionHistoryReverse(
        self, request: rr.GetWorkflowExecutionHistoryReverseRequest, context: Ctx
    ) -> rr.GetWorkflowExecutionHistoryReverseResponse:
        ns = await self.namespaces.get(request.namespace)
        workflow_id = request.execution.workflow_id
        _require_workflow_id(workflow_id)
        token = PageToken.decode(request.next_page_token) if request.next_page_token else None
        run_id = token.run_id if token else request.execution.run_id
        run_id = await self.history.resolve_run_id(ns, workflow_id, run_id)
        st: ExecutionState = await self.history.read(ns, workflow_id, run_id, lambda s: s)
        last = token.last_event_id if token else st.next_event_id - 1
        page = min(request.maximum_page_size or DEFAULT_HISTORY_PAGE, MAX_HISTORY_PAGE)
        first = max(1, last - page + 1)
        events = await self.history_pages.read(ns, workflow_id, run_id, first, last, 0)
        resp = rr.GetWorkflowExecutionHistoryReverseResponse()
        resp.history.events.extend(reversed(events))
        if first > 1:
            resp.next_page_token = self.history_pages.token(run_id, 1, first - 1, [])
        return resp


def _resume_token(st: ExecutionState, token: PageToken | None) -> bytes:
    """Where a long poll that found nothing new resumes (0: up to the end then)."""
    next_id = token.next_event_id if token else st.next_event_id
    return HistoryPages.token(st.run_id, next_id, 0, [])


def _require_workflow_id(workflow_id: str) -> None:
    if not workflow_id:
        raise InvalidArgument("WorkflowId is not set on request.")
    if len(workflow_id) > 1000:
        raise InvalidArgument("WorkflowId exceeds length limit.")
