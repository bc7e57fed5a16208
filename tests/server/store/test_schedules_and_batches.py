"""Conformance of the schedule and batch operation rows, on every backend."""

from __future__ import annotations

import pytest

from perdure.server.store.base import AlreadyExists, BatchRecord, ConditionFailed, ScheduleRecord
from perdure.server.store.sqlstore import SqlStore


async def test_schedule_rows(store: SqlStore) -> None:
    a = ScheduleRecord("ns", "a", b"state-a", wake_time=300)
    await store.create_schedule(a)
    await store.create_schedule(ScheduleRecord("ns", "b", b"state-b", wake_time=100))
    await store.create_schedule(ScheduleRecord("ns", "c", b"state-c", wake_time=None))
    await store.create_schedule(ScheduleRecord("other", "a", b"x", wake_time=200))
    with pytest.raises(AlreadyExists):
        await store.create_schedule(ScheduleRecord("ns", "a", b"again"))

    got = await store.get_schedule("ns", "a")
    assert got is not None and (got.state, got.version, got.wake_time) == (b"state-a", 1, 300)
    await store.update_schedule(ScheduleRecord("ns", "a", b"v2", wake_time=50), 1)
    with pytest.raises(ConditionFailed):
        await store.update_schedule(ScheduleRecord("ns", "a", b"stale", wake_time=1), 1)
    got = await store.get_schedule("ns", "a")
    assert got is not None and (got.state, got.version, got.wake_time) == (b"v2", 2, 50)

    assert [(r.namespace_id, r.schedule_id) for r in await store.due_schedules(200, 10)] == [
        ("ns", "a"),
        ("ns", "b"),
        ("other", "a"),
    ]
    assert await store.next_schedule_wake() == 50
    assert [r.schedule_id for r in await store.list_schedules("ns", "", 2)] == ["a", "b"]
    assert [r.schedule_id for r in await store.list_schedules("ns", "b", 2)] == ["c"]

    assert await store.delete_schedule("ns", "a")
    assert not await store.delete_schedule("ns", "a")
    assert await store.get_schedule("ns", "a") is None
    with pytest.raises(ConditionFailed):
        await store.update_schedule(ScheduleRecord("ns", "a", b"gone"), 2)


async def test_batch_rows(store: SqlStore) -> None:
    for n, job in enumerate(["j1", "j2", "j3"]):
        await store.create_batch(BatchRecord("ns", job, 1, start_time=100 + n, data=job.encode()))
    with pytest.raises(AlreadyExists):
        await store.create_batch(BatchRecord("ns", "j1", 1, 5, b""))
    await store.update_batch(BatchRecord("ns", "j2", 2, 101, b"done"), 1)
    with pytest.raises(ConditionFailed):
        await store.update_batch(BatchRecord("ns", "j2", 3, 101, b"stale"), 1)
    got = await store.get_batch("ns", "j2")
    assert got is not None and (got.state, got.data, got.version) == (2, b"done", 2)

    newest = await store.list_batches("ns", None, 2)
    assert [r.job_id for r in newest] == ["j3", "j2"]
    rest = await store.list_batches("ns", (newest[-1].start_time, newest[-1].job_id), 2)
    assert [r.job_id for r in rest] == ["j1"]
    assert [r.job_id for r in await store.batches_in_state(1, None, 10)] == ["j1", "j3"]
    assert await store.batches_in_state(1, "other", 10) == []
