"""The batch runner: the IO shell that carries batch operations out, durably.

A job is claimed by one server process (a lease in its row, taken and renewed by
conditional writes, so on a shared database exactly one process runs it; a process that
dies leaves a lease that lapses and another takes the job over). The runner reads the
job's query to the end, then acts on each execution through the history operations at
the job's rate, saving its place and counters about once a second (less often for a
very big job, whose lease is longer to match); after a crash it resumes from the last
saved place, repeating the operations done since (terminate, cancel and delete of a
closed or gone execution count as done, and a reset repeats with its request id, so a
repeat is harmless; a repeated signal is a signal sent twice, as with Temporal's batcher).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from temporalio.api.enums.v1 import event_type_pb2 as event_types
from temporalio.api.history.v1 import message_pb2 as history_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.batch import job as jobs
from perdure.server.batch.job import BatchJob
from perdure.server.clock import Clock
from perdure.server.errors import InvalidArgument, NotFound, ServiceError
from perdure.server.history.api.delete_workflow import delete_workflow
from perdure.server.history.api.request_cancel_workflow import request_cancel_workflow
from perdure.server.history.api.reset_workflow import reset_workflow
from perdure.server.history.api.signal_workflow import signal_workflow
from perdure.server.history.api.terminate_workflow import terminate_workflow
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace, NamespaceRegistry
from perdure.server.store.base import (
    BatchRecord,
    ConditionFailed,
    ExecutionKey,
    Store,
    VisibilityQuery,
)

log = logging.getLogger(__name__)

SECOND = 1_000_000_000
LEASE = 30 * SECOND
SAVE_EVERY = SECOND
SAVE_BYTES_PER_SECOND = 100_000
"""A job's row holds its targets, so a big job saves its place less often: about this
many bytes a second at most (a 100,000-execution job, ~6 MB, saves once a minute)."""
SCAN_EVERY = 10.0
LIST_PAGE = 1000

_WFT_SCHEDULED = event_types.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
_WFT_COMPLETED = event_types.EVENT_TYPE_WORKFLOW_TASK_COMPLETED

CompileQuery = Callable[[Namespace, str], VisibilityQuery]


class JobStopped(Exception):
    """The job was stopped, finished, or claimed by another process meanwhile."""


class BatchRunner:
    def __init__(
        self,
        store: Store,
        history: HistoryService,
        namespaces: NamespaceRegistry,
        clock: Clock,
        compile_query: CompileQuery,
        *,
        shared: bool = False,
    ) -> None:
        """`shared`: other server processes use the database too, so a lease held by
        another owner may be alive; without, it is a leftover of this server's past."""
        self._store = store
        self._shared = shared
        self._history = history
        self._namespaces = namespaces
        self._clock = clock
        self._compile = compile_query
        self.owner = uuid.uuid4().hex
        self._running: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._stopped = False

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Take over unfinished jobs that no live process holds, now and every few seconds."""
        while not self._stopped:
            try:
                for record in await self._store.batches_in_state(jobs.RUNNING, None, 100):
                    self._maybe_take(record)
            except Exception:
                log.exception("batch scan failed")
            await asyncio.sleep(SCAN_EVERY)

    async def stop(self) -> None:
        self._stopped = True
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)

    def launch(self, record: BatchRecord) -> None:
        """A job this process just created (and holds the lease of)."""
        self._spawn(record)

    def _maybe_take(self, record: BatchRecord) -> None:
        if (record.namespace_id, record.job_id) in self._running:
            return
        job = BatchJob.decode(record.data)
        if self._held_elsewhere(job):
            return
        self._spawn(record)

    def _held_elsewhere(self, job: BatchJob) -> bool:
        return (
            self._shared
            and bool(job.owner)
            and job.owner != self.owner
            and job.lease_until > self._clock.now_ns()
        )

    def _spawn(self, record: BatchRecord) -> None:
        key = (record.namespace_id, record.job_id)
        if key in self._running:
            return
        task = asyncio.ensure_future(self._run_job(record.namespace_id, record.job_id))
        self._running[key] = task
        task.add_done_callback(lambda _: self._running.pop(key, None))

    # ------------------------------------------------------------------ one job

    async def _run_job(self, namespace_id: str, job_id: str) -> None:
        try:
            job, version = await self._claim(namespace_id, job_id)
            ns = await self._namespaces.get_by_id(namespace_id)
            if job.targets is None:
                job.targets = await self._targets(ns, job.request)
                version = await self._save(job, version, _cadence(job)[1])
            await self._work(ns, job, version)
        except JobStopped:
            return
        except Exception:
            log.exception("batch operation %s failed; it is taken up again later", job_id)

    async def _claim(self, namespace_id: str, job_id: str) -> tuple[BatchJob, int]:
        record = await self._store.get_batch(namespace_id, job_id)
        if record is None or record.state != jobs.RUNNING:
            raise JobStopped
        job = BatchJob.decode(record.data)
        if self._held_elsewhere(job):
            raise JobStopped
        job.owner = self.owner
        return job, await self._save(job, record.version)

    async def _save(self, job: BatchJob, version: int, lease: int = LEASE) -> int:
        """Store the job's progress with a renewed lease; JobStopped if it changed."""
        if job.state == jobs.RUNNING:
            job.lease_until = self._clock.now_ns() + lease
        record = BatchRecord(job.namespace_id, job.job_id, job.state, job.start_time, job.encode())
        try:
            await self._store.update_batch(record, version)
        except ConditionFailed:
            raise JobStopped from None
        return version + 1

    async def _targets(
        self, ns: Namespace, request: rr.StartBatchOperationRequest
    ) -> list[tuple[str, str]]:
        if not request.visibility_query:
            listed = [(e.workflow_id, e.run_id) for e in request.executions]
            return listed
        query = self._compile(ns, request.visibility_query)
        out: list[tuple[str, str]] = []
        token = b""
        while True:
            page = await self._store.list_visibility(ns.id, query, LIST_PAGE, token)
            out.extend((row.workflow_id, row.run_id) for row in page.items)
            if not page.next_page_token:
                return out
            token = page.next_page_token

    async def _work(self, ns: Namespace, job: BatchJob, version: int) -> None:
        assert job.targets is not None
        rps = job.request.max_operations_per_second or jobs.DEFAULT_RPS
        interval = 1.0 / rps
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        last_save = self._clock.now_ns()
        save_every, lease = _cadence(job)
        while job.cursor < len(job.targets):
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            next_at = max(next_at, loop.time() - 1.0) + interval
            workflow_id, run_id = job.targets[job.cursor]
            try:
                await self._apply(ns, job, workflow_id, run_id)
                job.advance(True)
            except ServiceError as err:
                job.advance(False, f"{workflow_id}: {err.message}")
            if self._clock.now_ns() - last_save >= save_every:
                version = await self._save(job, version, lease)
                last_save = self._clock.now_ns()
        save_every, lease = _cadence(job)
        job.finish(self._clock.now_ns())
        await self._save(job, version)

    async def _apply(self, ns: Namespace, job: BatchJob, workflow_id: str, run_id: str) -> None:
        r = job.request
        identity = jobs.identity_of(r)
        try:
            if job.operation == jobs.TERMINATE:
                term = rr.TerminateWorkflowExecutionRequest(
                    namespace=ns.name, reason=r.reason, identity=identity
                )
                if r.termination_operation.HasField("details"):
                    term.details.CopyFrom(r.termination_operation.details)
                term.workflow_execution.workflow_id = workflow_id
                term.workflow_execution.run_id = run_id
                await terminate_workflow(self._history, ns, term)
            elif job.operation == jobs.CANCEL:
                cancel = rr.RequestCancelWorkflowExecutionRequest(
                    namespace=ns.name,
                    reason=r.reason,
                    identity=identity,
                    request_id=f"batch-{job.job_id}-{run_id}",
                )
                cancel.workflow_execution.workflow_id = workflow_id
                cancel.workflow_execution.run_id = run_id
                await request_cancel_workflow(self._history, ns, cancel)
            elif job.operation == jobs.SIGNAL:
                op = r.signal_operation
                signal = rr.SignalWorkflowExecutionRequest(
                    namespace=ns.name, signal_name=op.signal, identity=identity,
                    request_id=f"batch-{job.job_id}-{run_id}",
                )  # fmt: skip
                if op.HasField("input"):
                    signal.input.CopyFrom(op.input)
                if op.HasField("header"):
                    signal.header.CopyFrom(op.header)
                signal.workflow_execution.workflow_id = workflow_id
                signal.workflow_execution.run_id = run_id
                await signal_workflow(self._history, ns, signal)
            elif job.operation == jobs.RESET:
                await self._reset(ns, job, workflow_id, run_id)
            elif job.operation == jobs.DELETE:
                delete = rr.DeleteWorkflowExecutionRequest(namespace=ns.name)
                delete.workflow_execution.workflow_id = workflow_id
                delete.workflow_execution.run_id = run_id
                await delete_workflow(self._history, ns, delete)
        except NotFound:
            if job.operation == jobs.SIGNAL:
                raise
            # Closed already, or gone: nothing left to terminate, cancel or delete.

    async def _reset(self, ns: Namespace, job: BatchJob, workflow_id: str, run_id: str) -> None:
        op = job.request.reset_operation
        target = jobs.reset_target(op)
        run_id = await self._history.resolve_run_id(ns, workflow_id, run_id)
        if isinstance(target, int):
            event_id = target
        else:
            event_id = await self._workflow_task_event(ns, workflow_id, run_id, target)
        reset = rr.ResetWorkflowExecutionRequest(
            namespace=ns.name,
            reason=job.request.reason,
            workflow_task_finish_event_id=event_id,
            request_id=f"batch-{job.job_id}-{run_id}",
            identity=op.identity,
        )
        reset.workflow_execution.workflow_id = workflow_id
        reset.workflow_execution.run_id = run_id
        options = op.options
        reset.reset_reapply_type = options.reset_reapply_type or op.reset_reapply_type
        reset.reset_reapply_exclude_types.extend(options.reset_reapply_exclude_types)
        reset.post_reset_operations.extend(op.post_reset_operations)
        await reset_workflow(self._history, ns, reset)

    async def _workflow_task_event(
        self, ns: Namespace, workflow_id: str, run_id: str, which: str
    ) -> int:
        """The event a reset to the first or last workflow task names: that task's
        completed event, or, when no task completed, the event after its scheduling."""
        key = ExecutionKey(ns.id, workflow_id, run_id)
        first_scheduled = first_completed = last_completed = 0
        next_id = 1
        while True:
            batches = await self._store.read_history(key, next_id, 1000)
            events = [
                e
                for b in batches
                for e in history_pb.History.FromString(b.data).events
                if e.event_id >= next_id
            ]
            if not events:
                break
            for e in events:
                if e.event_type == _WFT_COMPLETED:
                    first_completed = first_completed or e.event_id
                    last_completed = e.event_id
                elif e.event_type == _WFT_SCHEDULED:
                    first_scheduled = first_scheduled or e.event_id
            if which == jobs.FIRST_WORKFLOW_TASK and first_completed:
                break
            next_id = events[-1].event_id + 1
        completed = first_completed if which == jobs.FIRST_WORKFLOW_TASK else last_completed
        if completed:
            return completed
        if first_scheduled:
            return first_scheduled + 1
        raise InvalidArgument("unable to find any scheduled or completed task")

    # ------------------------------------------------------------------ stop

    async def stop_job(self, namespace_id: str, job_id: str, reason: str) -> None:
        """StopBatchOperation: the job ends as FAILED; its runner sees the change at its
        next save and stops."""
        for _ in range(20):
            record = await self._store.get_batch(namespace_id, job_id)
            if record is None:
                raise NotFound(f"workflow not found for ID: {job_id}")
            if record.state != jobs.RUNNING:
                raise NotFound("workflow execution already completed")
            job = BatchJob.decode(record.data)
            job.finish(self._clock.now_ns(), jobs.FAILED)
            job.errors.append(f"stopped: {reason}")
            updated = BatchRecord(namespace_id, job_id, job.state, job.start_time, job.encode())
            try:
                await self._store.update_batch(updated, record.version)
            except ConditionFailed:
                continue
            task = self._running.get((namespace_id, job_id))
            if task is not None:
                task.cancel()
            return
        raise NotFound(f"batch operation {job_id}: too many concurrent changes")


def _cadence(job: BatchJob) -> tuple[int, int]:
    """How often a job saves its place, and how long its lease must last (longer than
    that, so that no other process takes a job that is still running)."""
    save_every = max(SAVE_EVERY, SECOND * len(job.encode()) // SAVE_BYTES_PER_SECOND)
    return save_every, max(LEASE, 3 * save_every)
