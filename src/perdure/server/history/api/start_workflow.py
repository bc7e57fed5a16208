"""StartWorkflowExecution and SignalWithStartWorkflowExecution (and eager start).

Under the workflow id's lock: read the current-run row, let the engine decide
(engine/start.py: request-id idempotency, the id reuse and conflict policies), then
commit the new run, with the termination of the running one for TERMINATE_EXISTING,
conditional on the current-run row read. A lost race reloads and decides again. When
signal-with-start finds the workflow running, the signal goes to that run instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import requests, start, workflow_task
from perdure.server.engine.execution import Execution
from perdure.server.engine.workflow_task import StartedWorkflowTask
from perdure.server.errors import InvalidArgument
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace
from perdure.server.store.base import ConditionFailed

MAX_ATTEMPTS = 10

StartRequest = start.StartRequest


@dataclass(frozen=True)
class EagerTask:
    """The first workflow task of a new run, started in the run's own commit."""

    run: Execution
    """The new run as committed (its events are the task's history)."""
    task: StartedWorkflowTask


@dataclass(frozen=True)
class StartResult:
    run_id: str
    """The new run, or the run the request resolved to (a repeat, USE_EXISTING)."""
    started: bool
    """A run was created (or this is a repeat of the request that created it)."""
    eager: EagerTask | None = None
    """Set when eager start was asked for and the run's first task could start."""
    first_execution_run_id: str = ""
    """The first run of the chain `run_id` belongs to."""


def check_request(request: StartRequest) -> None:
    """Refuse a start request no run can be made of (Temporal's messages)."""
    start.validate(request)


async def start_workflow(
    history: HistoryService,
    ns: Namespace,
    request: StartRequest,
    *,
    signal_with_start: bool = False,
    eager: bool = False,
) -> StartResult:
    """Start (or find) the run for a start or signal-with-start request.

    With `eager`, the new run's first workflow task starts in the same commit and comes
    back in the result, for the caller's own worker (eager workflow start).
    """
    if not request.request_id:
        request.request_id = history.new_id()
    async with history.workflow_lock(ns, request.workflow_id):
        for _ in range(MAX_ATTEMPTS):
            current = await history.store.get_current_execution(ns.id, request.workflow_id)
            decision = start.decide(request, current, signal_with_start=signal_with_start)
            if not decision.create:
                if decision.signal_current:
                    assert isinstance(request, rr.SignalWithStartWorkflowExecutionRequest)
                    await _signal_running(history, ns, request, decision.existing_run_id)
                # A repeat of the request that made the run reports it as started.
                repeat = current is not None and current.start_request_id == request.request_id
                existing = await history.load_locked(
                    ns, request.workflow_id, decision.existing_run_id
                )
                return StartResult(
                    decision.existing_run_id,
                    repeat,
                    first_execution_run_id=existing.state.first_execution_run_id,
                )
            run_id = history.new_run_id()
            now = history.clock.now_ns()
            new = start.new_run(
                request, namespace=ns.name, namespace_id=ns.id, run_id=run_id, now=now
            )
            parts: list[tuple[Execution, int | None]] = [(new, None)]
            eager_task = None
            wt = new.state.workflow_task
            if eager and wt is not None:
                eager_task = workflow_task.start(
                    new, wt.seq, identity=request.identity, request_id=request.request_id
                )
            if decision.terminate_current and current is not None:
                cached = await history.load_locked(ns, request.workflow_id, current.run_id)
                old = Execution(cached.state, now, ns.name)
                start.terminate_for_new_run(old, run_id, request.identity)
                parts.insert(0, (old, cached.version))
            try:
                await history.commit(
                    ns, parts, current_expected=current.run_id if current else None
                )
            except ConditionFailed:
                if current is not None:
                    history.evict(ns, current.run_id)
                continue
            return StartResult(
                run_id,
                True,
                EagerTask(new, eager_task) if eager_task is not None else None,
                first_execution_run_id=run_id,
            )
    raise InvalidArgument("could not start the workflow: too many concurrent changes")


async def _signal_running(
    history: HistoryService,
    ns: Namespace,
    request: rr.SignalWithStartWorkflowExecutionRequest,
    run_id: str,
) -> None:
    """Signal-with-start on a running workflow: only the signal, to the running run."""
    attrs = start.signal_attributes(request)
    cached = await history.load_locked(ns, request.workflow_id, run_id)
    ex = Execution(cached.state, history.clock.now_ns(), ns.name)
    try:
        requests.signal(ex, attrs)
        await history.commit(ns, [(ex, cached.version)], current_expected=run_id)
    except BaseException:
        history.evict(ns, run_id)
        raise
