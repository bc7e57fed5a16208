"""Read-only views of an execution: DescribeWorkflowExecution and list entries."""

from __future__ import annotations

from temporalio.api.enums.v1 import task_queue_pb2 as tq_enums
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.workflow.v1 import message_pb2 as workflow_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import activity_ops
from perdure.server.engine.retry import duration
from perdure.server.engine.state import ActivityInfo, ActivityState, ExecutionState


def execution_info(st: ExecutionState) -> workflow_pb2.WorkflowExecutionInfo:
    """The WorkflowExecutionInfo that describe and list calls return."""
    info = workflow_pb2.WorkflowExecutionInfo(
        status=st.status,  # type: ignore[arg-type]
        history_length=st.next_event_id - 1,
        task_queue=st.task_queue,
        state_transition_count=st.state_transition_count,
        history_size_bytes=st.history_size_bytes,
        first_run_id=st.first_execution_run_id,
    )
    info.execution.workflow_id = st.workflow_id
    info.execution.run_id = st.run_id
    info.type.name = st.workflow_type
    info.start_time.FromNanoseconds(st.start_time)
    info.execution_time.FromNanoseconds(st.execution_time)
    if st.close_time:
        info.close_time.FromNanoseconds(st.close_time)
        info.execution_duration.CopyFrom(duration(max(st.close_time - st.execution_time, 0)))
    if st.memo.fields:
        info.memo.CopyFrom(st.memo)
    if st.search_attributes.indexed_fields:
        info.search_attributes.CopyFrom(st.search_attributes)
    if st.parent is not None:
        info.parent_namespace_id = st.parent.namespace_id
        info.parent_execution.workflow_id = st.parent.workflow_id
        info.parent_execution.run_id = st.parent.run_id
    if st.root_workflow_id:
        info.root_execution.workflow_id = st.root_workflow_id
        info.root_execution.run_id = st.root_run_id
    if st.priority is not None:
        info.priority.CopyFrom(st.priority)
    return info


def describe(st: ExecutionState) -> rr.DescribeWorkflowExecutionResponse:
    resp = rr.DescribeWorkflowExecutionResponse()
    resp.workflow_execution_info.CopyFrom(execution_info(st))
    if st.auto_reset_points.points:
        resp.workflow_execution_info.auto_reset_points.CopyFrom(st.auto_reset_points)
    config = resp.execution_config
    config.task_queue.name = st.task_queue
    config.task_queue.kind = tq_enums.TASK_QUEUE_KIND_NORMAL
    if st.workflow_execution_timeout:
        config.workflow_execution_timeout.CopyFrom(duration(st.workflow_execution_timeout))
    if st.workflow_run_timeout:
        config.workflow_run_timeout.CopyFrom(duration(st.workflow_run_timeout))
    config.default_workflow_task_timeout.CopyFrom(duration(st.workflow_task_timeout))
    if st.user_metadata is not None:
        config.user_metadata.CopyFrom(st.user_metadata)
    for info in st.activities.values():
        resp.pending_activities.append(_pending_activity(info))
    for child in st.children.values():
        resp.pending_children.append(
            workflow_pb2.PendingChildExecutionInfo(
                workflow_id=child.workflow_id,
                run_id=child.run_id,
                workflow_type_name=child.workflow_type,
                initiated_id=child.initiated_event_id,
                parent_close_policy=child.parent_close_policy,  # type: ignore[arg-type]
            )
        )
    wt = st.workflow_task
    if wt is not None:
        pending = resp.pending_workflow_task
        pending.state = (
            wf_enums.PENDING_WORKFLOW_TASK_STATE_STARTED
            if wt.started
            else wf_enums.PENDING_WORKFLOW_TASK_STATE_SCHEDULED
        )
        pending.scheduled_time.FromNanoseconds(wt.scheduled_time)
        pending.original_scheduled_time.FromNanoseconds(wt.original_scheduled_time)
        if wt.started:
            pending.started_time.FromNanoseconds(wt.started_time)
        pending.attempt = wt.attempt
    ext = resp.workflow_extended_info
    if st.execution_expiration_time:
        ext.execution_expiration_time.FromNanoseconds(st.execution_expiration_time)
    if st.run_expiration_time:
        ext.run_expiration_time.FromNanoseconds(st.run_expiration_time)
    ext.cancel_requested = st.cancel_requested
    ext.original_start_time.FromNanoseconds(st.original_start_time or st.start_time)
    ext.reset_run_id = st.reset_run_id
    if st.last_reset_time:
        ext.last_reset_time.FromNanoseconds(st.last_reset_time)
    return resp


def _pending_activity(info: ActivityInfo) -> workflow_pb2.PendingActivityInfo:
    out = workflow_pb2.PendingActivityInfo(
        activity_id=info.activity_id,
        attempt=info.attempt,
        maximum_attempts=info.retry_policy.maximum_attempts,
        last_worker_identity=info.last_worker_identity or info.started_identity,
        paused=info.paused,
    )
    out.activity_type.name = info.activity_type
    if info.cancel_requested:
        out.state = wf_enums.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED
    elif info.paused:
        out.state = (
            wf_enums.PENDING_ACTIVITY_STATE_PAUSE_REQUESTED
            if info.state == ActivityState.STARTED
            else wf_enums.PENDING_ACTIVITY_STATE_PAUSED
        )
        out.pause_info.pause_time.FromNanoseconds(info.pause_time)
        out.pause_info.manual.identity = info.pause_identity
        out.pause_info.manual.reason = info.pause_reason
    elif info.state == ActivityState.STARTED:
        out.state = wf_enums.PENDING_ACTIVITY_STATE_STARTED
    else:
        out.state = wf_enums.PENDING_ACTIVITY_STATE_SCHEDULED
    if info.heartbeat_details is not None:
        out.heartbeat_details.CopyFrom(info.heartbeat_details)
    if info.last_heartbeat_time:
        out.last_heartbeat_time.FromNanoseconds(info.last_heartbeat_time)
    if info.started_time:
        out.last_started_time.FromNanoseconds(info.started_time)
    if info.state == ActivityState.BACKOFF:
        out.next_attempt_schedule_time.FromNanoseconds(info.scheduled_time)
    else:
        out.scheduled_time.FromNanoseconds(info.scheduled_time)
    if info.schedule_to_close_timeout:
        out.expiration_time.FromNanoseconds(
            info.first_scheduled_time + info.schedule_to_close_timeout
        )
    if info.last_failure is not None:
        out.last_failure.CopyFrom(info.last_failure)
    if info.priority is not None:
        out.priority.CopyFrom(info.priority)
    out.activity_options.CopyFrom(activity_ops.options(info))
    return out
