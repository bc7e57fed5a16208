"""Child workflows: the start command, the parent's view of each child, close policies.

A child is started in steps, each one commit on one execution (DESIGN.md §3), driven by
timer rows due at once (an outbox): the START_CHILD_WORKFLOW_EXECUTION command writes
StartChildWorkflowExecutionInitiated and a START_CHILD row; the row's dispatch creates the
child run, then records ChildWorkflowExecutionStarted (or ...Failed) in the parent and
claims the row. When the child's chain of runs ends, its closing commit adds a
NOTIFY_PARENT row that records the child's outcome in the parent. When a parent closes,
each started child whose close policy is not ABANDON gets an APPLY_PARENT_CLOSE_POLICY row.
A step that is repeated after a crash finds its work done and only claims its row.
This module holds the pure transitions (and the START_CHILD_WORKFLOW_EXECUTION command);
server/history/outbox.py does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.enums.v1 import failed_cause_pb2 as causes
from temporalio.api.enums.v1 import task_queue_pb2 as tq_enums
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.history.v1 import message_pb2 as history_pb2

from perdure.server.engine import runs, workflow_task
from perdure.server.engine.command_base import (
    MAX_ID_LENGTH,
    BadCommand,
    CommandContext,
    append_for,
)
from perdure.server.engine.cron import next_cron_delay, parse_cron
from perdure.server.engine.deadlines import TimerKind, TimerRef
from perdure.server.engine.execution import Execution, HistoryEvent
from perdure.server.engine.retry import duration, nanos, validate_retry_policy, with_defaults
from perdure.server.engine.state import ChildInfo, ExecutionState, Nanos, ParentInfo
from perdure.server.errors import ServiceError

ABANDON = wf_enums.PARENT_CLOSE_POLICY_ABANDON
InitiatedAttributes = history_pb2.StartChildWorkflowExecutionInitiatedEventAttributes


# ---------------------------------------------------------------------------- the command


def _normalized_timeouts(
    a: command_pb2.StartChildWorkflowExecutionCommandAttributes,
) -> tuple[Nanos, Nanos, Nanos]:
    """Temporal's overrides: run <= execution timeout, task <= run timeout, 10 s default."""
    execution = nanos(a.workflow_execution_timeout)
    run = nanos(a.workflow_run_timeout)
    if run == 0 or (execution and run > execution):
        run = execution
    task = nanos(a.workflow_task_timeout) or workflow_task.DEFAULT_WORKFLOW_TASK_TIMEOUT
    task = min(task, workflow_task.MAX_WORKFLOW_TASK_TIMEOUT)
    if run:
        task = min(task, run)
    return execution, run, task


def _validate(
    ctx: CommandContext, a: command_pb2.StartChildWorkflowExecutionCommandAttributes
) -> None:
    bad = causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_START_CHILD_EXECUTION_ATTRIBUTES
    wid, wtype, ns = a.workflow_id, a.workflow_type.name, a.namespace or ctx.ex.namespace
    where = f"WorkflowId={wid} WorkflowType={wtype} Namespace={ns}"
    if not wid:
        raise BadCommand(
            bad,
            "Required field WorkflowId is not set on StartChildWorkflowExecutionCommand. "
            f"WorkflowType={wtype} Namespace={ns}",
        )
    if not wtype:
        raise BadCommand(
            bad,
            "Required field WorkflowType is not set on StartChildWorkflowExecutionCommand. "
            f"WorkflowId={wid} Namespace={ns}",
        )
    for what, value in (("Namespace", ns), ("WorkflowId", wid), ("WorkflowType", wtype)):
        if len(value) > MAX_ID_LENGTH:
            raise BadCommand(
                bad, f"{what} on StartChildWorkflowExecutionCommand exceeds length limit. {where}"
            )
    if len(a.task_queue.name) > MAX_ID_LENGTH:
        raise BadCommand(bad, f"task queue name exceeds length limit of {MAX_ID_LENGTH}")
    if a.task_queue.name.startswith("/_sys/"):
        raise BadCommand(bad, "task queue name cannot start with reserved prefix /_sys/")
    for timeout, length in (
        ("WorkflowExecutionTimeout", a.workflow_execution_timeout),
        ("WorkflowRunTimeout", a.workflow_run_timeout),
        ("WorkflowTaskTimeout", a.workflow_task_timeout),
    ):
        if nanos(length) < 0:
            raise BadCommand(
                bad,
                f"Invalid {timeout} on StartChildWorkflowExecutionCommand: negative duration. "
                f"{where}",
            )
    try:
        if a.HasField("retry_policy"):
            validate_retry_policy(a.retry_policy)
    except ServiceError as err:
        raise BadCommand(bad, f"{err.message} {where}") from err
    try:
        if a.cron_schedule:
            parse_cron(a.cron_schedule)
    except ServiceError:
        # Temporal's words: its cron error ("invalid CronSchedule.") in its template.
        raise BadCommand(
            bad,
            "invalid CronSchedule on StartChildWorkflowExecutionCommand: invalid CronSchedule.. "
            f"{where}",
        ) from None
    if a.HasField("search_attributes") and ctx.validate_search_attributes is not None:
        try:
            ctx.validate_search_attributes(a.search_attributes)
        except ServiceError as err:
            raise BadCommand(
                causes.WORKFLOW_TASK_FAILED_CAUSE_BAD_SEARCH_ATTRIBUTES, err.message
            ) from err
    pending = len(ctx.ex.state.children)
    limit = ctx.ex.settings.max_pending_children
    if pending >= limit:
        raise BadCommand(
            causes.WORKFLOW_TASK_FAILED_CAUSE_PENDING_CHILD_WORKFLOWS_LIMIT_EXCEEDED,
            f"the number of pending child workflow executions, {pending}, "
            f"has reached the per-workflow limit of {limit}",
        )


