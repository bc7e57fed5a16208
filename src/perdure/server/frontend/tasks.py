"""Worker-facing RPCs: polling workflow and activity tasks, and answering them."""

from __future__ import annotations

import logging
from typing import Any

from temporalio.api.enums.v1 import failed_cause_pb2 as causes
from temporalio.api.enums.v1 import task_queue_pb2 as tq_enums
from temporalio.api.failure.v1 import message_pb2 as failure_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import activities, commands, completion, updates, workflow_task
from perdure.server.engine.deadlines import parse_activity_task_key, parse_workflow_task_key
from perdure.server.engine.execution import Execution
from perdure.server.engine.tokens import TaskToken, TokenKind
from perdure.server.engine.workflow_task import StaleTask, StartedWorkflowTask
from perdure.server.errors import InvalidArgument, NamespaceNotFound, NotFound
from perdure.server.frontend.context import FrontendContext
from perdure.server.frontend.deadline import Deadline, remaining_seconds
from perdure.server.frontend.interactions import query_task_response
from perdure.server.frontend.limits import check_blob, check_payloads
from perdure.server.matching.queries import QueryAnswer, QueryTask
from perdure.server.matching.queues import DirectDispatch, Handoff
from perdure.server.namespaces import Namespace
from perdure.server.store.base import TaskKind, TaskRow

log = logging.getLogger(__name__)

LONG_POLL_SECONDS = 55.0
HISTORY_PAGE_SIZE = 1000


def workflow_task_response(
    ex: Execution, started: StartedWorkflowTask
) -> rr.PollWorkflowTaskQueueResponse:
    """The poll response of a started workflow task, except its history."""
    st, wt = ex.state, started.info
    token = TaskToken(
        TokenKind.WORKFLOW_TASK,
        st.namespace_id,
        st.workflow_id,
        st.run_id,
        scheduled_event_id=wt.seq,
        attempt=wt.attempt,
        started_event_id=wt.started_event_id,
    )
    resp = rr.PollWorkflowTaskQueueResponse(
        task_token=token.encode(),
        previous_started_event_id=started.previous_started_event_id,
        started_event_id=wt.started_event_id,
        attempt=wt.attempt,
    )
    resp.workflow_execution.workflow_id = st.workflow_id
    resp.workflow_execution.run_id = st.run_id
    resp.workflow_type.name = st.workflow_type
    resp.workflow_execution_task_queue.name = st.task_queue
    resp.workflow_execution_task_queue.kind = tq_enums.TASK_QUEUE_KIND_NORMAL
    resp.scheduled_time.FromNanoseconds(wt.scheduled_time)
    resp.started_time.FromNanoseconds(wt.started_time)
    return resp


