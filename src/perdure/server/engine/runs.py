"""Runs: creating one (start, continue-as-new, retry, cron) and deciding its successor.

A workflow id's runs form a chain: each run that ends by continuing as new, retrying or
repeating on a cron schedule names its successor (`new_execution_run_id`), and the
successor is created in the same commit. The backoff before a run's first workflow task
is a timer here; closing a run (and its timeouts) is engine/closing.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.enums.v1 import task_queue_pb2 as tq_enums
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.failure.v1 import message_pb2 as failure_pb2
from temporalio.api.history.v1 import message_pb2 as history_pb2
from temporalio.api.sdk.v1 import user_metadata_pb2
from temporalio.api.workflow.v1 import message_pb2 as workflow_pb2

from perdure.server.engine import workflow_task
from perdure.server.engine.apply import initial_state
from perdure.server.engine.cron import next_cron_delay
from perdure.server.engine.deadlines import TimerKind, TimerRef
from perdure.server.engine.execution import Execution, NewRun, make_event
from perdure.server.engine.retry import RetryDecision, duration, next_retry
from perdure.server.engine.state import Nanos, ParentInfo


@dataclass
class RunSpec:
    """Everything a new run is made of."""

    namespace_id: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    request_id: str
    first_execution_run_id: str = ""
    input: common_pb2.Payloads | None = None
    header: common_pb2.Header | None = None
    identity: str = ""
    workflow_execution_timeout: Nanos = 0
    workflow_run_timeout: Nanos = 0
    workflow_task_timeout: Nanos = 0
    execution_expiration_time: Nanos = 0
    """Inherited along the chain; 0 means: start time + execution timeout (if any)."""
    retry_policy: common_pb2.RetryPolicy | None = None
    attempt: int = 1
    cron_schedule: str = ""
    memo: common_pb2.Memo | None = None
    search_attributes: common_pb2.SearchAttributes | None = None
    user_metadata: user_metadata_pb2.UserMetadata | None = None
    priority: common_pb2.Priority | None = None
    first_workflow_task_backoff: Nanos = 0
    backoff_is_start_delay: bool = False
    """A start delay (unlike retry or cron backoff) ends early when a signal arrives."""
    initiator: int = 0
    continued_execution_run_id: str = ""
    continued_failure: failure_pb2.Failure | None = None
    last_completion_result: common_pb2.Payloads | None = None
    parent: ParentInfo | None = None
    root_workflow_id: str = ""
    root_run_id: str = ""
    prev_auto_reset_points: workflow_pb2.ResetPoints | None = None
    """The auto-reset points of the run this one continues."""
    signal: history_pb2.WorkflowExecutionSignaledEventAttributes | None = None
    """Signal-with-start: the signal recorded right after the started event."""
    extra_started_fields: dict[str, object] = field(default_factory=dict)


def _normalized_timeouts(spec: RunSpec) -> tuple[Nanos, Nanos, Nanos]:
    execution = max(spec.workflow_execution_timeout, 0)
    run = max(spec.workflow_run_timeout, 0)
    if run == 0 or (execution and run > execution):
        run = execution
    task = spec.workflow_task_timeout or workflow_task.DEFAULT_WORKFLOW_TASK_TIMEOUT
    task = min(task, workflow_task.MAX_WORKFLOW_TASK_TIMEOUT)
    if run:
        task = min(task, run)
    return execution, run, task


def create_run(spec: RunSpec, now: Nanos, namespace: str) -> Execution:
    """A new run: its started event, its deadlines, its first workflow task (or backoff)."""
    started = make_event(
        et.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, now, started_attributes(spec, now)
    )
    state = initial_state(
        started, namespace_id=spec.namespace_id, workflow_id=spec.workflow_id, run_id=spec.run_id
    )
    # What the started event does not record (apply.NOT_REBUILT).
    state.start_request_id = spec.request_id
    state.user_metadata = spec.user_metadata
    state.root_run_id = spec.root_run_id or spec.run_id
    ex = Execution(state, now, namespace)
    ex.out.created = True
    ex.out.visibility_changed = True
    ex.out.current_changed = True
    ex.write_applied(started)
    if spec.request_id:
        state.request_ids[spec.request_id] = started.event_id
    if spec.signal is not None:
        event = ex.append(et.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, spec.signal)
        if spec.signal.request_id:
            state.request_ids[spec.signal.request_id] = event.event_id
    if state.run_expiration_time:
        ex.add_timer(TimerRef(TimerKind.WORKFLOW_RUN_TIMEOUT), state.run_expiration_time)
    expiration = state.execution_expiration_time
    if expiration and (not state.run_expiration_time or expiration < state.run_expiration_time):
        ex.add_timer(TimerRef(TimerKind.WORKFLOW_EXECUTION_TIMEOUT), expiration)
    if state.pending_first_workflow_task and not (
        spec.signal is not None and state.first_task_backoff_is_delay
    ):
        ex.add_timer(TimerRef(TimerKind.WORKFLOW_BACKOFF), state.execution_time)
    else:
        workflow_task.schedule(ex)  # a signal cuts a start delay short
    return ex


def started_attributes(
    spec: RunSpec, now: Nanos
) -> history_pb2.WorkflowExecutionStartedEventAttributes:
    """The started event of the run `spec` describes, with Temporal's timeout overrides."""
    execution_timeout, run_timeout, task_timeout = _normalized_timeouts(spec)
    expiration = spec.execution_expiration_time or (
        now + execution_timeout if execution_timeout else 0
    )
    root_workflow_id = spec.root_workflow_id or spec.workflow_id
    attrs = history_pb2.WorkflowExecutionStartedEventAttributes(
        workflow_id=spec.workflow_id,
        identity=spec.identity,
        attempt=spec.attempt,
        cron_schedule=spec.cron_schedule,
        first_execution_run_id=spec.first_execution_run_id or spec.run_id,
        original_execution_run_id=spec.run_id,
        continued_execution_run_id=spec.continued_execution_run_id,
        initiator=spec.initiator,  # type: ignore[arg-type]
    )
    attrs.workflow_type.name = spec.workflow_type
    attrs.task_queue.name = spec.task_queue
    attrs.task_queue.kind = tq_enums.TASK_QUEUE_KIND_NORMAL
    if spec.input is not None:
        attrs.input.CopyFrom(spec.input)
    if spec.header is not None:
        attrs.header.CopyFrom(spec.header)
    # Left unset when there is none, as on Temporal (workers then report "none"); Temporal
    # writes a zero run timeout on a run a parent or continue-as-new began.
    if execution_timeout:
        attrs.workflow_execution_timeout.CopyFrom(duration(execution_timeout))
    continued = spec.initiator == wf_enums.CONTINUE_AS_NEW_INITIATOR_WORKFLOW
    if run_timeout or spec.parent is not None or continued:
        attrs.workflow_run_timeout.CopyFrom(duration(run_timeout))
    attrs.workflow_task_timeout.CopyFrom(duration(task_timeout))
    if expiration:
        attrs.workflow_execution_expiration_time.FromNanoseconds(expiration)
    # A run a start request (a client's or a parent's) began carries its backoff even when
    # zero, as on Temporal; a successor run only when it waits.
    if spec.first_workflow_task_backoff > 0 or not spec.continued_execution_run_id:
        attrs.first_workflow_task_backoff.CopyFrom(duration(spec.first_workflow_task_backoff))
    if spec.retry_policy is not None:
        attrs.retry_policy.CopyFrom(spec.retry_policy)
    if spec.continued_failure is not None:
        attrs.continued_failure.CopyFrom(spec.continued_failure)
    if spec.last_completion_result is not None:
        attrs.last_completion_result.CopyFrom(spec.last_completion_result)
    if spec.prev_auto_reset_points is not None and spec.prev_auto_reset_points.points:
        attrs.prev_auto_reset_points.CopyFrom(spec.prev_auto_reset_points)
    if spec.memo is not None and spec.memo.fields:
        attrs.memo.CopyFrom(spec.memo)
    if spec.search_attributes is not None and spec.search_attributes.indexed_fields:
        attrs.search_attributes.CopyFrom(spec.search_attributes)
    if spec.priority is not None:
        attrs.priority.CopyFrom(spec.priority)
    if spec.parent is not None:
        p = spec.parent
        attrs.parent_workflow_namespace = p.namespace
        attrs.parent_workflow_namespace_id = p.namespace_id
        attrs.parent_workflow_execution.workflow_id = p.workflow_id
        attrs.parent_workflow_execution.run_id = p.run_id
        attrs.parent_initiated_event_id = p.initiated_event_id
    if root_workflow_id != spec.workflow_id or spec.parent is not None:
        attrs.root_workflow_execution.workflow_id = root_workflow_id
        attrs.root_workflow_execution.run_id = spec.root_run_id or spec.run_id
    return attrs


