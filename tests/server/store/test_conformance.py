"""The Store contract, checked identically against every backend (see conftest.py)."""

from __future__ import annotations

import asyncio

import pytest

from perdure.server.store.base import (
    AlreadyExists,
    Commit,
    ConditionFailed,
    CurrentWrite,
    ExecutionKey,
    ExecutionWrite,
    HistoryBatch,
    NamespaceRecord,
    StoreError,
    TaskAlreadyClaimed,
    TaskKind,
)
from perdure.server.store.sqlstore import SqlStore
from tests.server.store.builders import (
    COMPLETED,
    NS,
    current,
    new_key,
    start,
    task,
    timer,
    update,
    vis,
)

# --------------------------------------------------------------------------- namespaces


async def test_namespace_create_get_list(store: SqlStore) -> None:
    a = NamespaceRecord("id-a", "alpha", b"info-a", b"config-a")
    b = NamespaceRecord("id-b", "beta", b"info-b", b"config-b")
    await store.create_namespace(b)
    await store.create_namespace(a)
    assert await store.get_namespace("alpha") == a
    assert await store.get_namespace_by_id("id-b") == b
    assert await store.get_namespace("gamma") is None
    assert await store.get_namespace_by_id("id-x") is None
    assert await store.list_namespaces() == [a, b]


async def test_namespace_name_and_id_are_unique(store: SqlStore) -> None:
    await store.create_namespace(NamespaceRecord("id-a", "alpha", b"", b""))
    with pytest.raises(AlreadyExists):
        await store.create_namespace(NamespaceRecord("id-other", "alpha", b"", b""))
    with pytest.raises(AlreadyExists):
        await store.create_namespace(NamespaceRecord("id-a", "other", b"", b""))
    assert len(await store.list_namespaces()) == 1


async def test_namespace_update_is_conditional_on_version(store: SqlStore) -> None:
    await store.create_namespace(NamespaceRecord("id-a", "alpha", b"i1", b"c1"))
    v2 = NamespaceRecord("id-a", "alpha", b"i2", b"c2", version=2)
    await store.update_namespace(v2, expected_version=1)
    assert await store.get_namespace("alpha") == v2
    with pytest.raises(ConditionFailed):  # a stale writer, still at version 1
        await store.update_namespace(NamespaceRecord("id-a", "alpha", b"x", b"x", 2), 1)
    with pytest.raises(ConditionFailed):  # no such namespace
        await store.update_namespace(NamespaceRecord("id-z", "zed", b"", b"", 2), 1)
    with pytest.raises(StoreError):  # the record must carry expected_version + 1
        await store.update_namespace(NamespaceRecord("id-a", "alpha", b"", b"", 7), 2)
    assert await store.get_namespace("alpha") == v2


async def test_namespace_rename_onto_a_taken_name(store: SqlStore) -> None:
    await store.create_namespace(NamespaceRecord("id-a", "alpha", b"", b""))
    await store.create_namespace(NamespaceRecord("id-b", "beta", b"", b""))
    with pytest.raises(AlreadyExists):
        await store.update_namespace(NamespaceRecord("id-b", "alpha", b"", b"", 2), 1)
    assert (await store.get_namespace("beta")) is not None


# --------------------------------------------------------------------------- executions


async def test_create_execution_writes_everything(store: SqlStore) -> None:
    k = new_key()
    await store.commit(start(k, timers_added=[timer(k, "run-timeout", 50)]))
    snap = await store.load_execution(k)
    assert snap is not None and (snap.key, snap.state, snap.version) == (k, b"s1", 1)
    assert await store.get_current_execution(NS, k.workflow_id) == current(k)
    assert [b.data for b in await store.read_history(k, 1, 100)] == [b"h1-2"]
    tasks = await store.get_tasks(NS, "tq", TaskKind.WORKFLOW, 0, 10)
    assert [t.key for t in tasks] == [f"{k.run_id}/wt1"] and tasks[0].seq > 0
    assert [t.key for t in await store.get_timers(50, 10)] == [f"{k.run_id}/run-timeout"]
    assert await store.get_visibility(NS, k.run_id) == vis(k)


