"""The history service: applies engine transitions to stored executions.

For each request it takes the workflow id's lock, loads the run's mutable state (from a
per-process cache checked by version, else the store), lets an engine function mutate
it, and commits the result as one conditional store transaction (DESIGN.md §3). A
conflict means another writer got there first: the state is reloaded and the step
applied again. Only after the commit is durable are tasks handed to matching, timers to
the timer queue, and history long polls woken: the commit's effects, one interface given
at construction (history/effects.py). The operations built on `update` and `commit`, one
module each, are in history/api/.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.history.v1 import message_pb2 as history_pb2

from perdure.server import ids
from perdure.server.clock import Clock
from perdure.server.engine import codec, history_limits, requests, retention
from perdure.server.engine.execution import Execution, HistoryEvent
from perdure.server.engine.history_limits import DEFAULT as DEFAULT_LIMITS
from perdure.server.engine.history_limits import HistoryLimits
from perdure.server.engine.settings import DEFAULT_SETTINGS, EngineSettings
from perdure.server.engine.state import ExecutionState
from perdure.server.errors import HistoryLimitExceeded, NotFound, Unavailable
from perdure.server.history.effects import CommitEffects, HistoryObserver, NoEffects
from perdure.server.history.rows import current_row, store_rows, visibility_row
from perdure.server.history.watchers import HistoryWatchers
from perdure.server.matching.queues import DirectDispatch
from perdure.server.namespaces import Namespace
from perdure.server.store.base import (
    Commit,
    ConditionFailed,
    CurrentExecution,
    CurrentWrite,
    ExecutionKey,
    ExecutionWrite,
    HistoryBatch,
    Store,
    TaskAlreadyClaimed,
    TaskRow,
    TimerRow,
    VisibilityRow,
)
from perdure.server.store.shared import ExecutionNotice, SharedStore

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_CONFLICT_RETRIES = 10
StartedAttributes = history_pb2.WorkflowExecutionStartedEventAttributes


EVENT_TAIL = 64
"""Recent events kept in memory per cached run: what workflow task polls (sticky ones read
from the previous task on), result waits and start-attribute reads mostly need."""


@dataclass
class CachedRun:
    state: ExecutionState
    version: int
    start_attributes: StartedAttributes | None = None
    events_from: int = 0
    """Id of the first event in `events`: a contiguous tail of the run's history."""
    events: list[HistoryEvent] = field(default_factory=list)

    def carry_events(self, previous: CachedRun | None, new: Sequence[HistoryEvent]) -> None:
        """Keep the tail of what `previous` knew plus the events this commit wrote."""
        if previous is not None and previous.events:
            tail, start = previous.events, previous.events_from
        else:
            tail, start = [], 0
        if new:
            if tail and start + len(tail) == new[0].event_id:
                tail = [*tail, *new]
            else:
                tail, start = list(new), new[0].event_id
        if len(tail) > EVENT_TAIL:
            start += len(tail) - EVENT_TAIL
            tail = tail[-EVENT_TAIL:]
        self.events_from, self.events = start, tail

    def cached_events(self, first: int, last: int) -> list[HistoryEvent] | None:
        """Events first..last from memory, or None if the tail does not hold them all."""
        if not self.events or first < self.events_from:
            return None
        if last >= self.events_from + len(self.events):
            return None
        return self.events[first - self.events_from : last - self.events_from + 1]


VisibilityBuilder = Callable[[ExecutionState, Namespace], VisibilityRow]


class _KeyedLocks:
    """One asyncio lock per workflow id, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, namespace_id: str, workflow_id: str) -> AsyncIterator[None]:
        key = (namespace_id, workflow_id)
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class _SplitBatch(Exception):
    """A merged batch of updates cannot be applied as one: apply each alone."""


class _PendingUpdate:
    """An update waiting for its workflow id's lock; whoever holds it may apply it."""

    __slots__ = ("action", "error", "finished", "result", "target")

    def __init__(self, action: Callable[[Execution], Any], target: tuple[str, str, bool]) -> None:
        self.action = action
        self.target = target
        """(run id, first execution run id, needs start attributes): updates merge only
        with updates of the same target."""
        self.finished = False
        self.result: Any = None
        self.error: BaseException | None = None

    def finish(self, result: Any, error: BaseException | None) -> None:
        self.finished, self.result, self.error = True, result, error