def fire_backoff(ex: Execution, ref: TimerRef) -> None:
    """The start delay or retry/cron backoff is over: the first workflow task is due."""
    ex.claim_timer(ref)
    if ex.state.running and ex.state.pending_first_workflow_task:
        ex.state.pending_first_workflow_task = False
        workflow_task.schedule(ex)


def end_start_delay(ex: Execution) -> None:
    """A signal arrived during a start delay: the workflow starts now."""
    st = ex.state
    if st.pending_first_workflow_task and st.first_task_backoff_is_delay:
        st.pending_first_workflow_task = False
        ex.remove_timer(TimerRef(TimerKind.WORKFLOW_BACKOFF))
        workflow_task.schedule(ex)


# ---------------------------------------------------------------------------- successors


@dataclass
class Continuation:
    """How a closing run continues (a successor run in the same commit), if it does."""

    run_id: str
    backoff: Nanos
    initiator: int
    attempt: int
    failure: failure_pb2.Failure | None = None
    last_completion_result: common_pb2.Payloads | None = None


def retry_or_cron(
    ex: Execution,
    failure: failure_pb2.Failure | None,
    new_run_id: str,
    result: common_pb2.Payloads | None = None,
    *,
    timed_out: bool = False,
) -> tuple[Continuation | None, int]:
    """After a failure or timeout (or a completion, for cron): retry, repeat, or stop.

    Returns the continuation and the retry state for the closing event.
    """
    st = ex.state
    retry_state: int = wf_enums.RETRY_STATE_RETRY_POLICY_NOT_SET
    if failure is not None and st.retry_policy is not None:
        decision: RetryDecision = next_retry(
            st.retry_policy, st.attempt, failure, ex.now, st.execution_expiration_time
        )
        retry_state = decision.retry_state
        if decision.backoff is not None:
            return (
                Continuation(
                    new_run_id,
                    decision.backoff,
                    wf_enums.CONTINUE_AS_NEW_INITIATOR_RETRY,
                    st.attempt + 1,
                    failure=failure,
                    last_completion_result=st.last_completion_result,
                ),
                retry_state,
            )
    if st.cron_schedule:
        delay = next_cron_delay(st.cron_schedule, ex.now, st.execution_time)
        if delay is not None and (
            not st.execution_expiration_time or ex.now + delay < st.execution_expiration_time
        ):
            return (
                Continuation(
                    new_run_id,
                    delay,
                    wf_enums.CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE,
                    1,
                    failure=failure,
                    last_completion_result=result if failure is None else st.last_completion_result,
                ),
                retry_state,
            )
    if timed_out and retry_state == wf_enums.RETRY_STATE_RETRY_POLICY_NOT_SET:
        retry_state = wf_enums.RETRY_STATE_TIMEOUT
    return None, retry_state


