"""The scheduler: the IO shell that takes schedules' actions when they are due.

A native component beside the timer queue, not Temporal's per-schedule internal
workflow: each schedule is one store row with a wake time. The scheduler sleeps until
the earliest wake time (or a poke from an RPC or a closing run), then processes each due
schedule: reload it, note which of its started workflows closed, buffer the times that
came (machine.py), apply the overlap policy, start workflows through the history
operations, and store the state conditionally on the version it read.

On a database shared by several server processes, a process fires only the schedules it
holds a lease on (renewed as it fires them; taken over by another process once it
lapses). Exactly once per scheduled time, across crashes and processes: a start's workflow id
(`<id>-<nominal time>`) and request id derive from the nominal time, so repeating a
start that committed before a crash (or on another process) finds the same run; the
state's conditional write then lets only one processing of a version stand.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Callable

from google.protobuf.message import Message
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.failure.v1 import message_pb2 as failure_pb
from temporalio.api.history.v1 import message_pb2 as history_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.clock import Clock
from perdure.server.errors import NotFound, ServiceError, WorkflowExecutionAlreadyStarted
from perdure.server.history.api.request_cancel_workflow import request_cancel_workflow
from perdure.server.history.api.start_workflow import start_workflow
from perdure.server.history.api.terminate_workflow import terminate_workflow
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace, NamespaceRegistry
from perdure.server.schedules import machine
from perdure.server.schedules.machine import BufferedStart, Running, ScheduleState
from perdure.server.schedules.spec import SECOND
from perdure.server.store.base import ConditionFailed, ExecutionKey, ScheduleRecord, Store
from perdure.server.store.shared import SharedStore

log = logging.getLogger(__name__)

RUNNING_RECHECK = 30 * SECOND
"""A schedule with running workflows is looked at this often even without a close
notice (a run closed by another process, or before a restart)."""
RETRY_DELAY = SECOND
MAX_ATTEMPTS = 20
IN_FLIGHT = 500
"""Schedules processed at once (each waits on its commits most of the time)."""
_RUNNING = wf_enums.WORKFLOW_EXECUTION_STATUS_RUNNING
_TERMINATED = wf_enums.WORKFLOW_EXECUTION_STATUS_TERMINATED


class Scheduler:
    def __init__(
        self, store: Store, history: HistoryService, namespaces: NamespaceRegistry, clock: Clock
    ) -> None:
        self._store = store
        self._shared = store if isinstance(store, SharedStore) else None
        """Other server processes use the database: fire only the schedules this process
        holds a lease on (store/shared.py), so each due fire is taken by one process."""
        self._history = history
        self._namespaces = namespaces
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopped = False
        self._urgent: set[tuple[str, str]] = set()
        self._in_flight: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._again: set[tuple[str, str]] = set()
        self._progress = asyncio.Event()
        """Set when a processing ends (or a poke comes): the loop may fetch more."""
        self._watched: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    # ------------------------------------------------------------------ loop

    def poke(self, namespace_id: str, schedule_id: str) -> None:
        """The schedule changed (or one of its runs closed): process it now."""
        self._urgent.add((namespace_id, schedule_id))
        self._wake.set()
        self._progress.set()

    async def run(self) -> None:
        """Keep up to IN_FLIGHT due schedules in processing; fetch more as they finish
        (pipelined, so one slow schedule does not hold up a whole batch), and sleep until
        the next wake time when none is due."""
        while not self._stopped:
            self._wake.clear()
            try:
                urgent, self._urgent = self._urgent, set()
                for key in urgent:
                    self._launch(key)
                now = self._clock.now_ns()
                limit = IN_FLIGHT + len(self._in_flight)  # those in flight are still due
                if self._shared is not None:
                    due = await self._shared.claim_schedules(now, limit)
                else:
                    due = await self._store.due_schedules(now, limit)
                fresh = [
                    k for r in due if (k := (r.namespace_id, r.schedule_id)) not in self._in_flight
                ]
                for key in fresh[: max(0, IN_FLIGHT - len(self._in_flight))]:
                    self._launch(key)
                if fresh:
                    await self._until_at_most(IN_FLIGHT // 2)
                    continue
                if self._in_flight:
                    await self._until_at_most(0)
                    continue
                if self._shared is not None:
                    wake = await self._shared.next_claimable_schedule_wake()
                else:
                    wake = await self._store.next_schedule_wake()
            except Exception:  # the database may be down: try again shortly
                log.exception("scheduler pass failed")
                wake = self._clock.now_ns() + RETRY_DELAY
            if self._urgent:
                continue
            deadline = wake if wake is not None else self._clock.now_ns() + 60 * SECOND
            await self._clock.sleep_until(deadline, self._wake)

    def _launch(self, key: tuple[str, str]) -> None:
        if key in self._in_flight:
            self._again.add(key)  # once the current processing is done
            return
        task = asyncio.ensure_future(self.process(*key))
        self._in_flight[key] = task

        def done(_: object) -> None:
            self._in_flight.pop(key, None)
            if key in self._again:
                self._again.discard(key)
                self._urgent.add(key)
                self._wake.set()
            self._progress.set()

        task.add_done_callback(done)

    async def _until_at_most(self, n: int) -> None:
        """Wait until at most `n` schedules are in processing (or a poke arrives)."""
        while len(self._in_flight) > n and not self._urgent and not self._stopped:
            self._progress.clear()
            await self._progress.wait()

    async def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        self._progress.set()
        tasks = [*self._watched.values(), *self._in_flight.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------ one schedule

    async def process(self, namespace_id: str, schedule_id: str) -> None:
        """Bring one schedule up to date: closes, due times, overlap, starts."""
        async with self._lock((namespace_id, schedule_id)):
            await self._process(namespace_id, schedule_id)

    @contextlib.asynccontextmanager
    async def _lock(self, key: tuple[str, str]) -> AsyncIterator[None]:
        """One change or processing of a schedule at a time in this process."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def modify(
        self, namespace_id: str, schedule_id: str, change: Callable[[ScheduleState], None]
    ) -> ScheduleState:
        """Change a schedule (update, patch) under its lock, then process it.

        `change` may raise a ServiceError to refuse; NotFound when there is no schedule.
        """
        async with self._lock((namespace_id, schedule_id)):
            for _ in range(MAX_ATTEMPTS):
                record = await self._store.get_schedule(namespace_id, schedule_id)
                if record is None:
                    raise NotFound(
                        f"workflow not found for ID: temporal-sys-scheduler:{schedule_id}"
                    )
                state = ScheduleState.decode(record.state)
                change(state)
                state.update_time = self._clock.now_ns()
                try:
                    await self._store.update_schedule(
                        ScheduleRecord(namespace_id, schedule_id, state.encode(), wake_time=0),
                        record.version,
                    )
                except ConditionFailed:
                    continue
                break
            else:
                raise ConditionFailed(f"schedule {schedule_id}: too many concurrent changes")
            try:
                await self._process(namespace_id, schedule_id)
            except Exception:  # the change is stored: the loop processes it later
                log.exception("schedule %s: processing after a change failed", schedule_id)
                self.poke(namespace_id, schedule_id)
        return state

    async def _process(self, namespace_id: str, schedule_id: str) -> None:
        for _ in range(MAX_ATTEMPTS):
            record = await self._store.get_schedule(namespace_id, schedule_id)
            if record is None:
                return
            state = ScheduleState.decode(record.state)
            ns = await self._namespaces.get_by_id(namespace_id)
            await self._note_closes(ns, state)
            now = self._clock.now_ns()
            machine.take_due(state, now)
            await self._act(ns, state)
            wake = machine.next_wake(state)
            if state.running:
                recheck = self._clock.now_ns() + RUNNING_RECHECK
                wake = recheck if wake is None else min(wake, recheck)
            try:
                await self._store.update_schedule(
                    ScheduleRecord(namespace_id, schedule_id, state.encode(), wake_time=wake),
                    record.version,
                )
            except ConditionFailed:
                continue  # changed meanwhile: the starts made are found again by id
            for run in state.running:
                self._watch(namespace_id, schedule_id, run.run_id)
            return
        log.warning("schedule %s: too many concurrent changes, retrying later", schedule_id)
        self.poke(namespace_id, schedule_id)

    async def _act(self, ns: Namespace, state: ScheduleState) -> None:
        """Apply the overlap policies to the buffer until nothing more can start now."""
        while state.buffer:
            decision = machine.process_buffer(state)
            for start in decision.starts:
                await self._start(ns, state, start)
            if decision.terminate and state.running:
                for run in list(state.running):
                    await self._terminate(ns, state, run)
                continue
            if decision.cancel:
                for run in state.running:
                    if run.run_id not in state.cancel_requested:
                        await self._cancel(ns, run)
                        state.cancel_requested.append(run.run_id)
            return

    async def _start(self, ns: Namespace, state: ScheduleState, start: BufferedStart) -> None:
        info = state.schedule.action.start_workflow
        workflow_id = machine.workflow_id_for(info.workflow_id, start.nominal)
        request = rr.StartWorkflowExecutionRequest(
            namespace=ns.name,
            workflow_id=workflow_id,
            workflow_type=info.workflow_type,
            task_queue=info.task_queue,
            identity="temporal-sys-scheduler",
            request_id=start.request_id,
            workflow_id_reuse_policy=info.workflow_id_reuse_policy,
        )
        copy_present_fields(info, request, START_FIELDS)
        request.search_attributes.CopyFrom(info.search_attributes)
        attrs = request.search_attributes.indexed_fields
        attrs["TemporalScheduledById"].CopyFrom(_keyword(state.schedule_id))
        attrs["TemporalScheduledStartTime"].CopyFrom(_datetime(start.nominal))
        if state.last_completion_result is not None:
            request.last_completion_result.CopyFrom(state.last_completion_result)
        if state.last_failure is not None:
            request.continued_failure.CopyFrom(state.last_failure)
        try:
            result = await start_workflow(self._history, ns, request)
        except WorkflowExecutionAlreadyStarted:
            log.info("schedule %s: %s is already running", state.schedule_id, workflow_id)
            return
        except ServiceError as err:
            log.warning("schedule %s: start of %s failed: %s", state.schedule_id, workflow_id, err)
            return
        machine.record_start(state, start, workflow_id, result.run_id, self._clock.now_ns())

    async def _terminate(self, ns: Namespace, state: ScheduleState, run: Running) -> None:
        request = rr.TerminateWorkflowExecutionRequest(
            namespace=ns.name,
            reason="terminated by schedule overlap policy",
            identity="temporal-sys-scheduler",
        )
        request.workflow_execution.workflow_id = run.workflow_id
        request.workflow_execution.run_id = run.run_id
        try:
            await terminate_workflow(self._history, ns, request)
        except ServiceError:
            pass  # closed meanwhile
        await self._note_closes(ns, state)
        if any(r.run_id == run.run_id for r in state.running):
            machine.record_close(
                state, run, wf_enums.WORKFLOW_EXECUTION_STATUS_TERMINATED, None, None
            )

    async def _cancel(self, ns: Namespace, run: Running) -> None:
        request = rr.RequestCancelWorkflowExecutionRequest(
            namespace=ns.name,
            identity="temporal-sys-scheduler",
            request_id=f"sched-cancel-{run.run_id}",
            reason="cancelled by schedule overlap policy",
        )
        request.workflow_execution.workflow_id = run.workflow_id
        request.workflow_execution.run_id = run.run_id
        try:
            await request_cancel_workflow(self._history, ns, request)
        except ServiceError:
            pass

    # ------------------------------------------------------------------ closes

    async def _note_closes(self, ns: Namespace, state: ScheduleState) -> None:
        for run in list(state.running):
            current = await self._store.get_current_execution(ns.id, run.workflow_id)
            if current is None:  # deleted
                machine.record_close(
                    state, run, wf_enums.WORKFLOW_EXECUTION_STATUS_TERMINATED, None, None
                )
                continue
            if current.status == _RUNNING:
                if current.run_id != run.run_id:  # a retry or continue-as-new: follow it
                    run.run_id = current.run_id
                continue
            result, failure = await self._outcome(ns, run.workflow_id, current.run_id)
            machine.record_close(state, run, current.status, result, failure)

    async def _outcome(
        self, ns: Namespace, workflow_id: str, run_id: str
    ) -> tuple[common_pb.Payloads | None, failure_pb.Failure | None]:
        """The closed run's result or failure (its last event)."""
        row = await self._store.get_visibility(ns.id, run_id)
        if row is None or row.history_length <= 0:
            return None, None
        key = ExecutionKey(ns.id, workflow_id, run_id)
        batches = await self._store.read_history_reverse(key, row.history_length, 1)
        for batch in batches:
            events = history_pb.History.FromString(batch.data).events
            if not events:
                continue
            last = events[-1]
            if last.HasField("workflow_execution_completed_event_attributes"):
                a = last.workflow_execution_completed_event_attributes
                return (a.result if a.HasField("result") else None), None
            if last.HasField("workflow_execution_failed_event_attributes"):
                return None, last.workflow_execution_failed_event_attributes.failure
            if last.HasField("workflow_execution_timed_out_event_attributes"):
                failure = failure_pb.Failure(message="workflow timed out")
                failure.timeout_failure_info.timeout_type = wf_enums.TIMEOUT_TYPE_START_TO_CLOSE
                return None, failure
        return None, None

    def _watch(self, namespace_id: str, schedule_id: str, run_id: str) -> None:
        """Process the schedule again when this run closes (on any process)."""
        if run_id in self._watched:
            return
        # The waiter exists before the status is read, so no close falls between them.
        event = self._history.watchers.waiter(namespace_id, run_id, close_only=True)

        async def wait() -> None:
            try:
                row = await self._store.get_visibility(namespace_id, run_id)
                if row is not None and row.status == _RUNNING:
                    await event.wait()
                self.poke(namespace_id, schedule_id)
            except Exception:
                log.exception("watching run %s of schedule %s", run_id, schedule_id)
            finally:
                self._watched.pop(run_id, None)

        self._watched[run_id] = asyncio.ensure_future(wait())


START_FIELDS = (
    "input", "workflow_execution_timeout", "workflow_run_timeout", "workflow_task_timeout",
    "retry_policy", "memo", "header", "user_metadata", "priority",
)  # fmt: skip
"""The optional fields of a schedule's start action that its workflow starts carry over."""


def copy_present_fields(source: Message, target: Message, names: tuple[str, ...]) -> None:
    """Copy each named message field that `source` has set (the action's info and the start
    request share these names)."""
    for name in names:
        if source.HasField(name):
            getattr(target, name).CopyFrom(getattr(source, name))


def _keyword(value: str) -> common_pb.Payload:
    return common_pb.Payload(
        metadata={"encoding": b"json/plain", "type": b"Keyword"}, data=json.dumps(value).encode()
    )


def _datetime(nanos: int) -> common_pb.Payload:
    t = dt.datetime.fromtimestamp(nanos // SECOND, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return common_pb.Payload(
        metadata={"encoding": b"json/plain", "type": b"Datetime"}, data=json.dumps(t).encode()
    )