async def test_create_existing_execution_fails_and_writes_nothing(store: SqlStore) -> None:
    k = new_key()
    await store.commit(start(k))
    again = Commit(
        NS,
        k.workflow_id,
        executions=[ExecutionWrite(k, None, b"other")],
        tasks_added=[task(k, "dup")],
        timers_added=[timer(k, "t", 5)],
        visibility=[vis(k, start=99)],
    )
    with pytest.raises(ConditionFailed):
        await store.commit(again)
    snap = await store.load_execution(k)
    assert snap is not None and snap.state == b"s1"
    assert [t.key for t in await store.get_tasks(NS, "tq", TaskKind.WORKFLOW, 0, 10)] == [
        f"{k.run_id}/wt1"
    ]
    assert await store.get_timers(10**18, 10) == []
    row = await store.get_visibility(NS, k.run_id)
    assert row is not None and row.start_time == 1


async def test_commit_many_writes_each_commit(store: SqlStore) -> None:
    keys = [new_key() for _ in range(3)]
    await store.commit_many(
        [start(k, state=b"s-" + k.run_id.encode(), timers_added=[timer(k, "t", 5)]) for k in keys]
    )
    for k in keys:
        snap = await store.load_execution(k)
        assert snap is not None and (snap.state, snap.version) == (b"s-" + k.run_id.encode(), 1)
        assert await store.get_current_execution(NS, k.workflow_id) == current(k)
        assert [b.data for b in await store.read_history(k, 1, 100)] == [b"h1-2"]
        assert await store.get_visibility(NS, k.run_id) == vis(k)
    assert len(await store.get_tasks(NS, "tq", TaskKind.WORKFLOW, 0, 10)) == 3
    assert len(await store.get_timers(5, 10)) == 3


async def test_commit_many_is_all_or_nothing(store: SqlStore) -> None:
    taken = new_key()
    await store.commit(start(taken))
    fresh = new_key()
    with pytest.raises(ConditionFailed):
        await store.commit_many([start(fresh), start(taken)])
    assert await store.load_execution(fresh) is None
    assert await store.get_visibility(NS, fresh.run_id) is None


async def test_commit_many_refuses_two_commits_of_one_workflow(store: SqlStore) -> None:
    k = new_key()
    with pytest.raises(StoreError):
        await store.commit_many([start(k), start(new_key(k.workflow_id))])


async def test_conditional_update_and_stale_writer(store: SqlStore) -> None:
    k = new_key()
    await store.commit(start(k))
    await store.commit(update(k, 1, b"s2", history=HistoryBatch(3, 4, b"h3")))
    snap = await store.load_execution(k)
    assert snap is not None and (snap.state, snap.version) == (b"s2", 2)
    stale = update(
        k,
        1,
        b"stale",
        history=HistoryBatch(5, 5, b"h5"),
        tasks_added=[task(k, "stale")],
        tasks_claimed=[f"{k.run_id}/wt1"],
        timers_added=[timer(k, "stale", 1)],
        visibility=[vis(k, status=COMPLETED, close=9)],
    )
    with pytest.raises(ConditionFailed):
        await store.commit(stale)
    snap = await store.load_execution(k)
    assert snap is not None and (snap.state, snap.version) == (b"s2", 2)
    assert [b.last_event_id for b in await store.read_history(k, 1, 100)] == [2, 4]
    keys = [t.key for t in await store.get_tasks(NS, "tq", TaskKind.WORKFLOW, 0, 10)]
    assert keys == [f"{k.run_id}/wt1"]  # the claim was rolled back too
    assert await store.get_timers(10**18, 10) == []
    assert (await store.get_visibility(NS, k.run_id)) == vis(k)


async def test_update_of_missing_execution_fails(store: SqlStore) -> None:
    with pytest.raises(ConditionFailed):
        await store.commit(update(new_key(), 1, b"x"))


async def test_load_missing_execution(store: SqlStore) -> None:
    assert await store.load_execution(new_key()) is None
    assert await store.get_current_execution(NS, "nobody") is None


async def test_current_row_conditions(store: SqlStore) -> None:
    first = new_key("wf-cur")
    await store.commit(start(first))
    second = new_key("wf-cur")
    # A new run while the row exists but is expected absent: loses.
    with pytest.raises(ConditionFailed):
        await store.commit(start(second))
    assert await store.load_execution(second) is None
    # Naming the wrong current run loses too.
    wrong = Commit(
        NS,
        "wf-cur",
        executions=[ExecutionWrite(second, None, b"s")],
        current=CurrentWrite("not-the-run", current(second)),
    )
    with pytest.raises(ConditionFailed):
        await store.commit(wrong)
    right = Commit(
        NS,
        "wf-cur",
        executions=[ExecutionWrite(second, None, b"s")],
        current=CurrentWrite(first.run_id, current(second, request_id="r2")),
    )
    await store.commit(right)
    assert await store.get_current_execution(NS, "wf-cur") == current(second, request_id="r2")


