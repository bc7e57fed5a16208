"""Every write as a plan: a list of statements with the row counts they must produce.

A plan is pure data, shared by the backends: SQLite runs it on its writer thread inside
a savepoint, PostgreSQL in a transaction. A step whose row count differs from `expect`
fails the whole plan with its error, which is how conditional writes (version checks,
claims, insert-if-absent) work in one round trip each, with no read before the write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from perdure.server.store.base import (
    AlreadyExists,
    Commit,
    ConditionFailed,
    ExecutionKey,
    NamespaceRecord,
    SqlValue,
    StoreError,
    TaskAlreadyClaimed,
    TaskRow,
    TimerRow,
    VisibilityRow,
)
from perdure.server.store.schema import BOOL_COLUMNS, EXTRA_COLUMNS, SYSTEM_COLUMNS
from perdure.server.store.statements import Statements

Params = tuple[SqlValue, ...]
_EXTRA = frozenset(EXTRA_COLUMNS)
_BOOL = BOOL_COLUMNS


class Step(NamedTuple):
    """One statement run once per parameter row (executemany when there are several).

    A NamedTuple rather than a frozen dataclass: every commit builds several, and this
    is the cheapest immutable record to create.
    """

    sql: str
    rows: Sequence[Params]
    expect: int | None = None
    """The total row count the step must report, or None for no check."""
    error: type[StoreError] = ConditionFailed
    message: str = ""

    def check(self, rowcount: int) -> None:
        """Raise the step's error when its row count is not the expected one."""
        if self.expect is not None and rowcount != self.expect:
            raise self.error(self.message)


class TimerLease(NamedTuple):
    """New timers belong to `owner` (the committing process) until grace after they are
    due; then any process may take them (see store/shared.py)."""

    owner: str
    grace: int


def plan_commit(s: Statements, c: Commit, timer_lease: TimerLease | None = None) -> list[Step]:
    """The steps of one `Commit`, ordered so that the conditions fail as early as they can.

    Execution rows come first: on PostgreSQL their row locks make concurrent writers of
    one execution wait for each other, and the loser's version check then fails cleanly.
    """
    ns, wf = c.namespace_id, c.workflow_id
    steps: list[Step] = []
    for w in c.executions:
        k = w.key
        if (k.namespace_id, k.workflow_id) != (ns, wf):
            raise StoreError(f"commit for {ns}/{wf} writes execution {k} of another workflow")
        if w.expected_version is None:
            steps.append(
                Step(
                    s.exec_insert,
                    [(ns, wf, k.run_id, w.state, 1)],
                    1,
                    ConditionFailed,
                    f"execution {wf}/{k.run_id} already exists",
                )
            )
        else:
            v = w.expected_version
            steps.append(
                Step(
                    s.exec_update,
                    [(w.state, v + 1, ns, wf, k.run_id, v)],
                    1,
                    ConditionFailed,
                    f"execution {wf}/{k.run_id} is gone or no longer at version {v}",
                )
            )
    if c.current is not None:
        steps.append(_current_step(s, c))
    if c.tasks_claimed:
        keys = list(dict.fromkeys(c.tasks_claimed))
        steps.append(
            Step(
                s.task_delete,
                [(k,) for k in keys],
                len(keys),
                TaskAlreadyClaimed,
                f"workflow {wf}: a task among {keys} was already claimed",
            )
        )
    if c.timers_claimed:
        keys = list(dict.fromkeys(c.timers_claimed))
        steps.append(
            Step(
                s.timer_delete,
                [(k,) for k in keys],
                len(keys),
                TaskAlreadyClaimed,
                f"workflow {wf}: a timer among {keys} was already claimed",
            )
        )
    if c.tasks_removed:
        steps.append(Step(s.task_delete, [(k,) for k in c.tasks_removed]))
    if c.timers_removed:
        steps.append(Step(s.timer_delete, [(k,) for k in c.timers_removed]))
    for w in c.executions:
        run = w.key.run_id
        if w.history_truncate_from is not None:
            steps.append(Step(s.hist_truncate, [(ns, run, w.history_truncate_from)]))
        h = w.history
        if h is not None:
            if h.last_event_id < h.first_event_id:
                raise StoreError(f"history batch {h.first_event_id}..{h.last_event_id} is empty")
            steps.append(
                Step(
                    s.hist_append,
                    [
                        (
                            ns,
                            run,
                            h.first_event_id,
                            h.last_event_id,
                            h.data,
                            ns,
                            run,
                            h.first_event_id - 1,
                        )
                    ],
                    1,
                    StoreError,
                    f"history batch {h.first_event_id}..{h.last_event_id} of {wf}/{run}"
                    " does not directly follow the stored events",
                )
            )
    if c.tasks_added:
        steps.append(Step(s.task_upsert, [task_params(t) for t in c.tasks_added]))
    if c.timers_added:
        steps.append(Step(s.timer_upsert, [timer_params(t, timer_lease) for t in c.timers_added]))
    if c.visibility:
        steps.append(Step(s.vis_upsert, [visibility_params(v) for v in c.visibility]))
    return steps


