"""Small builders for store records, so tests say only what matters to them."""

from __future__ import annotations

import uuid

from perdure.server.store.base import (
    Commit,
    CurrentExecution,
    CurrentWrite,
    ExecutionKey,
    ExecutionWrite,
    HistoryBatch,
    SqlValue,
    TaskKind,
    TaskRow,
    TimerRow,
    VisibilityRow,
)

NS = "ns-1"
RUNNING = 1
COMPLETED = 2


def new_key(workflow_id: str | None = None, ns: str = NS) -> ExecutionKey:
    return ExecutionKey(ns, workflow_id or f"wf-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex)


def task(
    key: ExecutionKey,
    name: str,
    queue: str = "tq",
    kind: TaskKind = TaskKind.WORKFLOW,
    created: int = 1,
) -> TaskRow:
    return TaskRow(
        key=f"{key.run_id}/{name}",
        namespace_id=key.namespace_id,
        task_queue=queue,
        kind=kind,
        workflow_id=key.workflow_id,
        run_id=key.run_id,
        scheduled_event_id=2,
        created_time=created,
        data=name.encode(),
    )


def timer(key: ExecutionKey, name: str, fire_time: int) -> TimerRow:
    return TimerRow(
        key=f"{key.run_id}/{name}",
        namespace_id=key.namespace_id,
        workflow_id=key.workflow_id,
        run_id=key.run_id,
        fire_time=fire_time,
        data=name.encode(),
    )


def vis(
    key: ExecutionKey,
    start: int = 1,
    close: int | None = None,
    status: int = RUNNING,
    wf_type: str = "T",
    **columns: SqlValue,
) -> VisibilityRow:
    return VisibilityRow(
        namespace_id=key.namespace_id,
        run_id=key.run_id,
        workflow_id=key.workflow_id,
        workflow_type=wf_type,
        task_queue="tq",
        status=status,
        start_time=start,
        execution_time=start,
        close_time=close,
        memo=b"memo",
        search_attributes=b"sa",
        columns=columns,
    )


def current(key: ExecutionKey, status: int = RUNNING, request_id: str = "req") -> CurrentExecution:
    return CurrentExecution(key.namespace_id, key.workflow_id, key.run_id, status, request_id, 1)


def start(key: ExecutionKey, state: bytes = b"s1", last_event: int = 2, **more: object) -> Commit:
    """The commit that starts a run: state, first history batch, current row, a task."""
    fields: dict[str, object] = {
        "executions": [
            ExecutionWrite(key, None, state, HistoryBatch(1, last_event, b"h1-%d" % last_event))
        ],
        "current": CurrentWrite(None, current(key)),
        "tasks_added": [task(key, "wt1")],
        "visibility": [vis(key)],
    }
    fields.update(more)
    return Commit(key.namespace_id, key.workflow_id, **fields)  # type: ignore[arg-type]


def update(key: ExecutionKey, version: int, state: bytes, **more: object) -> Commit:
    return Commit(
        key.namespace_id,
        key.workflow_id,
        executions=[ExecutionWrite(key, version, state, more.pop("history", None))],  # type: ignore[arg-type]
        **more,  # type: ignore[arg-type]
    )