def start_child(ctx: CommandContext, command: command_pb2.Command) -> None:
    a = command.start_child_workflow_execution_command_attributes
    _validate(ctx, a)
    ex, st = ctx.ex, ctx.ex.state
    namespace = a.namespace or ex.namespace
    # Another namespace's id is looked up when the child starts (the engine has no registry).
    namespace_id = st.namespace_id if namespace == ex.namespace else ""
    execution_timeout, run_timeout, task_timeout = _normalized_timeouts(a)
    attrs = InitiatedAttributes(
        namespace=namespace,
        namespace_id=namespace_id,
        workflow_id=a.workflow_id,
        workflow_run_timeout=duration(run_timeout),
        workflow_task_timeout=duration(task_timeout),
        parent_close_policy=a.parent_close_policy or wf_enums.PARENT_CLOSE_POLICY_TERMINATE,
        control=a.control,
        workflow_task_completed_event_id=ctx.completed_event_id,
        workflow_id_reuse_policy=(
            a.workflow_id_reuse_policy or wf_enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
        ),
        cron_schedule=a.cron_schedule,
        inherit_build_id=a.inherit_build_id,
    )
    if execution_timeout:  # none: left unset, as on Temporal
        attrs.workflow_execution_timeout.CopyFrom(duration(execution_timeout))
    attrs.workflow_type.name = a.workflow_type.name
    attrs.task_queue.name = a.task_queue.name or st.task_queue
    attrs.task_queue.kind = tq_enums.TASK_QUEUE_KIND_NORMAL
    if a.HasField("retry_policy"):
        attrs.retry_policy.CopyFrom(with_defaults(a.retry_policy))
    for name in ("input", "header", "memo", "search_attributes", "priority"):
        if a.HasField(name):
            getattr(attrs, name).CopyFrom(getattr(a, name))
    if not attrs.memo.fields:  # an empty memo is no memo, as on Temporal
        attrs.ClearField("memo")
    event = append_for(ctx, command, et.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED, attrs)
    st.children[event.event_id].create_request_id = ctx.new_id()
    ex.add_timer(TimerRef(TimerKind.START_CHILD, event.event_id), ex.now)


def initiated_in_this_task(ctx: CommandContext, workflow_id: str) -> bool:
    """A child with this id was initiated by an earlier command of the same task."""
    for event in ctx.ex.out.events:
        if (
            event.event_type == et.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
            and event.start_child_workflow_execution_initiated_event_attributes.workflow_id
            == workflow_id
        ):
            return True
    return False


# ---------------------------------------------------------------------------- the child run


@dataclass(frozen=True, slots=True)
class Parent:
    """What a child run takes from its parent: who it is, its root, its priority."""

    namespace: str
    namespace_id: str
    workflow_id: str
    run_id: str
    root_workflow_id: str
    root_run_id: str
    priority: common_pb2.Priority | None

    @classmethod
    def of(cls, st: ExecutionState, namespace: str) -> Parent:
        priority = None
        if st.priority is not None:
            priority = common_pb2.Priority()
            priority.CopyFrom(st.priority)
        return cls(
            namespace=namespace,
            namespace_id=st.namespace_id,
            workflow_id=st.workflow_id,
            run_id=st.run_id,
            root_workflow_id=st.root_workflow_id or st.workflow_id,
            root_run_id=st.root_run_id or st.run_id,
            priority=priority,
        )

    def info(self, initiated_event_id: int) -> ParentInfo:
        return ParentInfo(
            namespace=self.namespace,
            namespace_id=self.namespace_id,
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            initiated_event_id=initiated_event_id,
        )