class TaskRpcs(FrontendContext):
    # ------------------------------------------------------------------ workflow tasks

    async def PollWorkflowTaskQueue(
        self, request: rr.PollWorkflowTaskQueueRequest, deadline: Deadline
    ) -> rr.PollWorkflowTaskQueueResponse:
        ns = await self.namespaces.get(request.namespace)
        name = _queue_name(request.task_queue)
        queue = self.matching.queue(ns.id, name, TaskKind.WORKFLOW)
        if request.task_queue.kind == tq_enums.TASK_QUEUE_KIND_STICKY:
            queue.sticky = True
            queue.closed = False
        queue.record_poller(request.identity, request.worker_version_capabilities.build_id)
        poll_until = self.clock_monotonic() + remaining_seconds(deadline, LONG_POLL_SECONDS)
        while (left := poll_until - self.clock_monotonic()) > 0:
            row = await queue.poll(left, request.identity)
            if row is None:
                break
            if isinstance(row, Handoff):
                resp = row.response
                await self.fill_history(ns, resp, row.started)
                resp.backlog_count_hint = queue.backlog_hint
                return resp  # type: ignore[no-any-return]
            if isinstance(row, QueryTask):
                try:
                    return await self._query_task(ns, row, queue.sticky)
                except (NotFound, NamespaceNotFound) as err:
                    row.resolve(QueryAnswer(False, error_message=err.message))
                    continue
                except BaseException:
                    queue.requeue(row)
                    raise
            try:
                resp = await self._start_workflow_task(ns, row, request)
            except (StaleTask, NotFound, NamespaceNotFound):
                queue.resolved(row.key)
                await self.store.delete_tasks([row.key])
                continue
            except BaseException:
                queue.requeue(row)
                raise
            queue.resolved(row.key)
            resp.backlog_count_hint = queue.backlog_hint
            return resp
        return rr.PollWorkflowTaskQueueResponse()

    async def _start_workflow_task(
        self, ns: Namespace, row: TaskRow, poll: rr.PollWorkflowTaskQueueRequest
    ) -> rr.PollWorkflowTaskQueueResponse:
        seq = parse_workflow_task_key(row.key)
        request_id = self.history.new_id()

        def start(ex: Execution) -> tuple[rr.PollWorkflowTaskQueueResponse, StartedWorkflowTask]:
            started = workflow_task.start(ex, seq, identity=poll.identity, request_id=request_id)
            return self.workflow_task_response(ex, started), started

        resp, started = await self.history.update(ns, row.workflow_id, row.run_id, start)
        await self.fill_history(ns, resp, started)
        return resp

    def dispatch_directly(self, ns: Namespace, ex: Execution) -> list[DirectDispatch]:
        """Commit hook: a task the commit adds, whose queue has a poller waiting in this
        process, starts in that same commit and goes straight to the poller (sync match
        without a second transition)."""
        out: list[DirectDispatch] = []
        for row in list(ex.out.tasks_added):
            queue = self.matching.find(row.namespace_id, row.task_queue, row.kind)
            taken = queue.take_idle_poller() if queue is not None else None
            if queue is None or taken is None:
                continue
            waiter, identity = taken
            request_id = self.history.new_id()
            try:
                if row.kind == TaskKind.WORKFLOW:
                    seq = parse_workflow_task_key(row.key)
                    started = workflow_task.start(ex, seq, identity=identity, request_id=request_id)
                    handoff = Handoff(row.key, self.workflow_task_response(ex, started), started)
                else:
                    sched, attempt = parse_activity_task_key(row.key)
                    info = activities.start(
                        ex, sched, attempt, identity=identity, request_id=request_id
                    )
                    handoff = Handoff(row.key, activities.task_response(ex, info))
            except StaleTask:
                queue.give_back_poller(waiter)
                continue
            out.append(DirectDispatch(queue, waiter, handoff))
        return out

    def workflow_task_response(
        self, ex: Execution, started: StartedWorkflowTask
    ) -> rr.PollWorkflowTaskQueueResponse:
        """The response, with the update requests and queries the task carries."""
        resp = workflow_task_response(ex, started)
        resp.messages.extend(updates.request_messages(ex, started.info))
        for task in self.queries.take_for_task(ex.state.namespace_id, ex.state.run_id):
            resp.queries[task.query_id].CopyFrom(task.query)
        return resp

    async def _query_task(
        self, ns: Namespace, task: QueryTask, sticky: bool
    ) -> rr.PollWorkflowTaskQueueResponse:
        st = await self.history.read(ns, task.workflow_id, task.run_id, lambda s: s)
        resp = query_task_response(st, task)
        if not sticky:
            last = st.next_event_id - 1
            events = await self.history_pages.read(
                ns, st.workflow_id, st.run_id, 1, last, HISTORY_PAGE_SIZE
            )
            resp.history.events.extend(events)
            if events and events[-1].event_id < last:
                resp.next_page_token = self.history_pages.token(
                    st.run_id, events[-1].event_id + 1, last, []
                )
        return resp

    async def fill_history(
        self, ns: Namespace, resp: rr.PollWorkflowTaskQueueResponse, started: StartedWorkflowTask
    ) -> None:
        """Put the events the worker needs into a workflow task (paged if long)."""
        wt = started.info
        first = started.previous_started_event_id + 1 if wt.sticky else 1
        # Unwritten scheduled/started events (a transient or speculative task) come last.
        last = wt.started_event_id if wt.started_event_written else wt.scheduled_event_id - 1
        events = await self.history_pages.read(
            ns, resp.workflow_execution.workflow_id, resp.workflow_execution.run_id, first, last,
            HISTORY_PAGE_SIZE,
        )  # fmt: skip
        resp.history.events.extend(events)
        shown = events[-1].event_id if events else first - 1
        if shown < last:
            resp.next_page_token = self.history_pages.token(
                resp.workflow_execution.run_id, shown + 1, last, started.transient_events
            )
        else:
            resp.history.events.extend(started.transient_events)

    async def RespondWorkflowTaskCompleted(
        self, request: rr.RespondWorkflowTaskCompletedRequest, deadline: Deadline
    ) -> rr.RespondWorkflowTaskCompletedResponse:
        token = TaskToken.decode(request.task_token)
        if token.kind != TokenKind.WORKFLOW_TASK:
            raise InvalidArgument("Task token is not for a workflow task.")
        ns = await self.namespaces.get_by_id(token.namespace_id)
        for command in request.commands:
            check_blob(command.ByteSize(), "command")
        validator = self.search_attribute_validator(ns)

        def complete(ex: Execution) -> tuple[completion.CompletionResult, Any, list[Any]]:
            result = completion.complete(
                ex,
                token,
                request,
                new_id=self.history.new_id,
                validate_search_attributes=validator,
            )
            inline = (
                self.workflow_task_response(ex, result.new_workflow_task)
                if result.new_workflow_task
                else None
            )
            eager = [activities.task_response(ex, info) for info in result.eager_activities]
            return result, inline, eager

        self.queries.resolve_results(request.query_results)
        self.queries.task_done(token.namespace_id, token.run_id)
        try:
            result, inline, eager = await self.history.update(
                ns, token.workflow_id, token.run_id, complete
            )
        except commands.BadCommand as bad:
            await self._fail_for_bad_command(ns, token, request.identity, bad)
            name = causes.WorkflowTaskFailedCause.Name(bad.cause)  # type: ignore[arg-type]
            raise InvalidArgument(f"{name}: {bad.message}") from None
        resp = rr.RespondWorkflowTaskCompletedResponse(
            activity_tasks=eager, reset_history_event_id=result.reset_history_event_id
        )
        if inline is not None and result.new_workflow_task is not None:
            await self.fill_history(ns, inline, result.new_workflow_task)
            resp.workflow_task.CopyFrom(inline)
        return resp

    async def _fail_for_bad_command(
        self, ns: Namespace, token: TaskToken, identity: str, bad: commands.BadCommand
    ) -> None:
        failure = failure_pb2.Failure(message=bad.message)
        failure.server_failure_info.non_retryable = True

        def fail(ex: Execution) -> None:
            wt = workflow_task.require_started(ex, token.scheduled_event_id, token.started_event_id)
            workflow_task.fail(ex, wt, cause=bad.cause, failure=failure, identity=identity)

        await self.history.update(ns, token.workflow_id, token.run_id, fail)

    async def RespondWorkflowTaskFailed(
        self, request: rr.RespondWorkflowTaskFailedRequest, deadline: Deadline
    ) -> rr.RespondWorkflowTaskFailedResponse:
        token = TaskToken.decode(request.task_token)
        if token.kind != TokenKind.WORKFLOW_TASK:
            raise InvalidArgument("Task token is not for a workflow task.")
        ns = await self.namespaces.get_by_id(token.namespace_id)
        check_blob(request.failure.ByteSize(), "failure")

        def fail(ex: Execution) -> None:
            wt = workflow_task.require_started(ex, token.scheduled_event_id, token.started_event_id)
            if request.cause == causes.WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE:
                workflow_task.clear_stickiness(ex)
            workflow_task.fail(
                ex,
                wt,
                cause=request.cause,
                failure=request.failure if request.HasField("failure") else None,
                identity=request.identity,
                binary_checksum=request.binary_checksum,
            )

        self.queries.fail_riding(token.namespace_id, token.run_id, "workflow task failed")
        await self.history.update(ns, token.workflow_id, token.run_id, fail)
        return rr.RespondWorkflowTaskFailedResponse()

    # ------------------------------------------------------------------ activity tasks

    async def PollActivityTaskQueue(
        self, request: rr.PollActivityTaskQueueRequest, deadline: Deadline
    ) -> rr.PollActivityTaskQueueResponse:
        ns = await self.namespaces.get(request.namespace)
        queue = self.matching.queue(ns.id, _queue_name(request.task_queue), TaskKind.ACTIVITY)
        queue.record_poller(request.identity, request.worker_version_capabilities.build_id)
        poll_until = self.clock_monotonic() + remaining_seconds(deadline, LONG_POLL_SECONDS)
        while (left := poll_until - self.clock_monotonic()) > 0:
            row = await queue.poll(left, request.identity)
            if row is None:
                break
            if isinstance(row, Handoff):
                return row.response  # type: ignore[no-any-return]
            assert isinstance(row, TaskRow), "activity queues carry no queries"
            sched, attempt = parse_activity_task_key(row.key)
            request_id = self.history.new_id()

            def start(
                ex: Execution, sched: int = sched, attempt: int = attempt, rid: str = request_id
            ) -> Any:
                info = activities.start(
                    ex, sched, attempt, identity=request.identity, request_id=rid
                )
                return activities.task_response(ex, info)

            try:
                resp: rr.PollActivityTaskQueueResponse = await self.history.update(
                    ns, row.workflow_id, row.run_id, start
                )
            except (StaleTask, NotFound, NamespaceNotFound):
                queue.resolved(row.key)
                await self.store.delete_tasks([row.key])
                continue
            except BaseException:
                queue.requeue(row)
                raise
            queue.resolved(row.key)
            return resp
        return rr.PollActivityTaskQueueResponse()

    async def _activity_update(self, token_bytes: bytes, action: Any) -> Any:
        token = TaskToken.decode(token_bytes)
        if token.kind != TokenKind.ACTIVITY_TASK:
            raise InvalidArgument("Task token is not for an activity task.")
        ns = await self.namespaces.get_by_id(token.namespace_id)

        def apply(ex: Execution) -> Any:
            return action(ex, activities.require_started(ex, token))

        return await self.history.update(ns, token.workflow_id, token.run_id, apply)

    async def _activity_update_by_id(
        self, namespace: str, workflow_id: str, run_id: str, activity_id: str, action: Any
    ) -> Any:
        if not workflow_id or not activity_id:
            raise InvalidArgument("WorkflowId and ActivityId are required.")
        ns = await self.namespaces.get(namespace)

        def apply(ex: Execution) -> Any:
            return action(ex, activities.find_started_by_id(ex, activity_id))

        return await self.history.update(ns, workflow_id, run_id, apply)

    async def RespondActivityTaskCompleted(
        self, request: rr.RespondActivityTaskCompletedRequest, deadline: Deadline
    ) -> rr.RespondActivityTaskCompletedResponse:
        await self._activity_update(
            request.task_token, self._completer(request.result, request.identity)
        )
        return rr.RespondActivityTaskCompletedResponse()

    async def RespondActivityTaskCompletedById(
        self, request: rr.RespondActivityTaskCompletedByIdRequest, deadline: Deadline
    ) -> rr.RespondActivityTaskCompletedByIdResponse:
        await self._activity_update_by_id(
            request.namespace, request.workflow_id, request.run_id, request.activity_id,
            self._completer(request.result, request.identity),
        )  # fmt: skip
        return rr.RespondActivityTaskCompletedByIdResponse()

    def _completer(self, result: Any, identity: str) -> Any:
        size = result.ByteSize()

        def done(ex: Execution, info: Any) -> None:
            if size > self.limits.blob_size_error:
                # As Temporal: an oversize result fails the attempt instead.
                failure = failure_pb2.Failure(message="Complete result exceeds size limit.")
                failure.server_failure_info.non_retryable = True
                activities.fail(ex, info, failure, identity=identity)
            else:
                activities.complete(ex, info, result if result.payloads else None, identity)

        return done

    async def RespondActivityTaskFailed(
        self, request: rr.RespondActivityTaskFailedRequest, deadline: Deadline
    ) -> rr.RespondActivityTaskFailedResponse:
        await self._activity_update(request.task_token, self._failer(request))
        return rr.RespondActivityTaskFailedResponse()

    async def RespondActivityTaskFailedById(
        self, request: rr.RespondActivityTaskFailedByIdRequest, deadline: Deadline
    ) -> rr.RespondActivityTaskFailedByIdResponse:
        await self._activity_update_by_id(
            request.namespace, request.workflow_id, request.run_id, request.activity_id,
            self._failer(request),
        )  # fmt: skip
        return rr.RespondActivityTaskFailedByIdResponse()

    def _failer(self, request: Any) -> Any:
        check_blob(request.failure.ByteSize(), "failure")
        details = (
            request.last_heartbeat_details if request.HasField("last_heartbeat_details") else None
        )

        def fail(ex: Execution, info: Any) -> None:
            activities.fail(
                ex, info, request.failure, identity=request.identity,
                last_heartbeat_details=details,
            )  # fmt: skip

        return fail

    async def RespondActivityTaskCanceled(
        self, request: rr.RespondActivityTaskCanceledRequest, deadline: Deadline
    ) -> rr.RespondActivityTaskCanceledResponse:
        await self._activity_update(request.task_token, self._canceler(request))
        return rr.RespondActivityTaskCanceledResponse()

    async def RespondActivityTaskCanceledById(
        self, request: rr.RespondActivityTaskCanceledByIdRequest, deadline: Deadline
    ) -> rr.RespondActivityTaskCanceledByIdResponse:
        await self._activity_update_by_id(
            request.namespace, request.workflow_id, request.run_id, request.activity_id,
            self._canceler(request),
        )  # fmt: skip
        return rr.RespondActivityTaskCanceledByIdResponse()

    def _canceler(self, request: Any) -> Any:
        check_payloads(request.details, "details")
        details = request.details if request.HasField("details") else None

        def cancel(ex: Execution, info: Any) -> None:
            activities.cancel_completed(ex, info, details, request.identity)

        return cancel

    async def RecordActivityTaskHeartbeat(
        self, request: rr.RecordActivityTaskHeartbeatRequest, deadline: Deadline
    ) -> rr.RecordActivityTaskHeartbeatResponse:
        cancel = await self._activity_update(request.task_token, self._heartbeater(request))
        return rr.RecordActivityTaskHeartbeatResponse(cancel_requested=cancel)

    async def RecordActivityTaskHeartbeatById(
        self, request: rr.RecordActivityTaskHeartbeatByIdRequest, deadline: Deadline
    ) -> rr.RecordActivityTaskHeartbeatByIdResponse:
        cancel = await self._activity_update_by_id(
            request.namespace, request.workflow_id, request.run_id, request.activity_id,
            self._heartbeater(request),
        )  # fmt: skip
        return rr.RecordActivityTaskHeartbeatByIdResponse(cancel_requested=cancel)

    def _heartbeater(self, request: Any) -> Any:
        check_payloads(request.details, "details")
        details = request.details if request.HasField("details") else None

        def beat(ex: Execution, info: Any) -> bool:
            return activities.heartbeat(ex, info, details)

        return beat


def _queue_name(task_queue: Any) -> str:
    if not task_queue.name:
        raise InvalidArgument("TaskQueue is not set on request.")
    if len(task_queue.name) > 1000:
        raise InvalidArgument("TaskQueue length exceeds limit.")
    return str(task_queue.name)
