"""The store's rows for what the engine outputs: the one place engine values become rows.

The engine speaks in its own types (engine/outputs.py, engine/state.py); a commit maps
them here, so the engine never depends on the store.
"""

from __future__ import annotations

from perdure.server.engine.execution import Transition
from perdure.server.engine.state import ExecutionState
from perdure.server.store.base import (
    CurrentExecution,
    SqlValue,
    TaskKind,
    TaskRow,
    TimerRow,
    VisibilityRow,
)


def store_rows(out: Transition) -> tuple[list[TaskRow], list[TimerRow]]:
    """The task and timer rows a transition adds."""
    tasks = [
        TaskRow(
            key=task.key,
            namespace_id=task.namespace_id,
            task_queue=task.task_queue,
            kind=TaskKind(task.kind),
            workflow_id=task.workflow_id,
            run_id=task.run_id,
            scheduled_event_id=task.scheduled_event_id,
            created_time=task.created_time,
            expiry_time=task.expiry_time,
        )
        for task in out.tasks_added
    ]
    timers = [
        TimerRow(
            key=timer.key,
            namespace_id=timer.namespace_id,
            workflow_id=timer.workflow_id,
            run_id=timer.run_id,
            fire_time=timer.fire_time,
            data=timer.ref.encode(),
        )
        for timer in out.timers_added
    ]
    return tasks, timers


def current_row(st: ExecutionState) -> CurrentExecution:
    """The current-execution row naming run `st` (written when a run is created or closes)."""
    return CurrentExecution(
        namespace_id=st.namespace_id,
        workflow_id=st.workflow_id,
        run_id=st.run_id,
        status=st.status,
        start_request_id=st.start_request_id,
        start_time=st.start_time,
        close_time=st.close_time or None,
    )


def visibility_row(
    st: ExecutionState,
    columns: dict[str, SqlValue] | None = None,
    search_attributes: bytes | None = None,
) -> VisibilityRow:
    """The run's visibility row; `columns` are its typed search attribute columns and
    `search_attributes` their normalized form (both made by server/visibility)."""
    return VisibilityRow(
        namespace_id=st.namespace_id,
        run_id=st.run_id,
        workflow_id=st.workflow_id,
        workflow_type=st.workflow_type,
        task_queue=st.task_queue,
        status=st.status,
        start_time=st.start_time,
        execution_time=st.execution_time,
        close_time=st.close_time or None,
        execution_duration=max(st.close_time - st.execution_time, 0) if st.close_time else None,
        history_length=st.next_event_id - 1,
        history_size_bytes=st.history_size_bytes,
        state_transition_count=st.state_transition_count,
        parent_workflow_id=st.parent.workflow_id if st.parent else None,
        parent_run_id=st.parent.run_id if st.parent else None,
        root_workflow_id=st.root_workflow_id,
        root_run_id=st.root_run_id,
        memo=st.memo.SerializeToString() if st.memo.fields else b"",
        search_attributes=(
            search_attributes
            if search_attributes is not None
            else st.search_attributes.SerializeToString()
        ),
        columns=columns or {},
    )