def plan_commits(s: Statements, commits: Sequence[Commit]) -> list[Step]:
    """Many commits of distinct workflow ids as one plan: each statement once, over the
    rows of all of them (bulk loads; see `SqlStore.commit_many`).

    Steps of one statement merge in the order they first appear; that keeps each
    commit's own order because commits of different workflow ids touch no common row.
    """
    seen: set[tuple[str, str]] = set()
    merged: dict[tuple[str, type[StoreError]], list[Step]] = {}
    for c in commits:
        if (c.namespace_id, c.workflow_id) in seen:
            raise StoreError(f"two commits of workflow {c.workflow_id} in one bulk plan")
        seen.add((c.namespace_id, c.workflow_id))
        for step in plan_commit(s, c):
            merged.setdefault((step.sql, step.error), []).append(step)
    out = []
    for group in merged.values():
        first = group[0]
        expects = [g.expect for g in group]
        expect = None if None in expects else sum(e for e in expects if e is not None)
        out.append(
            Step(first.sql, [r for g in group for r in g.rows], expect, first.error, first.message)
        )
    return out


def _current_step(s: Statements, c: Commit) -> Step:
    assert c.current is not None
    cur = c.current.current
    if (cur.namespace_id, cur.workflow_id) != (c.namespace_id, c.workflow_id):
        raise StoreError(f"commit for {c.workflow_id} writes the current row of {cur.workflow_id}")
    expected = c.current.expected_run_id
    if expected is None:
        return Step(
            s.cur_insert,
            [
                (
                    cur.namespace_id,
                    cur.workflow_id,
                    cur.run_id,
                    cur.status,
                    cur.start_request_id,
                    cur.start_time,
                    cur.close_time,
                )
            ],
            1,
            ConditionFailed,
            f"workflow {cur.workflow_id} already has a current run",
        )
    return Step(
        s.cur_update,
        [
            (
                cur.run_id,
                cur.status,
                cur.start_request_id,
                cur.start_time,
                cur.close_time,
                cur.namespace_id,
                cur.workflow_id,
                expected,
            )
        ],
        1,
        ConditionFailed,
        f"workflow {cur.workflow_id}: the current run is no longer {expected}",
    )


def task_params(t: TaskRow) -> Params:
    return (
        t.key,
        t.namespace_id,
        t.task_queue,
        int(t.kind),
        t.workflow_id,
        t.run_id,
        t.scheduled_event_id,
        t.created_time,
        t.expiry_time,
        t.data,
        t.lease_owner or None,
        t.lease_until if t.lease_owner else None,
    )


def timer_params(t: TimerRow, lease: TimerLease | None = None) -> Params:
    owner, until = (lease.owner, t.fire_time + lease.grace) if lease else (None, None)
    return (t.key, t.namespace_id, t.workflow_id, t.run_id, t.fire_time, t.data, owner, until)


def visibility_params(v: VisibilityRow) -> Params:
    """The row in VISIBILITY_SELECT_COLUMNS order; unnamed search attribute columns NULL."""
    extra = v.columns
    if not _EXTRA.issuperset(extra):
        unknown = sorted(set(extra) - _EXTRA)
        raise StoreError(f"visibility row of run {v.run_id} names unknown columns {unknown}")
    if not _BOOL.isdisjoint(extra):  # 0/1 from callers would not bind to BOOLEAN
        extra = {c: bool(x) if c in _BOOL and x is not None else x for c, x in extra.items()}
    return (
        v.namespace_id,
        *(getattr(v, c) for c in SYSTEM_COLUMNS),
        v.memo,
        v.search_attributes,
        *(extra.get(c) for c in EXTRA_COLUMNS),
    )


# --------------------------------------------------------------------------- other writes


def plan_create_namespace(s: Statements, r: NamespaceRecord) -> list[Step]:
    return [
        Step(
            s.ns_insert,
            [(r.id, r.name, r.info, r.config, r.version)],
            1,
            AlreadyExists,
            f"namespace {r.name!r} (id {r.id}) already exists",
        )
    ]


def plan_update_namespace(s: Statements, r: NamespaceRecord, expected_version: int) -> list[Step]:
    if r.version != expected_version + 1:
        raise StoreError(
            f"namespace {r.name!r}: the record carries version {r.version},"
            f" expected {expected_version + 1}"
        )
    return [
        Step(
            s.ns_update,
            [(r.name, r.info, r.config, r.version, r.id, expected_version)],
            1,
            ConditionFailed,
            f"namespace {r.name!r} is gone or no longer at version {expected_version}",
        )
    ]


def plan_delete_execution(s: Statements, k: ExecutionKey) -> list[Step]:
    ns, wf, run = k.namespace_id, k.workflow_id, k.run_id
    return [
        Step(s.exec_delete, [(ns, wf, run)]),
        Step(s.cur_delete, [(ns, wf, run)]),
        Step(s.hist_delete, [(ns, run)]),
        Step(s.task_delete_run, [(ns, run)]),
        Step(s.timer_delete_run, [(ns, run)]),
        Step(s.vis_delete, [(ns, run)]),
    ]


def plan_delete_keys(sql: str, keys: Sequence[str]) -> list[Step]:
    return [Step(sql, [(k,) for k in keys])] if keys else []
