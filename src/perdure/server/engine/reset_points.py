"""Auto-reset points: for each build id (or binary checksum) of the workers that completed a
run chain's workflow tasks, the first task it completed, which Temporal keeps so that a chain
can be reset to before a bad deployment. A run hands its points on to the run that continues
it (continue-as-new, retry, cron) as prev_auto_reset_points.

Derived from the history alone (the started event's previous points, each WorkflowTaskCompleted
event), so a rebuilt state has them too.
"""

from __future__ import annotations

from temporalio.api.history.v1 import message_pb2 as history_pb2
from temporalio.api.workflow.v1 import message_pb2 as workflow_pb2

from perdure.server.engine.state import ExecutionState

MAX_AUTO_RESET_POINTS = 20
"""Temporal's history.maxAutoResetPoints default: the oldest points make room."""


def add_from_completion(st: ExecutionState, event: history_pb2.HistoryEvent) -> None:
    """A workflow task completed: the first one by its worker's build becomes a point.
    Applied before the completion's commands, so `resettable` sees the requests earlier
    tasks left pending, as Temporal's check does."""
    a = event.workflow_task_completed_event_attributes
    build_id, checksum = a.worker_version.build_id, a.binary_checksum
    if not build_id and not checksum:
        return
    points = st.auto_reset_points.points
    if any(p.build_id == build_id and p.binary_checksum == checksum for p in points):
        return
    point = workflow_pb2.ResetPointInfo(
        build_id=build_id,
        binary_checksum=checksum,
        run_id=st.run_id,
        first_workflow_task_completed_id=event.event_id,
        # Temporal refuses a reset past a request still in flight to another execution.
        resettable=not (st.children or st.external_signals or st.external_cancels),
    )
    point.create_time.CopyFrom(event.event_time)
    kept = list(points)[-(MAX_AUTO_RESET_POINTS - 1) :]
    del points[:]
    points.extend([*kept, point])
