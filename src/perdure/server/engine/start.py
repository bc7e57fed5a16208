"""Starting a workflow: validation, id reuse and conflict policies, idempotency.

The decision depends on the workflow id's current run (`outputs.CurrentRun`): a
repeat of the same request returns the run it made; a running run conflicts (fail, use
it, or terminate it and start anew); a closed run may or may not be reused.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.history.v1 import message_pb2 as history_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import requests, runs
from perdure.server.engine.cron import next_cron_delay, parse_cron
from perdure.server.engine.execution import Execution
from perdure.server.engine.outputs import CurrentRun
from perdure.server.engine.retry import nanos, validate_retry_policy, with_defaults
from perdure.server.engine.state import Nanos
from perdure.server.errors import InvalidArgument, WorkflowExecutionAlreadyStarted

MAX_ID_LENGTH = 1000

StartRequest = rr.StartWorkflowExecutionRequest | rr.SignalWithStartWorkflowExecutionRequest

_FAILED_STATUSES = frozenset(
    {
        wf_enums.WORKFLOW_EXECUTION_STATUS_FAILED,
        wf_enums.WORKFLOW_EXECUTION_STATUS_CANCELED,
        wf_enums.WORKFLOW_EXECUTION_STATUS_TERMINATED,
        wf_enums.WORKFLOW_EXECUTION_STATUS_TIMED_OUT,
    }
)


def validate(request: StartRequest) -> None:
    """Reject a malformed start request with Temporal's messages."""
    if not request.workflow_id:
        raise InvalidArgument("WorkflowId is not set on request.")
    if len(request.workflow_id) > MAX_ID_LENGTH:
        raise InvalidArgument("WorkflowId exceeds length limit.")
    if not request.workflow_type.name:
        raise InvalidArgument("WorkflowType is not set on request.")
    if len(request.workflow_type.name) > MAX_ID_LENGTH:
        raise InvalidArgument("WorkflowType exceeds length limit.")
    if not request.task_queue.name:
        raise InvalidArgument("TaskQueue is not set on request.")
    if len(request.task_queue.name) > MAX_ID_LENGTH:
        raise InvalidArgument("TaskQueue length exceeds limit.")
    if len(request.request_id) > MAX_ID_LENGTH:
        raise InvalidArgument("RequestId length exceeds limit.")
    for name, value in (
        ("WorkflowExecutionTimeout", request.workflow_execution_timeout),
        ("WorkflowRunTimeout", request.workflow_run_timeout),
        ("WorkflowTaskTimeout", request.workflow_task_timeout),
        ("WorkflowStartDelay", request.workflow_start_delay),
    ):
        if nanos(value) < 0:
            raise InvalidArgument(f"Invalid {name}.")
    if request.HasField("retry_policy"):
        validate_retry_policy(request.retry_policy)
    if request.cron_schedule:
        parse_cron(request.cron_schedule)
        if nanos(request.workflow_start_delay) > 0:
            raise InvalidArgument("CronSchedule and WorkflowStartDelay may not be used together.")
    if (
        request.workflow_id_reuse_policy == wf_enums.WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING
        and request.workflow_id_conflict_policy != wf_enums.WORKFLOW_ID_CONFLICT_POLICY_UNSPECIFIED
    ):
        raise InvalidArgument(
            "Invalid WorkflowIDReusePolicy: WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING "
            "cannot be used together with a WorkflowIDConflictPolicy."
        )


@dataclass
class StartDecision:
    """What to do about a start request, given the workflow id's current run."""

    create: bool
    """Create a new run (the shell then calls `new_run`)."""
    existing_run_id: str = ""
    """The run to report when not creating (deduplicated request or USE_EXISTING)."""
    terminate_current: bool = False
    """Terminate the running current run first, in the same commit."""
    signal_current: bool = False
    """Signal-with-start on a running workflow: just signal it."""


def conflict_policy(request: StartRequest, *, signal_with_start: bool) -> int:
    policy = int(request.workflow_id_conflict_policy)
    if request.workflow_id_reuse_policy == wf_enums.WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING:
        return wf_enums.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING
    if policy == wf_enums.WORKFLOW_ID_CONFLICT_POLICY_UNSPECIFIED:
        return (
            wf_enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
            if signal_with_start
            else wf_enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL
        )
    if signal_with_start and policy == wf_enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL:
        raise InvalidArgument(
            "SignalWithStartWorkflowExecution does not support WorkflowIdConflictPolicy "
            "WORKFLOW_ID_CONFLICT_POLICY_FAIL."
        )
    return policy


