"""The workflow worker: polls workflow tasks, drives workflow runs, answers the server.

Interface used by ``perdure.worker.Worker`` (owned by the activity/worker team)::

    worker = WorkflowWorker(
        service=service,                        # perdure.service.WorkflowService
        namespace="default",
        task_queue="my-queue",
        workflows=[MyWorkflow],                 # classes decorated with @workflow.defn
        data_converter=data_converter,          # perdure.converter.DataConverter
        interceptors=[...],                     # perdure.worker.Interceptor instances
        identity="1234@host",
        build_id="...",                         # optional; auto-generated when None
        max_concurrent_workflow_tasks=100,
        max_cached_workflows=1000,
        max_concurrent_workflow_task_polls=5,   # 1 normal poller + 4 sticky pollers
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=10),
        disable_eager_activity_execution=False,
        debug_mode=False,                       # no deadlock detection when True
        workflow_failure_exception_types=[...], # exception types that fail the workflow
        activities=[...],                       # @activity.defn callables, for local activities
        activity_hooks=activity_worker,         # ActivityHooks (below), or None
    )
    run_task = asyncio.create_task(worker.run())   # polls until shutdown, then returns
    worker.notify_shutdown()                       # stop polling; in-flight tasks finish
    await run_task

``WorkflowWorker.handle_eager_workflow_task(task)`` takes the ``eager_workflow_task`` of a
``StartWorkflowExecutionResponse`` (eager workflow start) and processes it like a polled task.

``ActivityHooks`` is what the activity worker offers the workflow worker:

* ``try_reserve_eager_slot(task_queue) -> bool``: may a ScheduleActivityTask command ask for
  eager execution (same task queue, a free slot)? A True answer reserves a slot.
* ``release_eager_slot() -> None``: a reserved slot went unused (the server sent no task).
* ``handle_eager_task(task: PollActivityTaskQueueResponse) -> None``: run an activity task
  that came back in ``RespondWorkflowTaskCompletedResponse.activity_tasks`` (uses a slot).
* ``async execute_local_activity(task: PollActivityTaskQueueResponse)`` returns the
  ``RespondActivityTaskCompletedRequest | RespondActivityTaskFailedRequest |
  RespondActivityTaskCanceledRequest`` the activity worker would have sent, without sending it.
  The workflow worker builds the task (activity_id, activity_type, input, header, attempt,
  scheduled/started times, timeouts, workflow identity), enforces timeouts and retries, and
  cancels the awaiting asyncio task to cancel the activity.
"""

from __future__ import annotations

from typing import Protocol

from temporalio.api.workflowservice.v1 import (
    PollActivityTaskQueueResponse,
    RespondActivityTaskCanceledRequest,
    RespondActivityTaskCompletedRequest,
    RespondActivityTaskFailedRequest,
)

LocalActivityResponse = (
    RespondActivityTaskCompletedRequest
    | RespondActivityTaskFailedRequest
    | RespondActivityTaskCanceledRequest
)
"""What an executed local activity produced, as the activity worker would report it."""


class ActivityHooks(Protocol):
    """The activity worker's side of eager and local activity execution."""

    def try_reserve_eager_slot(self, task_queue: str) -> bool:
        """Reserve a slot for an eager activity on ``task_queue``; False means don't ask."""
        ...

    def release_eager_slot(self) -> None:
        """Give back a reserved slot the server did not fill with an eager task."""
        ...

    def handle_eager_task(self, task: PollActivityTaskQueueResponse) -> None:
        """Run an activity task returned eagerly by RespondWorkflowTaskCompleted."""
        ...

    async def execute_local_activity(
        self, task: PollActivityTaskQueueResponse
    ) -> LocalActivityResponse:
        """Run one local activity attempt and return its outcome instead of sending it."""
        ...
