"""RespondWorkflowTaskCompleted: a worker finished a workflow task with commands.

The engine applies the commands (completion.py); queries that rode on the task are
answered from the request once the completion commits (a task the server fails answers
none: they ride the next attempt). A command the engine refuses fails the workflow task (a
WorkflowTaskFailed event with the command's cause, as Temporal records it; the updates
the task delivered are aborted) and the worker gets InvalidArgument. A new workflow task
may start inline and activities may start eagerly: both come back in the response.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import activities, completion
from perdure.server.engine.command_base import BadCommand, SearchAttributesValidator
from perdure.server.engine.execution import Execution
from perdure.server.engine.tokens import WorkflowTaskToken
from perdure.server.errors import InvalidArgument
from perdure.server.history.api.record_workflow_task_started import poll_response
from perdure.server.history.service import HistoryService
from perdure.server.matching.queries import QueryRegistry
from perdure.server.matching.queues import WorkflowTaskStart
from perdure.server.namespaces import Namespace


@dataclass(frozen=True, slots=True)
class WorkflowTaskCompleted:
    response: rr.RespondWorkflowTaskCompletedResponse
    """With the eagerly started activities; without the inline workflow task."""
    inline: WorkflowTaskStart | None
    """A workflow task started inline: the caller adds its history to the response."""


async def respond_workflow_task_completed(
    history: HistoryService,
    queries: QueryRegistry,
    ns: Namespace,
    token: WorkflowTaskToken,
    request: rr.RespondWorkflowTaskCompletedRequest,
    *,
    validate_search_attributes: SearchAttributesValidator | None = None,
) -> WorkflowTaskCompleted:
    """Apply the completion of the workflow task `token` names. Raises InvalidArgument
    (after failing the task) when a command is refused."""

    def complete(ex: Execution) -> WorkflowTaskCompleted:
        result = completion.complete(
            ex,
            token,
            request,
            new_id=history.new_id,
            validate_search_attributes=validate_search_attributes,
        )
        inline = None
        if result.new_workflow_task is not None:
            started = result.new_workflow_task
            inline = WorkflowTaskStart(poll_response(ex, started, queries), started)
        eager = [activities.task_response(ex, info) for info in result.eager_activities]
        response = rr.RespondWorkflowTaskCompletedResponse(
            activity_tasks=eager, reset_history_event_id=result.reset_history_event_id
        )
        return WorkflowTaskCompleted(response, inline)

    riding = queries.take_riding(token.namespace_id, token.run_id)
    answers = request.query_results
    queries.route_again([t for t in riding if t.query_id not in answers])
    answered = [t for t in riding if t.query_id in answers]
    try:
        outcome = await history.update(ns, token.workflow_id, token.run_id, complete)
    except BadCommand as bad:
        # As Temporal: a task the server fails answers no query (the worker computed
        # the answers from a state the server refused); they go to the next attempt.
        queries.route_again(answered)
        await _fail_for_bad_command(history, ns, token, request.identity, bad)
        raise InvalidArgument(bad.text) from None
    except BaseException:
        queries.route_again(answered)
        raise
    queries.resolve_results(answers)
    return outcome


async def _fail_for_bad_command(
    history: HistoryService,
    ns: Namespace,
    token: WorkflowTaskToken,
    identity: str,
    bad: BadCommand,
) -> None:
    await history.update(
        ns,
        token.workflow_id,
        token.run_id,
        lambda ex: completion.fail_for_bad_command(ex, token, bad, identity=identity),
    )
