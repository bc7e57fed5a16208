"""Worker-facing RPCs: polling workflow and activity tasks, and answering them.

Each handler resolves the namespace, validates the request and checks its limits, then
calls the history operation that does the work (server/history/api/) and shapes the
response; workflow task responses get the history the worker needs, in pages.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import task_queue_pb2 as tq_enums
from temporalio.api.taskqueue.v1 import message_pb2 as tq_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import tokens
from perdure.server.errors import InvalidArgument, NamespaceNotFound, NotFound
from perdure.server.frontend.context import FrontendContext
from perdure.server.frontend.deadline import Deadline, task_poll_seconds
from perdure.server.frontend.interactions import query_task_response
from perdure.server.frontend.limits import check_blob, check_payloads
from perdure.server.history.api.record_activity_task_heartbeat import (
    record_activity_task_heartbeat,
)
from perdure.server.history.api.record_activity_task_started import record_activity_task_started
from perdure.server.history.api.record_workflow_task_started import (
    record_workflow_task_started,
)
from perdure.server.history.api.record_workflow_task_started import (
    workflow_task_response as workflow_task_response,  # workflows.py: eager start
)
from perdure.server.history.api.respond_activity_task_canceled import (
    respond_activity_task_canceled,
)
from perdure.server.history.api.respond_activity_task_completed import (
    respond_activity_task_completed,
)
from perdure.server.history.api.respond_activity_task_failed import respond_activity_task_failed
from perdure.server.history.api.respond_workflow_task_completed import (
    respond_workflow_task_completed,
)
from perdure.server.history.api.respond_workflow_task_failed import respond_workflow_task_failed
from perdure.server.history.api.started_activity import (
    ActivityById,
    ActivityByToken,
    StartedActivity,
)
from perdure.server.matching.polling import poll_activity_task, poll_workflow_task
from perdure.server.matching.queries import QueryAnswer, QueryTask
from perdure.server.matching.queues import WorkflowTaskStart
from perdure.server.namespaces import Namespace
from perdure.server.store.base import TaskKind, TaskRow

LONG_POLL_SECONDS = 55.0
HISTORY_PAGE_SIZE = 1000


class TaskRpcs(FrontendContext):
    # ------------------------------------------------------------------ workflow tasks

    async def PollWorkflowTaskQueue(
        self, request: rr.PollWorkflowTaskQueueRequest, deadline: Deadline
    ) -> rr.PollWorkflowTaskQueueResponse:
        wait = task_poll_seconds(deadline, LONG_POLL_SECONDS)
        ns = await self.namespaces.get(request.namespace)
        if self.matching.worker_left(ns.id, request.worker_instance_key):
            return rr.PollWorkflowTaskQueueResponse()
        queue = self.matching.queue_for_poller(
            ns.id,
            _queue_name(request.task_queue),
            TaskKind.WORKFLOW,
            identity=request.identity,
            build_id=request.worker_version_capabilities.build_id,
            sticky=request.task_queue.kind == tq_enums.TASK_QUEUE_KIND_STICKY,
        )

        async def start_task(row: TaskRow) -> WorkflowTaskStart | None:
            return await record_workflow_task_started(
                self.history, self.queries, ns, row, request.identity,
                build_id=request.worker_version_capabilities.build_id,
            )  # fmt: skip

        async def start_query(task: QueryTask) -> rr.PollWorkflowTaskQueueResponse | None:
            try:
                return await self._query_task(ns, task, queue.sticky)
            except (NotFound, NamespaceNotFound) as err:
                task.resolve(QueryAnswer(False, error_message=err.message))
                return None

        polled = await poll_workflow_task(
            queue,
            request.identity,
            wait,
            start_task=start_task,
            start_query=start_query,
            worker_key=request.worker_instance_key,
            build_id=request.worker_version_capabilities.build_id,
        )
        if polled is None:
            return rr.PollWorkflowTaskQueueResponse()
        if isinstance(polled, rr.PollWorkflowTaskQueueResponse):
            return polled  # a query task
        resp = await self.with_history(ns, polled)
        resp.backlog_count_hint = queue.backlog_hint
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

    async def with_history(
        self, ns: Namespace, task: WorkflowTaskStart
    ) -> rr.PollWorkflowTaskQueueResponse:
        """The started task's response with the events the worker needs (paged if long)."""
        resp, started = task.response, task.started
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
        return resp

    async def RespondWorkflowTaskCompleted(
        self, request: rr.RespondWorkflowTaskCompletedRequest, deadline: Deadline
    ) -> rr.RespondWorkflowTaskCompletedResponse:
        token = tokens.decode_workflow_task(request.task_token)
        ns = await self.namespaces.get_by_id(token.namespace_id)
        for command in request.commands:
            check_blob(command.ByteSize(), "command", self.limits)
        completed = await respond_workflow_task_completed(
            self.history,
            self.queries,
            ns,
            token,
            request,
            validate_search_attributes=self.search_attribute_validator(ns),
        )
        resp = completed.response
        if completed.inline is not None:
            resp.workflow_task.CopyFrom(await self.with_history(ns, completed.inline))
        return resp

    async def RespondWorkflowTaskFailed(
        self, request: rr.RespondWorkflowTaskFailedRequest, deadline: Deadline
    ) -> rr.RespondWorkflowTaskFailedResponse:
        token = tokens.decode_workflow_task(request.task_token)
        ns = await self.namespaces.get_by_id(token.namespace_id)
        check_blob(request.failure.ByteSize(), "failure", self.limits)
        return await respond_workflow_task_failed(self.history, self.queries, ns, token, request)

    # ------------------------------------------------------------------ activity tasks

    async def PollActivityTaskQueue(
        self, request: rr.PollActivityTaskQueueRequest, deadline: Deadline
    ) -> rr.PollActivityTaskQueueResponse:
        wait = task_poll_seconds(deadline, LONG_POLL_SECONDS)
        ns = await self.namespaces.get(request.namespace)
        if self.matching.worker_left(ns.id, request.worker_instance_key):
            return rr.PollActivityTaskQueueResponse()
        queue = self.matching.queue_for_poller(
            ns.id,
            _queue_name(request.task_queue),
            TaskKind.ACTIVITY,
            identity=request.identity,
            build_id=request.worker_version_capabilities.build_id,
        )
        metadata = request.task_queue_metadata
        if metadata.HasField("max_tasks_per_second"):
            queue.set_dispatch_rate(metadata.max_tasks_per_second.value)

        async def start_task(row: TaskRow) -> rr.PollActivityTaskQueueResponse | None:
            return await record_activity_task_started(
                self.history, ns, row, request.identity,
                build_id=request.worker_version_capabilities.build_id,
            )  # fmt: skip

        polled = await poll_activity_task(
            queue,
            request.identity,
            wait,
            start_task=start_task,
            worker_key=request.worker_instance_key,
            build_id=request.worker_version_capabilities.build_id,
        )
        return polled if polled is not None else rr.PollActivityTaskQueueResponse()

    async def _by_token(self, task_token: bytes) -> tuple[Namespace, StartedActivity]:
        token = tokens.decode_activity_task(task_token)
        return await self.namespaces.get_by_id(token.namespace_id), ActivityByToken(token)

    async def _by_id(
        self, namespace: str, workflow_id: str, run_id: str, activity_id: str
    ) -> tuple[Namespace, StartedActivity]:
        if not workflow_id or not activity_id:
            raise InvalidArgument("WorkflowId and ActivityId are required.")
        ns = await self.namespaces.get(namespace)
        return ns, ActivityById(workflow_id, run_id, activity_id)

    async def RespondActivityTaskCompleted(
        self, request: rr.RespondActivityTaskCompletedRequest, deadline: Deadline
    ) -> rr.RespondActivityTaskCompletedResponse:
        ns, target = await self._by_token(request.task_token)
        await respond_activity_task_completed(
            self.history, ns, target, request.result, request.identity,
            max_result_bytes=self.limits.blob_size_error,
        )  # fmt: skip
        return rr.RespondActivityTaskCompletedResponse()

    async def RespondActivityTaskCompletedById(
        self, request: rr.RespondActivityTaskCompletedByIdRequest, deadline: Deadline
    ) -> rr.RespondActivityTaskCompletedByIdResponse:
        ns, target = await self._by_id(
            request.namespace, request.workflow_id, request.run_id, request.activity_id
        )
        await respond_activity_task_completed(
            self.history, ns, target, request.result, request.identity,
            max_result_bytes=self.limits.blob_size_error,
        )  # fmt: skip
        return rr.RespondActivityTaskCompletedByIdResponse()

    async def RespondActivityTaskFailed(
        self, request: rr.RespondActivityTaskFailedRequest, deadline: Deadline
    ) -> rr.RespondActivityTaskFailedResponse:
        check_blob(request.failure.ByteSize(), "failure", self.limits)
        ns, target = await self._by_token(request.task_token)
        await self._fail_activity(ns, target, request)
        return rr.RespondActivityTaskFailedResponse()

    async def RespondActivityTaskFailedById(
        self, request: rr.RespondActivityTaskFailedByIdRequest, deadline: Deadline
    ) -> rr.RespondActivityTaskFailedByIdResponse:
        check_blob(request.failure.ByteSize(), "failure", self.limits)
        ns, target = await self._by_id(
            request.namespace, request.workflow_id, request.run_id, request.activity_id
        )
        await self._fail_activity(ns, target, request)
        return rr.RespondActivityTaskFailedByIdResponse()

    async def _fail_activity(
        self,
        ns: Namespace,
        target: StartedActivity,
        request: rr.RespondActivityTaskFailedRequest | rr.RespondActivityTaskFailedByIdRequest,
    ) -> None:
        details = (
            request.last_heartbeat_details if request.HasField("last_heartbeat_details") else None
        )
        await respond_activity_task_failed(
            self.history, ns, target, request.failure, request.identity,
            last_heartbeat_details=details,
        )  # fmt: skip

    async def RespondActivityTaskCanceled(
        self, request: rr.RespondActivityTaskCanceledRequest, deadline: Deadline
    ) -> rr.RespondActivityTaskCanceledResponse:
        check_payloads(request.details, "details", self.limits)
        ns, target = await self._by_token(request.task_token)
        await self._cancel_activity(ns, target, request)
        return rr.RespondActivityTaskCanceledResponse()

    async def RespondActivityTaskCanceledById(
        self, request: rr.RespondActivityTaskCanceledByIdRequest, deadline: Deadline
    ) -> rr.RespondActivityTaskCanceledByIdResponse:
        check_payloads(request.details, "details", self.limits)
        ns, target = await self._by_id(
            request.namespace, request.workflow_id, request.run_id, request.activity_id
        )
        await self._cancel_activity(ns, target, request)
        return rr.RespondActivityTaskCanceledByIdResponse()

    async def _cancel_activity(
        self,
        ns: Namespace,
        target: StartedActivity,
        request: rr.RespondActivityTaskCanceledRequest | rr.RespondActivityTaskCanceledByIdRequest,
    ) -> None:
        details = request.details if request.HasField("details") else None
        await respond_activity_task_canceled(self.history, ns, target, details, request.identity)

    async def RecordActivityTaskHeartbeat(
        self, request: rr.RecordActivityTaskHeartbeatRequest, deadline: Deadline
    ) -> rr.RecordActivityTaskHeartbeatResponse:
        check_payloads(request.details, "details", self.limits)
        ns, target = await self._by_token(request.task_token)
        details = request.details if request.HasField("details") else None
        answer = await record_activity_task_heartbeat(self.history, ns, target, details)
        return rr.RecordActivityTaskHeartbeatResponse(
            cancel_requested=answer.cancel_requested,
            activity_paused=answer.paused,
            activity_reset=answer.reset,
        )

    async def RecordActivityTaskHeartbeatById(
        self, request: rr.RecordActivityTaskHeartbeatByIdRequest, deadline: Deadline
    ) -> rr.RecordActivityTaskHeartbeatByIdResponse:
        check_payloads(request.details, "details", self.limits)
        ns, target = await self._by_id(
            request.namespace, request.workflow_id, request.run_id, request.activity_id
        )
        details = request.details if request.HasField("details") else None
        answer = await record_activity_task_heartbeat(self.history, ns, target, details)
        return rr.RecordActivityTaskHeartbeatByIdResponse(
            cancel_requested=answer.cancel_requested,
            activity_paused=answer.paused,
            activity_reset=answer.reset,
        )


def _queue_name(task_queue: tq_pb2.TaskQueue) -> str:
    if not task_queue.name:
        raise InvalidArgument("TaskQueue is not set on request.")
    if len(task_queue.name) > 1000:
        raise InvalidArgument("TaskQueue length exceeds limit.")
    return str(task_queue.name)