async def test_continue_as_new_two_executions_in_one_commit(store: SqlStore) -> None:
    old = new_key("wf-can")
    await store.commit(start(old))
    new = new_key("wf-can")
    can = Commit(
        NS,
        "wf-can",
        executions=[
            ExecutionWrite(old, 1, b"closed", HistoryBatch(3, 3, b"can")),
            ExecutionWrite(new, None, b"fresh", HistoryBatch(1, 2, b"new-start")),
        ],
        current=CurrentWrite(old.run_id, current(new)),
        tasks_claimed=[f"{old.run_id}/wt1"],
        tasks_added=[task(new, "wt1")],
        visibility=[vis(old, close=5, status=COMPLETED), vis(new, start=5)],
    )
    await store.commit(can)
    old_snap, new_snap = await store.load_execution(old), await store.load_execution(new)
    assert old_snap is not None and (old_snap.state, old_snap.version) == (b"closed", 2)
    assert new_snap is not None and (new_snap.state, new_snap.version) == (b"fresh", 1)
    cur = await store.get_current_execution(NS, "wf-can")
    assert cur is not None and cur.run_id == new.run_id
    assert [t.run_id for t in await store.get_tasks(NS, "tq", TaskKind.WORKFLOW, 0, 9)] == [
        new.run_id
    ]
    # Repeating it fails on every count and changes nothing.
    with pytest.raises(ConditionFailed):
        await store.commit(can)
    old_snap = await store.load_execution(old)
    assert old_snap is not None and old_snap.version == 2


async def test_commit_must_stay_within_one_workflow(store: SqlStore) -> None:
    k = new_key()
    with pytest.raises(StoreError):
        await store.commit(Commit(NS, "another", executions=[ExecutionWrite(k, None, b"")]))


# --------------------------------------------------------------------------- history


async def _history_of_ten(store: SqlStore) -> ExecutionKey:
    """Batches 1-3, 4-4, 5-7, 8-10."""
    k = new_key()
    await store.commit(start(k, last_event=3))
    for v, (a, b) in enumerate([(4, 4), (5, 7), (8, 10)], start=1):
        await store.commit(update(k, v, b"s", history=HistoryBatch(a, b, b"h%d" % a)))
    return k


async def test_history_paging_forward(store: SqlStore) -> None:
    k = await _history_of_ten(store)
    span = [(b.first_event_id, b.last_event_id) for b in await store.read_history(k, 1, 100)]
    assert span == [(1, 3), (4, 4), (5, 7), (8, 10)]

    async def ids(frm: int, n: int) -> list[int]:
        return [b.first_event_id for b in await store.read_history(k, frm, n)]

    assert await ids(1, 3) == [1]  # batch 1-3 reaches 3 events
    assert await ids(1, 4) == [1, 4]
    assert await ids(2, 3) == [1, 4]  # starts with the batch holding event 2
    assert await ids(6, 1) == [5]
    assert await ids(6, 3) == [5, 8]
    assert await ids(11, 5) == []
    # Paging from the id after the last returned one walks the whole history once.
    seen, frm = [], 1
    while page := await store.read_history(k, frm, 2):
        seen += [b.first_event_id for b in page]
        frm = page[-1].last_event_id + 1
    assert seen == [1, 4, 5, 8]


async def test_history_paging_reverse(store: SqlStore) -> None:
    k = await _history_of_ten(store)

    async def ids(to: int, n: int) -> list[int]:
        return [b.first_event_id for b in await store.read_history_reverse(k, to, n)]

    assert await ids(10, 100) == [8, 5, 4, 1]
    assert await ids(10**9, 100) == [8, 5, 4, 1]
    assert await ids(10, 3) == [8]
    assert await ids(10, 4) == [8, 5]
    assert await ids(6, 2) == [5]
    assert await ids(6, 3) == [5, 4]
    assert await ids(4, 1) == [4]
    assert await ids(3, 1) == [1]


