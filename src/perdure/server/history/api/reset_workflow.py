"""ResetWorkflowExecution: a new run from an earlier workflow task of an old one.

Read the base run's history, let the engine build the new run from its prefix, commit.

One commit writes the new run, the termination of the current run (if it runs) and the
base run's link to the new run, conditional on the current-run row it read, so a reset
and another start or reset of the same workflow id never both win. The engine part is
engine/reset.py.
"""

from __future__ import annotations

from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import reset
from perdure.server.engine.execution import Execution
from perdure.server.errors import NotFound, Unavailable
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace
from perdure.server.store.base import ConditionFailed, ExecutionKey

MAX_ATTEMPTS = 10


async def reset_workflow(
    history: HistoryService, ns: Namespace, request: rr.ResetWorkflowExecutionRequest
) -> rr.ResetWorkflowExecutionResponse:
    """Reset as `request` says: the new run (the earlier one for a repeated request)."""
    return rr.ResetWorkflowExecutionResponse(run_id=await _reset(history, ns, request))


async def _reset(
    history: HistoryService, ns: Namespace, request: rr.ResetWorkflowExecutionRequest
) -> str:
    workflow_id = request.workflow_execution.workflow_id
    request_id = request.request_id or history.new_id()
    async with history.workflow_lock(ns, workflow_id):
        for _ in range(MAX_ATTEMPTS):
            current = await history.store.get_current_execution(ns.id, workflow_id)
            if current is None:
                raise NotFound(f"workflow not found for ID: {workflow_id}")
            current_run = await history.load_locked(ns, workflow_id, current.run_id)
            cur = current_run.state
            if cur.last_reset_time and request_id in cur.request_ids:
                return cur.run_id  # a repeat of the reset that made the current run
            base_run_id = request.workflow_execution.run_id or current.run_id
            base_run = (
                current_run
                if base_run_id == current.run_id
                else await history.load_locked(ns, workflow_id, base_run_id)
            )
            base = base_run.state
            key = ExecutionKey(ns.id, workflow_id, base_run_id)
            events = await history.read_events(key, 1, base.next_event_id - 1)
            now = history.clock.now_ns()
            finish = request.workflow_task_finish_event_id
            prefix = reset.reset_prefix(events, finish, now)
            later = [e for e in events if e.event_id >= finish]
            reapplied = reset.to_reapply(
                [*later, *reset.buffered_signals(base)],
                request.reset_reapply_type,
                request.reset_reapply_exclude_types,
            )
            new_run_id = history.new_id()
            new_run = reset.create_reset_run(
                base,
                prefix,
                reapplied,
                new_run_id=new_run_id,
                request_id=request_id,
                reason=request.reason,
                now=now,
                namespace=ns.name,
                new_id=history.new_id,
            )
            # From here on the cached states change: they are dropped unless committed.
            try:
                replaced = Execution(cur, now, ns.name)
                reset.replace_run(replaced, request.reason)
                parts: list[tuple[Execution, int | None]] = [(replaced, current_run.version)]
                if base_run is current_run:
                    reset.link(replaced, new_run_id)
                else:
                    linked = Execution(base, now, ns.name)
                    reset.link(linked, new_run_id)
                    parts.append((linked, base_run.version))
                parts.append((new_run, None))
                await history.commit(ns, parts, current_expected=current.run_id)
            except ConditionFailed:
                history.evict(ns, current.run_id)
                history.evict(ns, base_run_id)
                continue
            except BaseException:
                history.evict(ns, current.run_id)
                history.evict(ns, base_run_id)
                raise
            return new_run_id
    raise Unavailable(f"too many concurrent changes to workflow {workflow_id}; try again")
