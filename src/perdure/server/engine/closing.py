"""Closing a run: the closing event, and what closing does to everything still pending.

Every way a run ends comes here: the workflow's closing commands (engine/commands.py),
termination (engine/requests.py) and the run and execution timeouts (`fire_timeout`).
The closing event's applier (engine/apply.py) drops the pending workflow task and timers
from the state (activities stay, as they were, for describe); this module drops their task
rows and deadlines,
then does, by name, what the close means for the run's children and parent
(`children.schedule_close_work`) and for updates still in flight
(`updates.drop_unfinished`).
"""

from __future__ import annotations

from google.protobuf.message import Message
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.failure.v1 import message_pb2 as failure_pb2
from temporalio.api.history.v1 import message_pb2 as history_pb2

from perdure.server.engine import activities, children, updates
from perdure.server.engine.deadlines import TimerKind, TimerRef, workflow_task_key
from perdure.server.engine.execution import Execution
from perdure.server.engine.runs import Continuation, retry_or_cron, start_successor
from perdure.server.engine.state import UpdateInfo

RESETTER_IDENTITY = "history-resetter"
"""Who terminates the run a reset replaces (Temporal's `consts.IdentityResetter`)."""


def close(ex: Execution, event_type: int, attributes: Message) -> list[UpdateInfo]:
    """Write the closing event and drop the task rows and timers of what was pending.

    Returns the admitted updates the run dropped (a run continued as new hands them on)."""
    st = ex.state
    wt = st.workflow_task
    if wt is not None:
        if not wt.started:
            ex.remove_task(workflow_task_key(st.run_id, wt.seq))
            if wt.sticky:
                ex.remove_timer(TimerRef(TimerKind.WORKFLOW_TASK_SCHEDULE_TO_START, wt.seq))
        else:
            ex.remove_timer(TimerRef(TimerKind.WORKFLOW_TASK_START_TO_CLOSE, wt.seq))
    ex.flush_buffered()
    activities.drop_all(ex)
    for timer in st.timers.values():
        ex.remove_timer(TimerRef(TimerKind.USER_TIMER, timer.started_event_id))
    if st.run_expiration_time:
        ex.remove_timer(TimerRef(TimerKind.WORKFLOW_RUN_TIMEOUT))
    if st.execution_expiration_time:
        ex.remove_timer(TimerRef(TimerKind.WORKFLOW_EXECUTION_TIMEOUT))
    if st.pending_first_workflow_task:
        ex.remove_timer(TimerRef(TimerKind.WORKFLOW_BACKOFF))
    ex.append(event_type, attributes)
    ex.out.closed = True
    ex.out.visibility_changed = True
    ex.out.current_changed = True
    replaced_by_reset = (
        event_type == et.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED
        and getattr(attributes, "identity", "") == RESETTER_IDENTITY
    )
    children.schedule_close_work(ex, replaced_by_reset=replaced_by_reset)
    return updates.drop_unfinished(ex)


def fire_timeout(ex: Execution, ref: TimerRef, new_run_id: str) -> None:
    """The run timeout or the execution timeout is due: the run times out."""
    ex.claim_timer(ref)
    st = ex.state
    if not st.running:
        return
    cont: Continuation | None = None
    retry_state: int = wf_enums.RETRY_STATE_TIMEOUT
    start = ex.start_attributes
    if ref.kind == TimerKind.WORKFLOW_RUN_TIMEOUT and start is not None:
        failure = failure_pb2.Failure(message="workflow timeout")
        failure.timeout_failure_info.timeout_type = wf_enums.TIMEOUT_TYPE_START_TO_CLOSE
        cont, retry_state = retry_or_cron(ex, failure, new_run_id, timed_out=True)
    attrs = history_pb2.WorkflowExecutionTimedOutEventAttributes(
        retry_state=retry_state,  # type: ignore[arg-type]
        new_execution_run_id=cont.run_id if cont else "",
    )
    close(ex, et.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT, attrs)
    if cont is not None and start is not None:
        start_successor(ex, cont, start)