def child_run_spec(
    initiated: HistoryEvent,
    parent: Parent,
    *,
    namespace_id: str,
    request_id: str,
    run_id: str,
    now: Nanos,
) -> runs.RunSpec:
    """The child's first run, as its StartChildWorkflowExecutionInitiated event describes it."""
    attrs = initiated.start_child_workflow_execution_initiated_event_attributes
    priority: common_pb2.Priority | None = None
    if parent.priority is not None or attrs.HasField("priority"):
        # The parent's priority, with what the command set on top.
        priority = common_pb2.Priority()
        if parent.priority is not None:
            priority.CopyFrom(parent.priority)
        priority.MergeFrom(attrs.priority)
    backoff = 0
    if attrs.cron_schedule:
        backoff = next_cron_delay(attrs.cron_schedule, now, now) or 0
    return runs.RunSpec(
        namespace_id=namespace_id,
        workflow_id=attrs.workflow_id,
        run_id=run_id,
        workflow_type=attrs.workflow_type.name,
        task_queue=attrs.task_queue.name,
        request_id=request_id,
        input=attrs.input if attrs.HasField("input") else None,
        header=attrs.header if attrs.HasField("header") else None,
        workflow_execution_timeout=nanos(attrs.workflow_execution_timeout),
        workflow_run_timeout=nanos(attrs.workflow_run_timeout),
        workflow_task_timeout=nanos(attrs.workflow_task_timeout),
        retry_policy=attrs.retry_policy if attrs.HasField("retry_policy") else None,
        cron_schedule=attrs.cron_schedule,
        memo=attrs.memo if attrs.HasField("memo") else None,
        search_attributes=attrs.search_attributes if attrs.HasField("search_attributes") else None,
        user_metadata=initiated.user_metadata if initiated.HasField("user_metadata") else None,
        priority=priority,
        first_workflow_task_backoff=backoff,
        parent=parent.info(initiated.event_id),
        root_workflow_id=parent.root_workflow_id,
        root_run_id=parent.root_run_id,
    )


def is_child_of(child: ExecutionState, parent: ParentInfo) -> bool:
    """`child` (any run of its chain) was started by the parent's initiated event."""
    p = child.parent
    return (
        p is not None
        and p.namespace_id == parent.namespace_id
        and p.workflow_id == parent.workflow_id
        and p.run_id == parent.run_id
        and p.initiated_event_id == parent.initiated_event_id
    )


# ---------------------------------------------------------------------------- the parent's record


def _child_identity(child: ChildInfo) -> dict[str, object]:
    return {
        "namespace": child.namespace,
        "namespace_id": child.namespace_id,
        "initiated_event_id": child.initiated_event_id,
    }


def _write_started(ex: Execution, child: ChildInfo, header: common_pb2.Header | None) -> None:
    attrs = history_pb2.ChildWorkflowExecutionStartedEventAttributes(**_child_identity(child))  # type: ignore[arg-type]
    attrs.workflow_execution.workflow_id = child.workflow_id
    attrs.workflow_execution.run_id = child.run_id
    attrs.workflow_type.name = child.workflow_type
    if header is not None:
        attrs.header.CopyFrom(header)
    # A buffered started event gets its id when flushed (Execution.flush_buffered).
    ex.append_external(et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED, attrs)


def record_started(
    ex: Execution,
    ref: TimerRef,
    *,
    run_id: str,
    namespace_id: str,
    header: common_pb2.Header | None,
) -> None:
    """The child run exists: ChildWorkflowExecutionStarted, and the parent wakes."""
    ex.claim_timer(ref)
    st = ex.state
    child = st.children.get(ref.target_id)
    if child is None or child.run_id:
        return
    child.run_id = run_id
    child.namespace_id = namespace_id
    if not st.running:
        # The parent closed while its child was starting: the close policy still applies.
        if child.parent_close_policy != ABANDON:
            ex.add_timer(TimerRef(TimerKind.APPLY_PARENT_CLOSE_POLICY, ref.target_id), ex.now)
        return
    _write_started(ex, child, header)
    workflow_task.schedule(ex)


def record_start_failed(
    ex: Execution, ref: TimerRef, *, cause: int, initiated: InitiatedAttributes
) -> None:
    """The child could not start (its id is taken, or its namespace is unknown)."""
    ex.claim_timer(ref)
    st = ex.state
    child = st.children.get(ref.target_id)
    if child is None or child.run_id or not st.running:
        return
    attrs = history_pb2.StartChildWorkflowExecutionFailedEventAttributes(
        namespace=child.namespace,
        namespace_id=child.namespace_id,
        workflow_id=child.workflow_id,
        cause=cause,  # type: ignore[arg-type]
        control=initiated.control,
        initiated_event_id=child.initiated_event_id,
        # workflow_task_completed_event_id stays unset, as Temporal leaves it ("not used").
    )
    attrs.workflow_type.name = child.workflow_type
    ex.append_external(et.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED, attrs)
    workflow_task.schedule(ex)


