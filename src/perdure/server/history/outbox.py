"""Work one execution asks of another, carried out step by step from its timer rows.

A command that reaches another workflow (start a child, signal, cancel) and a run that
closes with a parent or children leave a timer row due at once in their own commit: an
outbox entry. Firing the row runs the steps below; each step is one commit on one
execution, and the last one claims the row, so a crash between steps only repeats them.
Repeats are harmless: a child is found again by its parent link (or its start request
id), a signal carries its request id, a cancellation request or a termination of a
closed run changes nothing, and the sender records an outcome only while it still waits
for one. The transitions themselves are in engine/children.py and engine/external.py.
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from temporalio.api.enums.v1 import failed_cause_pb2 as causes
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import children, external, runs, start
from perdure.server.engine.deadlines import TimerKind, TimerRef
from perdure.server.engine.execution import Execution, HistoryEvent
from perdure.server.engine.state import ChildInfo, ExecutionState, ExternalRequestInfo, ParentInfo
from perdure.server.errors import (
    NamespaceNotFound,
    NotFound,
    ResourceExhausted,
    Unavailable,
    WorkflowExecutionAlreadyStarted,
)
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace, NamespaceRegistry
from perdure.server.store.base import ConditionFailed, ExecutionKey, TimerRow

log = logging.getLogger(__name__)

OUTBOX_KINDS = frozenset(
    {
        TimerKind.START_CHILD,
        TimerKind.NOTIFY_PARENT,
        TimerKind.APPLY_PARENT_CLOSE_POLICY,
        TimerKind.SIGNAL_EXTERNAL,
        TimerKind.CANCEL_EXTERNAL,
    }
)
_START_ATTEMPTS = 10
MAX_RESET_HOPS = 100
"""Resets of one run a child's outcome follows at most (each reset names the next run)."""