class HistoryService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        effects: CommitEffects | None = None,
        cache_size: int = 10_000,
        build_visibility_row: VisibilityBuilder = lambda st, ns: visibility_row(st),
        settings: EngineSettings = DEFAULT_SETTINGS,
        observer: HistoryObserver | None = None,
        history_limits: Callable[[str], HistoryLimits] = lambda namespace: DEFAULT_LIMITS,
    ) -> None:
        """`effects`: what commits set off in the rest of the server (history/effects.py);
        none for a history that only reads and writes the store. `settings`: the
        engine's thresholds, given to every transition. `observer`: metrics."""
        self.settings = settings
        self.store = store
        self.clock = clock
        self.watchers = HistoryWatchers()
        self._effects: CommitEffects = effects if effects is not None else NoEffects()
        self._cache: OrderedDict[tuple[str, str], CachedRun] = OrderedDict()
        self._cache_size = cache_size
        self._locks = _KeyedLocks()
        self._pending: dict[tuple[str, str], list[_PendingUpdate]] = {}
        """Updates queued per (namespace id, workflow id), applied by the lock holder."""
        self._visibility_row = build_visibility_row
        self._observer = observer
        self._history_limits = history_limits
        """A namespace's name -> its history limits (engine/history_limits.py)."""
        self._shared = store if isinstance(store, SharedStore) else None
        """Set when other server processes commit to the same database (store/shared.py):
        the cache may then be stale, so reads check the stored version."""

    @staticmethod
    def new_id() -> str:
        """A random id: request ids, query ids, and the runs that continue a chain."""
        return ids.uuid4()

    @staticmethod
    def new_run_id() -> str:
        """The id of a run a start creates (a workflow or a child): time-ordered UUIDv7,
        as on Temporal (server/ids.py)."""
        return ids.uuid7()

    # ------------------------------------------------------------------ loading

    def _evict(self, namespace_id: str, run_id: str) -> None:
        self._cache.pop((namespace_id, run_id), None)

    async def _load(self, key: ExecutionKey, *, refresh: bool = False) -> CachedRun | None:
        """The run's state: cached, or loaded. `refresh`: on a shared database, make sure a
        cached copy is still the stored version (one small query)."""
        cache_key = (key.namespace_id, key.run_id)
        cached = self._cache.get(cache_key)
        if self._observer is not None:
            self._observer.cache_lookup(cached is not None)
        if cached is not None and cached.state.workflow_id != key.workflow_id:
            return None  # that run belongs to another workflow id: none by this key
        if cached is not None:
            self._cache.move_to_end(cache_key)
            if not refresh or self._shared is None:
                return cached
            snapshot = await self._shared.refresh_execution(key, cached.version)
            if snapshot is None:
                self._evict(key.namespace_id, key.run_id)
                return None
            if not snapshot.state:
                return cached
        else:
            snapshot = await self.store.load_execution(key)
        if snapshot is None:
            return None
        cached = CachedRun(codec.decode(ExecutionState, snapshot.state), snapshot.version)
        self._remember(cached)
        return cached

    def _remember(self, cached: CachedRun) -> None:
        key = (cached.state.namespace_id, cached.state.run_id)
        self._cache[key] = cached
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def start_attributes(self, cached: CachedRun) -> StartedAttributes:
        """The run's WorkflowExecutionStarted attributes (its input, for retry and cron)."""
        if cached.start_attributes is None:
            st = cached.state
            events = await self.read_events(
                ExecutionKey(st.namespace_id, st.workflow_id, st.run_id), 1, 1
            )
            if not events or events[0].event_type != et.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                raise Unavailable(f"history of {st.workflow_id}/{st.run_id} has no start event")
            cached.start_attributes = events[0].workflow_execution_started_event_attributes
        return cached.start_attributes

    async def current(self, ns: Namespace, workflow_id: str) -> CurrentExecution:
        current = await self.store.get_current_execution(ns.id, workflow_id)
        if current is None:
            raise NotFound(f"workflow not found for ID: {workflow_id}")
        return current

    async def resolve_run_id(self, ns: Namespace, workflow_id: str, run_id: str) -> str:
        return run_id or (await self.current(ns, workflow_id)).run_id

    # ------------------------------------------------------------------ transitions

    async def update(
        self,
        ns: Namespace,
        workflow_id: str,
        run_id: str,
        action: Callable[[Execution], T],
        *,
        first_execution_run_id: str = "",
        needs_start_attributes: bool = False,
    ) -> T:
        """Apply `action` to a run (the current one if `run_id` is empty) and commit.

        Requests that queue for the same run while another one holds the workflow id's
        lock are applied together, in arrival order, and committed once (`_PendingUpdate`):
        a fan-out's activity starts and results cost one commit per batch, not each.
        """
        op = _PendingUpdate(action, (run_id, first_execution_run_id, needs_start_attributes))
        key = (ns.id, workflow_id)
        self._pending.setdefault(key, []).append(op)
        try:
            async with self._locks.hold(ns.id, workflow_id):
                if not op.finished:
                    batch = self._take_pending(key, op)
                    if len(batch) == 1:
                        await self._apply_alone(ns, workflow_id, op)
                    else:
                        await self._apply_batch_shielded(ns, workflow_id, batch)
        finally:
            waiting = self._pending.get(key)
            if waiting is not None and op in waiting:
                waiting.remove(op)  # cancelled before anyone applied it
                if not waiting:
                    del self._pending[key]
        if op.error is not None:
            raise op.error
        return op.result  # type: ignore[no-any-return]

    def _take_pending(self, key: tuple[str, str], first: _PendingUpdate) -> list[_PendingUpdate]:
        """`first` and the queued updates of the same run, taken off the queue."""
        waiting = self._pending.get(key, [])
        batch = [first, *(op for op in waiting if op is not first and op.target == first.target)]
        rest = [op for op in waiting if op.target != first.target]
        if rest:
            self._pending[key] = rest
        else:
            self._pending.pop(key, None)
        return batch

    async def _apply_alone(self, ns: Namespace, workflow_id: str, op: _PendingUpdate) -> None:
        run_id, first_execution_run_id, needs_start_attributes = op.target
        try:
            (result,) = await self._transition(
                ns, workflow_id, run_id, [op.action], first_execution_run_id,
                needs_start_attributes,
            )  # fmt: skip
        except BaseException as err:
            op.finish(None, err)
            if not isinstance(err, Exception):
                raise
        else:
            op.finish(result, None)

    async def _apply_batch_shielded(
        self, ns: Namespace, workflow_id: str, batch: list[_PendingUpdate]
    ) -> None:
        """Apply others' updates to the end even if this caller is cancelled meanwhile (the
        lock stays held until then): they are not the caller's to drop."""
        work = asyncio.ensure_future(self._apply_batch(ns, workflow_id, batch))
        cancelled = False
        while not work.done():
            try:
                await asyncio.shield(work)
            except asyncio.CancelledError:
                if work.done() and work.cancelled():
                    raise
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError

    async def _apply_batch(
        self, ns: Namespace, workflow_id: str, batch: list[_PendingUpdate]
    ) -> None:
        run_id, first_execution_run_id, needs_start_attributes = batch[0].target
        try:
            results = await self._transition(
                ns, workflow_id, run_id, [op.action for op in batch],
                first_execution_run_id, needs_start_attributes,
            )  # fmt: skip
        except _SplitBatch:
            for op in batch:  # one of them fails or needs a step of its own
                await self._apply_alone(ns, workflow_id, op)
        except Exception as err:
            for op in batch:
                op.finish(None, err)
        else:
            for op, result in zip(batch, results, strict=True):
                op.finish(result, None)

    async def _transition(
        self,
        ns: Namespace,
        workflow_id: str,
        run_id: str,
        actions: Sequence[Callable[[Execution], Any]],
        first_execution_run_id: str,
        needs_start_attributes: bool,
    ) -> list[Any]:
        """Load the run, apply `actions` in order, commit once; retried on conflicts.
        With several actions, any failure raises `_SplitBatch` (state evicted)."""
        claim_failed = stale_retried = False
        merged = len(actions) > 1
        for _ in range(MAX_CONFLICT_RETRIES):
            target = await self.resolve_run_id(ns, workflow_id, run_id)
            key = ExecutionKey(ns.id, workflow_id, target)
            from_cache = (ns.id, target) in self._cache
            cached = await self._load(key)
            if cached is None or (
                first_execution_run_id
                and cached.state.first_execution_run_id != first_execution_run_id
            ):
                raise NotFound(
                    f"workflow execution not found for workflow ID {workflow_id} "
                    f"and run ID {target}"
                )
            ex = Execution(cached.state, self.clock.now_ns(), ns.name, settings=self.settings)
            if needs_start_attributes or cached.state.retry_policy or cached.state.cron_schedule:
                ex.start_attributes = await self.start_attributes(cached)
            before = history_limits.HistoryMark.of(cached.state)
            try:
                results = [action(ex) for action in actions]
            except Exception:
                self._evict(ns.id, target)
                if merged:
                    raise _SplitBatch from None
                if self._shared is not None and from_cache and not stale_retried:
                    # Another process may have moved the run on (the task this action
                    # expects may exist only there): judge again on the stored state.
                    stale_retried = True
                    continue
                raise
            except BaseException:
                self._evict(ns.id, target)
                raise
            verdict = history_limits.check(before, ex.state, self._history_limits(ns.name))
            if verdict.terminate_reason is not None and merged:
                self._evict(ns.id, target)
                raise _SplitBatch
            for warning in verdict.warnings:
                log.warning("%s: workflow %s run %s", warning, workflow_id, target)
            if verdict.terminate_reason is not None:
                self._evict(ns.id, target)
                await self._terminate_over_limit(ns, key, verdict.terminate_reason)
                raise HistoryLimitExceeded(verdict.terminate_reason)
            try:
                await self.commit(ns, [(ex, cached.version)], current_expected=target)
            except TaskAlreadyClaimed:
                # The task or timer row is gone. Once more on fresh state; if the row
                # is still missing, retrying cannot bring it back: the caller decides.
                self._evict(ns.id, target)
                if merged:
                    raise _SplitBatch from None
                if claim_failed:
                    raise
                claim_failed = True
                continue
            except ConditionFailed:
                self._evict(ns.id, target)
                continue
            return results
        raise Unavailable(f"too many write conflicts on workflow {workflow_id}")

    async def _terminate_over_limit(self, ns: Namespace, key: ExecutionKey, reason: str) -> None:
        """Drop the transition that passed a history limit; terminate the run instead."""
        cached = await self._load(key)
        if cached is None or not cached.state.running:
            return
        log.warning("%s: terminating workflow %s run %s", reason, key.workflow_id, key.run_id)
        ex = Execution(cached.state, self.clock.now_ns(), ns.name)
        requests.terminate(
            ex, reason=reason, details=None, identity=history_limits.TERMINATE_IDENTITY
        )
        try:
            await self.commit(ns, [(ex, cached.version)], current_expected=key.run_id)
        except (ConditionFailed, TaskAlreadyClaimed):
            self._evict(ns.id, key.run_id)
            raise Unavailable(f"write conflict terminating {key.workflow_id}") from None

    async def read(
        self, ns: Namespace, workflow_id: str, run_id: str, view: Callable[[ExecutionState], T]
    ) -> T:
        """A consistent read-only view of a run (the current one if `run_id` is empty)."""
        async with self._locks.hold(ns.id, workflow_id):
            target = await self.resolve_run_id(ns, workflow_id, run_id)
            cached = await self._load(ExecutionKey(ns.id, workflow_id, target), refresh=True)
            if cached is None:
                raise NotFound(
                    f"workflow execution not found for workflow ID {workflow_id} "
                    f"and run ID {target}"
                )
            return view(cached.state)

    @asynccontextmanager
    async def workflow_lock(self, ns: Namespace, workflow_id: str) -> AsyncIterator[None]:
        """Hold the workflow id's lock around a multi-step decision (starting a run)."""
        async with self._locks.hold(ns.id, workflow_id):
            yield

    async def load_locked(self, ns: Namespace, workflow_id: str, run_id: str) -> CachedRun:
        """Load a run while holding `workflow_lock` (for multi-run commits)."""
        cached = await self._load(ExecutionKey(ns.id, workflow_id, run_id))
        if cached is None:
            raise NotFound(f"workflow execution not found for run ID {run_id}")
        return cached

    def evict(self, ns: Namespace, run_id: str) -> None:
        self._evict(ns.id, run_id)

    # ------------------------------------------------------------------ commit

    def _all_runs(
        self, parts: Sequence[tuple[Execution, int | None]]
    ) -> list[tuple[Execution, int | None]]:
        runs: list[tuple[Execution, int | None]] = []
        for ex, version in parts:
            runs.append((ex, version))
            runs.extend((new.execution, None) for new in ex.out.new_runs)
        return runs

    async def commit(
        self,
        ns: Namespace,
        parts: Sequence[tuple[Execution, int | None]],
        *,
        current_expected: str | None,
    ) -> None:
        """Write the transitions of `parts` (same workflow id) as one store commit.

        `current_expected` is the run id the current-execution row must still name (None:
        no row may exist yet).
        """
        runs = self._all_runs(parts)
        dispatches: list[DirectDispatch] = []
        for ex, _ in runs:
            if ex.out.tasks_added:
                dispatches.extend(self._effects.dispatch_directly(ns, ex))
        writes: list[ExecutionWrite] = []
        tasks_added: list[TaskRow] = []
        timers_added: list[TimerRow] = []
        claimed: list[str] = []
        removed: list[str] = []
        timers_claimed: list[str] = []
        timers_removed: list[str] = []
        visibility: list[VisibilityRow] = []
        current: CurrentWrite | None = None
        for ex, version in runs:
            st, out = ex.state, ex.out
            if out.closed:
                retention.schedule_deletion(ex, ns.retention_nanos)
            st.state_transition_count += 1
            batch = None
            if out.events:
                data = history_pb2.History(events=out.events).SerializeToString()
                batch = HistoryBatch(out.events[0].event_id, out.events[-1].event_id, data)
            writes.append(
                ExecutionWrite(
                    ExecutionKey(st.namespace_id, st.workflow_id, st.run_id),
                    version,
                    codec.encode(st),
                    batch,
                )
            )
            task_rows, timer_rows = store_rows(out)
            tasks_added.extend(task_rows)
            claimed.extend(out.tasks_claimed)
            removed.extend(out.tasks_removed)
            timers_added.extend(timer_rows)
            timers_claimed.extend(out.timers_claimed)
            timers_removed.extend(out.timers_removed)
            if out.visibility_changed or out.created:
                visibility.append(self._visibility_row(st, ns))
            if out.created or out.current_changed:
                current = CurrentWrite(current_expected, current_row(st))
        if tasks_added:
            tasks_added = self._effects.lease_tasks(tasks_added)
        started = time.perf_counter()
        try:
            await self.store.commit(
                Commit(
                    namespace_id=ns.id,
                    workflow_id=parts[0][0].state.workflow_id,
                    executions=writes,
                    current=current,
                    tasks_added=tasks_added,
                    tasks_claimed=claimed,
                    tasks_removed=removed,
                    timers_added=timers_added,
                    timers_claimed=timers_claimed,
                    timers_removed=timers_removed,
                    visibility=visibility,
                )
            )
        except BaseException:
            if self._observer is not None:
                self._observer.committed(ns.name, len(runs), time.perf_counter() - started, False)
            # The transitions changed the cached states in place; whether or not the
            # commit landed (a lost connection leaves that open), reload them next time.
            for ex, _ in runs:
                self._evict(ex.state.namespace_id, ex.state.run_id)
            for handed in dispatches:
                handed.give_back()
            if tasks_added:
                self._effects.abandon_leases(tasks_added)
            raise
        if self._observer is not None:
            self._observer.committed(ns.name, len(runs), time.perf_counter() - started, True)
        for (ex, _), write in zip(runs, writes, strict=True):
            st = ex.state
            cached = CachedRun(st, write.new_version, ex.start_attributes)
            cached.carry_events(self._cache.get((st.namespace_id, st.run_id)), ex.out.events)
            self._remember(cached)
        for handed in dispatches:
            handed.deliver()
        if timers_removed:
            self._effects.timers_removed(timers_removed)
        self._after_commit(ns, runs, tasks_added, timers_added)

    def remote_commit(self, notice: ExecutionNotice) -> None:
        """Another process committed a run: drop an older cached copy, wake its waiters."""
        cache_key = (notice.namespace_id, notice.run_id)
        cached = self._cache.get(cache_key)
        if cached is not None and cached.version < notice.version:
            del self._cache[cache_key]
        self.watchers.notify(notice.namespace_id, notice.run_id)

    def _after_commit(
        self,
        ns: Namespace,
        runs: Sequence[tuple[Execution, int | None]],
        tasks: Sequence[TaskRow],
        timers: Sequence[TimerRow],
    ) -> None:
        if tasks:
            self._effects.tasks_added(tasks)
        if timers:
            self._effects.timers_added(timers)
        for ex, _ in runs:
            st = ex.state
            if ex.out.events or ex.out.closed or ex.out.updates_changed:
                self.watchers.notify(st.namespace_id, st.run_id, closed=ex.out.closed)
            self._effects.run_committed(ns, ex)

    # ------------------------------------------------------------------ history reads

    async def read_events(
        self, key: ExecutionKey, from_event_id: int, to_event_id: int, max_events: int = 0
    ) -> list[HistoryEvent]:
        """Events from_event_id..to_event_id (inclusive), at most `max_events` if > 0."""
        limit = to_event_id - from_event_id + 1
        if max_events:
            limit = min(limit, max_events)
        if limit <= 0:
            return []
        cached = self._cache.get((key.namespace_id, key.run_id))
        if cached is not None:
            # Written events never change, so a tail held here is current for its ids.
            hit = cached.cached_events(from_event_id, from_event_id + limit - 1)
            if hit is not None:
                return hit
        batches = await self.store.read_history(key, from_event_id, limit)
        events: list[HistoryEvent] = []
        for batch in batches:
            if batch.last_event_id < from_event_id:
                continue
            history = history_pb2.History.FromString(batch.data)
            for event in history.events:
                if from_event_id <= event.event_id <= to_event_id:
                    events.append(event)
                    if len(events) >= limit:
                        return events
        return events