async def test_history_truncate_and_replace_tail(store: SqlStore) -> None:
    k = await _history_of_ten(store)
    replace = Commit(
        NS, k.workflow_id, executions=[ExecutionWrite(k, 4, b"s", HistoryBatch(5, 6, b"new"), 5)]
    )
    await store.commit(replace)
    batches = await store.read_history(k, 1, 100)
    assert [(b.first_event_id, b.last_event_id, b.data) for b in batches][-2:] == [
        (4, 4, b"h4"),
        (5, 6, b"new"),
    ]


async def test_history_rejects_gaps_and_overlaps(store: SqlStore) -> None:
    k = new_key()
    await store.commit(start(k, last_event=3))
    for bad in (HistoryBatch(5, 6, b"gap"), HistoryBatch(3, 4, b"overlap")):
        with pytest.raises(StoreError):
            await store.commit(update(k, 1, b"s", history=bad))
    # Truncating in the middle of a batch would split it: the append cannot follow.
    with pytest.raises(StoreError):
        await store.commit(
            Commit(
                NS,
                k.workflow_id,
                executions=[
                    ExecutionWrite(k, 1, b"s", HistoryBatch(2, 2, b"x"), history_truncate_from=2)
                ],
            )
        )
    snap = await store.load_execution(k)
    assert snap is not None and snap.version == 1
    assert [b.last_event_id for b in await store.read_history(k, 1, 100)] == [3]
    late = new_key("late")
    with pytest.raises(StoreError):  # a new run starts at event 1
        await store.commit(
            Commit(
                NS, "late", executions=[ExecutionWrite(late, None, b"", HistoryBatch(2, 3, b""))]
            )
        )
    assert await store.load_execution(late) is None


# --------------------------------------------------------------------------- tasks


async def test_tasks_fifo_and_paging(store: SqlStore) -> None:
    keys = [new_key() for _ in range(5)]
    for k in keys:
        await store.commit(start(k))
    other = new_key()
    await store.commit(start(other, tasks_added=[task(other, "act", kind=TaskKind.ACTIVITY)]))
    await store.commit(start(new_key(), tasks_added=[task(other, "elsewhere", queue="tq2")]))
    wf_tasks = await store.get_tasks(NS, "tq", TaskKind.WORKFLOW, 0, 100)
    assert [t.run_id for t in wf_tasks] == [k.run_id for k in keys]
    seqs = [t.seq for t in wf_tasks]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    page = await store.get_tasks(NS, "tq", TaskKind.WORKFLOW, seqs[1], 2)
    assert [t.seq for t in page] == seqs[2:4]
    acts = await store.get_tasks(NS, "tq", TaskKind.ACTIVITY, 0, 100)
    assert [(t.key, t.kind, t.data) for t in acts] == [
        (f"{other.run_id}/act", TaskKind.ACTIVITY, b"act")
    ]
    assert await store.get_tasks("other-ns", "tq", TaskKind.WORKFLOW, 0, 100) == []


async def test_task_claim_removed_and_readded(store: SqlStore) -> None:
    k = new_key()
    await store.commit(start(k))
    tkey = f"{k.run_id}/wt1"
    await store.commit(update(k, 1, b"s", tasks_claimed=[tkey], tasks_removed=["gone", "x"]))
    with pytest.raises(TaskAlreadyClaimed):
        await store.commit(update(k, 2, b"s", tasks_claimed=[tkey]))
    snap = await store.load_execution(k)
    assert snap is not None and snap.version == 2
    # Claim-then-add of the same key in one commit: the new row stands.
    await store.commit(update(k, 2, b"s", tasks_added=[task(k, "wt1")]))
    await store.commit(update(k, 3, b"s", tasks_claimed=[tkey], tasks_added=[task(k, "wt1")]))
    assert len(await store.get_tasks(NS, "tq", TaskKind.WORKFLOW, 0, 10)) == 1


async def test_partly_failed_claims_and_late_failures_roll_back_everything(
    store: SqlStore,
) -> None:
    k = new_key()
    await store.commit(start(k, tasks_added=[task(k, "a"), task(k, "b"), task(k, "c")]))
    a, b, c = (f"{k.run_id}/{n}" for n in "abc")
    # The first claim succeeds, the second finds nothing: the first is undone too.
    with pytest.raises(TaskAlreadyClaimed):
        await store.commit(update(k, 1, b"x", tasks_claimed=[a, "missing"]))
    # Removals and claims that succeed, then a failing history append: all undone.
    with pytest.raises(StoreError):
        await store.commit(
            update(
                k,
                1,
                b"x",
                tasks_claimed=[b],
                tasks_removed=[a, c],
                history=HistoryBatch(9, 9, b"gap"),
            )
        )
    keys = {t.key for t in await store.get_tasks(NS, "tq", TaskKind.WORKFLOW, 0, 10)}
    assert {a, b, c} <= keys
    snap = await store.load_execution(k)
    assert snap is not None and (snap.state, snap.version) == (b"s1", 1)