def start_successor(
    ex: Execution,
    cont: Continuation,
    start: history_pb2.WorkflowExecutionStartedEventAttributes,
    **overrides: object,
) -> Execution:
    """Create the run that continues `ex` (retry or cron: same input, same settings)."""
    st = ex.state
    spec = RunSpec(
        namespace_id=st.namespace_id,
        workflow_id=st.workflow_id,
        run_id=cont.run_id,
        workflow_type=st.workflow_type,
        task_queue=st.task_queue,
        request_id="",
        first_execution_run_id=st.first_execution_run_id,
        input=start.input if start.HasField("input") else None,
        header=start.header if start.HasField("header") else None,
        workflow_execution_timeout=st.workflow_execution_timeout,
        workflow_run_timeout=st.workflow_run_timeout,
        workflow_task_timeout=st.workflow_task_timeout,
        execution_expiration_time=st.execution_expiration_time,
        retry_policy=st.retry_policy,
        attempt=cont.attempt,
        cron_schedule=st.cron_schedule,
        memo=st.memo,
        search_attributes=st.search_attributes,
        user_metadata=st.user_metadata,
        priority=st.priority,
        first_workflow_task_backoff=cont.backoff,
        initiator=cont.initiator,
        continued_execution_run_id=st.run_id,
        continued_failure=cont.failure,
        last_completion_result=cont.last_completion_result,
        parent=st.parent,
        root_workflow_id=st.root_workflow_id,
        root_run_id=st.root_run_id,
        identity=start.identity,
        prev_auto_reset_points=st.auto_reset_points,
    )
    for name, value in overrides.items():
        setattr(spec, name, value)
    successor = create_run(spec, ex.now, ex.namespace)
    ex.out.new_runs.append(NewRun(successor))
    return successor