@dataclass(frozen=True, slots=True)
class ChildClosed:
    """What the parent learns when a child's chain of runs ends."""

    initiated_event_id: int
    workflow_id: str
    run_id: str
    """The run that closed (the last of the chain)."""
    first_run_id: str
    close_event: HistoryEvent


_CHILD_CLOSE_EVENT: dict[int, int] = {
    et.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED,
    et.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED,
    et.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED,
    et.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED,
    et.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT,
}


def _closed_attributes(child: ChildInfo, closed: ChildClosed) -> tuple[int, object]:
    close = closed.close_event
    event_type = _CHILD_CLOSE_EVENT[close.event_type]
    common = _child_identity(child) | {"started_event_id": child.started_event_id}
    attrs: (
        history_pb2.ChildWorkflowExecutionCompletedEventAttributes
        | history_pb2.ChildWorkflowExecutionFailedEventAttributes
        | history_pb2.ChildWorkflowExecutionCanceledEventAttributes
        | history_pb2.ChildWorkflowExecutionTerminatedEventAttributes
        | history_pb2.ChildWorkflowExecutionTimedOutEventAttributes
    )
    if event_type == et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
        c = close.workflow_execution_completed_event_attributes
        attrs = history_pb2.ChildWorkflowExecutionCompletedEventAttributes(**common)  # type: ignore[arg-type]
        if c.HasField("result"):
            attrs.result.CopyFrom(c.result)
    elif event_type == et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED:
        f = close.workflow_execution_failed_event_attributes
        attrs = history_pb2.ChildWorkflowExecutionFailedEventAttributes(
            failure=f.failure,
            retry_state=f.retry_state,
            **common,  # type: ignore[arg-type]
        )
    elif event_type == et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED:
        c2 = close.workflow_execution_canceled_event_attributes
        attrs = history_pb2.ChildWorkflowExecutionCanceledEventAttributes(**common)  # type: ignore[arg-type]
        if c2.HasField("details"):
            attrs.details.CopyFrom(c2.details)
    elif event_type == et.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT:
        t = close.workflow_execution_timed_out_event_attributes
        attrs = history_pb2.ChildWorkflowExecutionTimedOutEventAttributes(
            retry_state=t.retry_state,
            **common,  # type: ignore[arg-type]
        )
    else:
        attrs = history_pb2.ChildWorkflowExecutionTerminatedEventAttributes(**common)  # type: ignore[arg-type]
    attrs.workflow_execution.workflow_id = closed.workflow_id
    attrs.workflow_execution.run_id = closed.run_id
    attrs.workflow_type.name = child.workflow_type
    return event_type, attrs


def record_child_closed(ex: Execution, closed: ChildClosed) -> bool:
    """The child's chain ended: its outcome event, and the parent wakes.

    Returns False when the parent no longer waits for this child (already recorded,
    closed, or a different child under that initiated event).
    """
    st = ex.state
    child = st.children.get(closed.initiated_event_id)
    if (
        not st.running
        or closed.close_event.event_type not in _CHILD_CLOSE_EVENT
        or child is None
        or child.workflow_id != closed.workflow_id
        or (child.run_id and child.run_id != closed.first_run_id)
    ):
        return False
    if not child.run_id:
        # The child ran to its end before its start was recorded here.
        child.run_id = closed.first_run_id
        _write_started(ex, child, None)
    event_type, attrs = _closed_attributes(child, closed)
    ex.append_external(event_type, attrs)  # type: ignore[arg-type]
    workflow_task.schedule(ex)
    return True


# ---------------------------------------------------------------------------- closing runs


def _continues(ex: Execution) -> bool:
    """The closing run hands over to a successor (continue-as-new, retry, cron)."""
    st = ex.state
    if st.status == wf_enums.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
        return True
    for event in reversed(ex.out.events):
        if event.event_id == st.close_event_id:
            field = event.WhichOneof("attributes")
            attrs = getattr(event, field) if field else None
            return bool(getattr(attrs, "new_execution_run_id", ""))
    return False


def schedule_close_work(ex: Execution, *, replaced_by_reset: bool = False) -> None:
    """The run closed: schedule the parent's notification and the close policies of its
    running children (engine/closing.py calls this).

    A run a reset replaced does neither, as on Temporal: its children stay for the reset
    run, which takes over those initiated before the reset point (their outcome goes to the
    run's `reset_run_id`), and its parent still waits for the reset run."""
    if replaced_by_reset:
        return
    st = ex.state
    for child in st.children.values():
        if child.run_id and child.parent_close_policy != ABANDON:
            ref = TimerRef(TimerKind.APPLY_PARENT_CLOSE_POLICY, child.initiated_event_id)
            ex.add_timer(ref, ex.now)
    if st.parent is not None and not _continues(ex):
        ex.add_timer(TimerRef(TimerKind.NOTIFY_PARENT), ex.now)