Step = Callable[[Namespace, TimerRow, TimerRef], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _ChildView:
    parent: children.Parent
    running: bool
    child: ChildInfo


@dataclass(frozen=True, slots=True)
class _RequestView:
    running: bool
    info: ExternalRequestInfo


class Outbox:
    """Runs the cross-execution steps of the timer kinds in `OUTBOX_KINDS`."""

    def __init__(self, history: HistoryService, namespaces: NamespaceRegistry) -> None:
        self._history = history
        self._namespaces = namespaces
        self._steps: dict[TimerKind, Step] = {
            TimerKind.START_CHILD: self._start_child,
            TimerKind.NOTIFY_PARENT: self._notify_parent,
            TimerKind.APPLY_PARENT_CLOSE_POLICY: self._apply_close_policy,
            TimerKind.SIGNAL_EXTERNAL: self._deliver,
            TimerKind.CANCEL_EXTERNAL: self._deliver,
        }

    async def fire(self, row: TimerRow, ref: TimerRef) -> None:
        """Run the row's steps. NotFound/NamespaceNotFound mean the row's own run is gone."""
        ns = await self._namespaces.get_by_id(row.namespace_id)
        await self._steps[ref.kind](ns, row, ref)

    # ------------------------------------------------------------------ helpers

    async def _on_row_run(
        self, ns: Namespace, row: TimerRow, action: Callable[[Execution], object]
    ) -> None:
        await self._history.update(ns, row.workflow_id, row.run_id, action)

    async def _claim(self, ns: Namespace, row: TimerRow, ref: TimerRef) -> None:
        await self._on_row_run(ns, row, lambda ex: ex.claim_timer(ref))

    async def _event(self, ns: Namespace, row: TimerRow, event_id: int) -> HistoryEvent:
        key = ExecutionKey(ns.id, row.workflow_id, row.run_id)
        events = await self._history.read_events(key, event_id, event_id)
        if not events:
            raise Unavailable(f"event {event_id} of {row.workflow_id}/{row.run_id} is missing")
        return events[0]

    async def _namespace(self, name: str, namespace_id: str) -> Namespace | None:
        """The target namespace, or None when it does not exist (any more)."""
        try:
            if namespace_id:
                return await self._namespaces.get_by_id(namespace_id)
            return await self._namespaces.get(name)
        except NamespaceNotFound:
            return None

    # ------------------------------------------------------------------ children

    async def _start_child(self, ns: Namespace, row: TimerRow, ref: TimerRef) -> None:
        def view(st: ExecutionState) -> _ChildView | None:
            child = st.children.get(ref.target_id)
            if child is None or child.run_id:
                return None
            return _ChildView(children.Parent.of(st, ns.name), st.running, copy.copy(child))

        found = await self._history.read(ns, row.workflow_id, row.run_id, view)
        if found is None:
            await self._claim(ns, row, ref)
            return
        initiated = await self._event(ns, row, ref.target_id)
        attrs = initiated.start_child_workflow_execution_initiated_event_attributes
        target = await self._namespace(found.child.namespace, found.child.namespace_id)
        cause = 0
        run_id: str | None = None
        if target is None:
            cause = causes.START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_NAMESPACE_NOT_FOUND
        else:
            try:
                run_id = await self._child_run(target, found, initiated)
            except WorkflowExecutionAlreadyStarted:
                cause = causes.START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_WORKFLOW_ALREADY_EXISTS
        if run_id is None:
            await self._on_row_run(
                ns,
                row,
                lambda ex: children.record_start_failed(ex, ref, cause=cause, initiated=attrs),
            )
            return
        header = attrs.header if attrs.HasField("header") else None
        assert target is not None
        target_id = target.id
        await self._on_row_run(
            ns,
            row,
            lambda ex: children.record_started(
                ex, ref, run_id=run_id, namespace_id=target_id, header=header
            ),
        )

    async def _child_run(
        self, tns: Namespace, found: _ChildView, initiated: HistoryEvent
    ) -> str | None:
        """Create the child's first run, or find the one an earlier attempt created.

        Returns its run id; None when the parent has closed and no child exists (Temporal
        does not start children of a closed parent). Raises WorkflowExecutionAlreadyStarted
        when the id is taken as the reuse and conflict policies say.
        """
        attrs = initiated.start_child_workflow_execution_initiated_event_attributes
        wid = attrs.workflow_id
        link = found.parent.info(initiated.event_id)
        request = rr.StartWorkflowExecutionRequest(
            workflow_id=wid,
            request_id=found.child.create_request_id,
            workflow_id_reuse_policy=attrs.workflow_id_reuse_policy,
        )
        history = self._history
        async with history.workflow_lock(tns, wid):
            for _ in range(_START_ATTEMPTS):
                current = await history.store.get_current_execution(tns.id, wid)
                current_run = None
                if current is not None:
                    current_run = await history.load_locked(tns, wid, current.run_id)
                    if children.is_child_of(current_run.state, link):
                        return current_run.state.first_execution_run_id
                if not found.running:
                    return None
                decision = start.decide(request, current)
                if not decision.create:
                    return decision.existing_run_id
                run_id = history.new_run_id()
                now = history.clock.now_ns()
                spec = children.child_run_spec(
                    initiated,
                    found.parent,
                    namespace_id=tns.id,
                    request_id=found.child.create_request_id,
                    run_id=run_id,
                    now=now,
                )
                parts: list[tuple[Execution, int | None]] = [
                    (runs.create_run(spec, now, tns.name), None)
                ]
                if decision.terminate_current and current_run is not None:
                    old = Execution(current_run.state, now, tns.name)
                    start.terminate_for_new_run(old, run_id, external.IDENTITY)
                    parts.insert(0, (old, current_run.version))
                try:
                    await history.commit(
                        tns, parts, current_expected=current.run_id if current else None
                    )
                except ConditionFailed:
                    if current is not None:
                        history.evict(tns, current.run_id)
                    continue
                return run_id
        raise Unavailable(f"could not start child workflow {wid}: too many concurrent changes")

    async def _notify_parent(self, ns: Namespace, row: TimerRow, ref: TimerRef) -> None:
        def view(st: ExecutionState) -> tuple[ParentInfo, int, str] | None:
            if st.parent is None or not st.close_event_id:
                return None
            return copy.copy(st.parent), st.close_event_id, st.first_execution_run_id

        found = await self._history.read(ns, row.workflow_id, row.run_id, view)
        if found is not None:
            parent, close_event_id, first_run_id = found
            closed = children.ChildClosed(
                initiated_event_id=parent.initiated_event_id,
                workflow_id=row.workflow_id,
                run_id=row.run_id,
                first_run_id=first_run_id,
                close_event=await self._event(ns, row, close_event_id),
            )
            try:
                pns = await self._namespaces.get_by_id(parent.namespace_id)
                await self._history.update(
                    pns,
                    parent.workflow_id,
                    await self._reset_successor(pns, parent.workflow_id, parent.run_id),
                    lambda ex: children.record_child_closed(ex, closed),
                )
            except (NotFound, NamespaceNotFound):
                log.debug("parent of %s/%s is gone", row.workflow_id, row.run_id)
        await self._claim(ns, row, ref)

    async def _reset_successor(self, ns: Namespace, workflow_id: str, run_id: str) -> str:
        """The run that now stands for parent run `run_id`: the run its resets created, as
        Temporal forwards a child's outcome (the reset run took over the children
        initiated before its reset point; it has no record of the others and ignores them)."""
        for _ in range(MAX_RESET_HOPS):
            successor = await self._history.read(
                ns, workflow_id, run_id, lambda st: "" if st.running else st.reset_run_id
            )
            if not successor:
                break
            run_id = successor
        return run_id

    async def _apply_close_policy(self, ns: Namespace, row: TimerRow, ref: TimerRef) -> None:
        def view(st: ExecutionState) -> ChildInfo | None:
            child = st.children.get(ref.target_id)
            return copy.copy(child) if child is not None else None

        child = await self._history.read(ns, row.workflow_id, row.run_id, view)
        if child is not None and child.run_id and child.parent_close_policy != children.ABANDON:
            parent = external.Sender(ns.id, row.workflow_id, row.run_id)
            policy = child.parent_close_policy
            try:
                tns = await self._namespaces.get_by_id(child.namespace_id)
                await self._history.update(
                    tns,
                    child.workflow_id,
                    "",
                    lambda ex: external.apply_close_policy(ex, parent=parent, policy=policy),
                    first_execution_run_id=child.run_id,
                )
            except (NotFound, NamespaceNotFound):
                pass  # The child already closed (or is gone): nothing to apply.
        await self._claim(ns, row, ref)

    # ------------------------------------------------------------------ signals and cancels

    async def _deliver(self, ns: Namespace, row: TimerRow, ref: TimerRef) -> None:
        signal = ref.kind == TimerKind.SIGNAL_EXTERNAL

        def view(st: ExecutionState) -> _RequestView | None:
            pending = st.external_signals if signal else st.external_cancels
            info = pending.get(ref.target_id)
            return _RequestView(st.running, copy.copy(info)) if info is not None else None

        found = await self._history.read(ns, row.workflow_id, row.run_id, view)
        if found is None or not found.running:
            # Temporal does not deliver requests of a closed sender.
            await self._claim(ns, row, ref)
            return
        info = found.info
        initiated = await self._event(ns, row, ref.target_id)
        sender = external.Sender(ns.id, row.workflow_id, row.run_id)
        deliver: Callable[[Execution], None]
        if signal:
            sig = initiated.signal_external_workflow_execution_initiated_event_attributes
            completed_id, control = sig.workflow_task_completed_event_id, sig.control
            deliver = functools.partial(
                external.deliver_signal, sender=sender, initiated=sig, request_id=info.request_id
            )
        else:
            can = initiated.request_cancel_external_workflow_execution_initiated_event_attributes
            completed_id, control = can.workflow_task_completed_event_id, can.control
            deliver = functools.partial(
                external.deliver_cancel,
                sender=sender,
                initiated_event_id=ref.target_id,
                request_id=info.request_id,
                reason=can.reason,
                child_workflow_only=info.child_workflow_only,
            )
        namespace_missing, not_found, too_many = _FAILURE_CAUSES[signal]
        tns = await self._namespace(info.namespace, info.namespace_id)
        cause = not_found
        if tns is None:
            cause = namespace_missing
        elif not (tns.id == ns.id and info.workflow_id == row.workflow_id):
            # (A workflow cannot signal or cancel itself this way: that stays "not found".)
            try:
                await self._history.update(tns, info.workflow_id, info.run_id, deliver)
                cause = 0
            except NotFound:
                pass
            except ResourceExhausted:
                cause = too_many
        target_id = tns.id if tns is not None else ""
        if cause:
            await self._on_row_run(
                ns,
                row,
                lambda ex: external.record_failed(
                    ex,
                    ref,
                    cause=cause,
                    workflow_task_completed_event_id=completed_id,
                    control=control,
                    namespace_id=target_id,
                ),
            )
        else:
            await self._on_row_run(
                ns,
                row,
                lambda ex: external.record_delivered(
                    ex, ref, control=control, namespace_id=target_id
                ),
            )


# (namespace not found, execution not found, too many signals) by "is it a signal".
_FAILURE_CAUSES: dict[bool, tuple[int, int, int]] = {
    True: (
        causes.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_NAMESPACE_NOT_FOUND,
        causes.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND,
        causes.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_SIGNAL_COUNT_LIMIT_EXCEEDED,
    ),
    False: (
        causes.CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_NAMESPACE_NOT_FOUND,
        causes.CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND,
        causes.CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND,
    ),
}