def decide(
    request: StartRequest,
    current: CurrentRun | None,
    *,
    signal_with_start: bool = False,
) -> StartDecision:
    """Apply request-id idempotency and the id reuse/conflict policies."""
    if current is None:
        return StartDecision(create=True)
    workflow_id = request.workflow_id
    running = current.status == wf_enums.WORKFLOW_EXECUTION_STATUS_RUNNING
    if request.request_id and current.start_request_id == request.request_id:
        return StartDecision(create=False, existing_run_id=current.run_id)
    if running:
        policy = conflict_policy(request, signal_with_start=signal_with_start)
        if policy == wf_enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING:
            return StartDecision(
                create=False, existing_run_id=current.run_id, signal_current=signal_with_start
            )
        if policy == wf_enums.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING:
            return StartDecision(create=True, terminate_current=True)
        raise WorkflowExecutionAlreadyStarted(
            f"Workflow execution is already running. WorkflowId: {workflow_id}, "
            f"RunId: {current.run_id}.",
            start_request_id=current.start_request_id,
            run_id=current.run_id,
        )
    reuse = request.workflow_id_reuse_policy
    if reuse == wf_enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE:
        raise WorkflowExecutionAlreadyStarted(
            f"Workflow execution already finished. WorkflowId: {workflow_id}, "
            f"RunId: {current.run_id}. Workflow ID reuse policy: reject duplicate workflow ID.",
            start_request_id=current.start_request_id,
            run_id=current.run_id,
        )
    if (
        reuse == wf_enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
        and current.status not in _FAILED_STATUSES
    ):
        raise WorkflowExecutionAlreadyStarted(
            f"Workflow execution already finished successfully. WorkflowId: {workflow_id}, "
            f"RunId: {current.run_id}. Workflow ID reuse policy: allow duplicate workflow ID "
            "if last run failed.",
            start_request_id=current.start_request_id,
            run_id=current.run_id,
        )
    return StartDecision(create=True)


def new_run(
    request: StartRequest,
    *,
    namespace: str,
    namespace_id: str,
    run_id: str,
    now: Nanos,
    identity: str = "",
) -> Execution:
    """The run a start request creates (with its signal, for signal-with-start)."""
    delay = nanos(request.workflow_start_delay)
    cron_delay = next_cron_delay(request.cron_schedule, now, now) if request.cron_schedule else 0
    spec = runs.RunSpec(
        namespace_id=namespace_id,
        workflow_id=request.workflow_id,
        run_id=run_id,
        workflow_type=request.workflow_type.name,
        task_queue=request.task_queue.name,
        request_id=request.request_id,
        input=request.input if request.HasField("input") else None,
        header=request.header if request.HasField("header") else None,
        identity=request.identity or identity,
        workflow_execution_timeout=nanos(request.workflow_execution_timeout),
        workflow_run_timeout=nanos(request.workflow_run_timeout),
        workflow_task_timeout=nanos(request.workflow_task_timeout),
        retry_policy=with_defaults(request.retry_policy)
        if request.HasField("retry_policy")
        else None,
        cron_schedule=request.cron_schedule,
        memo=request.memo if request.HasField("memo") else None,
        search_attributes=request.search_attributes
        if request.HasField("search_attributes")
        else None,
        user_metadata=request.user_metadata if request.HasField("user_metadata") else None,
        priority=request.priority if request.HasField("priority") else None,
        first_workflow_task_backoff=delay or (cron_delay or 0),
        backoff_is_start_delay=delay > 0,
    )
    if isinstance(request, rr.StartWorkflowExecutionRequest):
        if request.HasField("continued_failure"):
            spec.continued_failure = request.continued_failure
        if request.HasField("last_completion_result"):
            spec.last_completion_result = request.last_completion_result
    else:
        spec.signal = signal_attributes(request)
    return runs.create_run(spec, now, namespace)


def signal_attributes(
    request: rr.SignalWithStartWorkflowExecutionRequest,
) -> history_pb2.WorkflowExecutionSignaledEventAttributes:
    attrs = history_pb2.WorkflowExecutionSignaledEventAttributes(
        signal_name=request.signal_name,
        identity=request.identity,
        request_id=request.request_id,
    )
    if request.HasField("signal_input"):
        attrs.input.CopyFrom(request.signal_input)
    if request.HasField("header"):
        attrs.header.CopyFrom(request.header)
    return attrs


def terminate_for_new_run(ex: Execution, new_run_id: str, identity: str) -> None:
    """TERMINATE_EXISTING: the running run ends to make room for `new_run_id`."""
    requests.terminate(
        ex,
        reason="TerminateIfRunning WorkflowIdReusePolicy",
        details=None,
        identity=identity,
    )
    ex.state.new_execution_run_id = new_run_id