async def test_task_readd_replaces_and_keeps_place(store: SqlStore) -> None:
    a, b = new_key(), new_key()
    await store.commit(start(a))
    await store.commit(start(b))
    replaced = task(a, "wt1", created=7)
    await store.commit(update(a, 1, b"s", tasks_added=[replaced]))
    rows = await store.get_tasks(NS, "tq", TaskKind.WORKFLOW, 0, 10)
    assert [(t.run_id, t.created_time) for t in rows] == [(a.run_id, 7), (b.run_id, 1)]


async def test_concurrent_claims_exactly_one_wins(store: SqlStore) -> None:
    k = new_key()
    await store.commit(start(k))
    tkey = f"{k.run_id}/wt1"
    # Two transitions of different runs may race for a shared key; here each commit
    # writes its own execution so only the claim decides.
    racers = [new_key() for _ in range(8)]
    for r in racers:
        await store.commit(start(r))
    results = await asyncio.gather(
        *(store.commit(update(r, 1, b"won", tasks_claimed=[tkey])) for r in racers),
        return_exceptions=True,
    )
    wins = [r for r, res in zip(racers, results, strict=True) if res is None]
    assert len(wins) == 1
    assert all(isinstance(res, TaskAlreadyClaimed) for res in results if res is not None)
    for r in racers:
        snap = await store.load_execution(r)
        assert snap is not None and snap.version == (2 if r in wins else 1)


async def test_task_queue_stats_and_delete(store: SqlStore) -> None:
    assert (await store.task_queue_stats(NS, "tq", TaskKind.WORKFLOW)).backlog_count == 0
    ks = [new_key() for _ in range(3)]
    for i, k in enumerate(ks):
        await store.commit(start(k, tasks_added=[task(k, "wt1", created=100 - i)]))
    stats = await store.task_queue_stats(NS, "tq", TaskKind.WORKFLOW)
    assert (stats.backlog_count, stats.oldest_created_time) == (3, 98)
    await store.delete_tasks([f"{ks[2].run_id}/wt1", "missing"])
    await store.delete_tasks([])
    stats = await store.task_queue_stats(NS, "tq", TaskKind.WORKFLOW)
    assert (stats.backlog_count, stats.oldest_created_time) == (2, 99)


# --------------------------------------------------------------------------- timers


async def test_timers_due_in_order(store: SqlStore) -> None:
    k = new_key()
    await store.commit(
        start(
            k,
            timers_added=[
                timer(k, "c", 30),
                timer(k, "b", 10),
                timer(k, "a", 10),
                timer(k, "late", 1000),
            ],
        )
    )
    due = await store.get_timers(30, 10)
    assert [(t.fire_time, t.data) for t in due] == [(10, b"a"), (10, b"b"), (30, b"c")]
    assert [t.data for t in await store.get_timers(30, 2)] == [b"a", b"b"]
    assert await store.get_timers(9, 10) == []


async def test_timer_claim_and_rearm(store: SqlStore) -> None:
    k = new_key()
    await store.commit(start(k, timers_added=[timer(k, "hb", 10)]))
    hb = f"{k.run_id}/hb"
    # Claim the due timer and arm the next one under the same key in one commit.
    await store.commit(update(k, 1, b"s", timers_claimed=[hb], timers_added=[timer(k, "hb", 20)]))
    assert [t.fire_time for t in await store.get_timers(100, 10)] == [20]
    await store.commit(update(k, 2, b"s", timers_claimed=[hb]))
    with pytest.raises(TaskAlreadyClaimed):
        await store.commit(update(k, 3, b"s", timers_claimed=[hb]))
    await store.commit(update(k, 3, b"s", timers_removed=[hb]))  # removal is a no-op
    await store.commit(update(k, 4, b"s", timers_added=[timer(k, "x", 5), timer(k, "y", 6)]))
    await store.commit(update(k, 5, b"s", timers_added=[timer(k, "x", 50)]))  # replaces
    assert [(t.data, t.fire_time) for t in await store.get_timers(100, 10)] == [
        (b"y", 6),
        (b"x", 50),
    ]
    await store.delete_timers([f"{k.run_id}/y", "nothing"])
    assert [t.data for t in await store.get_timers(100, 10)] == [b"x"]


# --------------------------------------------------------------------------- delete


async def test_delete_execution_removes_the_run(store: SqlStore) -> None:
    k = new_key()
    await store.commit(start(k, timers_added=[timer(k, "t", 5)]))
    keep = new_key()
    await store.commit(start(keep, timers_added=[timer(keep, "t", 5)]))
    await store.delete_execution(k)
    assert await store.load_execution(k) is None
    assert await store.get_current_execution(NS, k.workflow_id) is None
    assert await store.read_history(k, 1, 100) == []
    assert await store.get_visibility(NS, k.run_id) is None
    assert [t.run_id for t in await store.get_tasks(NS, "tq", TaskKind.WORKFLOW, 0, 9)] == [
        keep.run_id
    ]
    assert [t.run_id for t in await store.get_timers(10, 9)] == [keep.run_id]
    await store.delete_execution(k)  # deleting twice is harmless


async def test_delete_old_run_keeps_current_row_of_newer(store: SqlStore) -> None:
    old = new_key("wf-del")
    await store.commit(start(old))
    new = new_key("wf-del")
    await store.commit(
        Commit(
            NS,
            "wf-del",
            executions=[ExecutionWrite(new, None, b"")],
            current=CurrentWrite(old.run_id, current(new)),
        )
    )
    await store.delete_execution(old)
    cur = await store.get_current_execution(NS, "wf-del")
    assert cur is not None and cur.run_id == new.run_id


# --------------------------------------------------------------------------- group commit


async def test_group_commit_batches_and_isolates_failures(store: SqlStore) -> None:
    keys = [new_key() for _ in range(200)]
    before = getattr(store, "transactions", 0)
    await asyncio.gather(*(store.commit(start(k)) for k in keys))
    done = getattr(store, "transactions", 0) - before
    assert done >= 1
    if store.dialect.name == "sqlite":
        assert done < len(keys), "concurrent commits should share transactions"
    # A mix: every 10th commit is stale; exactly those fail, the rest are all written.
    commits = [update(k, 1 if i % 10 else 7, b"v2") for i, k in enumerate(keys)]
    results = await asyncio.gather(*(store.commit(c) for c in commits), return_exceptions=True)
    if store.dialect.name == "sqlite":  # stale writes were isolated by replaying batches
        assert getattr(store, "replayed_batches", 0) >= 1
    for i, (k, res) in enumerate(zip(keys, results, strict=True)):
        snap = await store.load_execution(k)
        assert snap is not None
        if i % 10:
            assert res is None and snap.state == b"v2"
        else:
            assert isinstance(res, ConditionFailed) and snap.state == b"s1"


async def test_unstorable_value_fails_only_its_commit(store: SqlStore) -> None:
    good = [new_key() for _ in range(10)]
    bad = new_key()
    results = await asyncio.gather(
        *(store.commit(start(k)) for k in good[:5]),
        store.commit(start(bad, tasks_added=[task(bad, "t", created=2**70)])),
        *(store.commit(start(k)) for k in good[5:]),
        return_exceptions=True,
    )
    assert isinstance(results[5], StoreError)
    assert [r for i, r in enumerate(results) if i != 5] == [None] * 10
    assert await store.load_execution(bad) is None
    later = new_key()
    await store.commit(start(later))  # the store is still healthy
    assert await store.load_execution(later) is not None


async def test_read_your_writes_under_load(store: SqlStore) -> None:
    keys = [new_key() for _ in range(50)]

    async def write_then_read(k: object) -> None:
        await store.commit(start(k))
        snap = await store.load_execution(k)
        assert snap is not None

    await asyncio.gather(*(write_then_read(k) for k in keys))


async def test_namespace_ids_keep_data_apart(store: SqlStore) -> None:
    a, b = new_key("same", ns="ns-a"), new_key("same", ns="ns-b")
    await store.commit(start(a))
    await store.commit(start(b))
    ca = await store.get_current_execution("ns-a", "same")
    assert ca is not None and ca.run_id == a.run_id
    assert await store.task_queue_stats("ns-b", "tq", TaskKind.WORKFLOW) is not None
    assert len(await store.get_tasks("ns-a", "tq", TaskKind.WORKFLOW, 0, 10)) == 1
