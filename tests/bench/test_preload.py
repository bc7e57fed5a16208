"""The preload's copies: new ids everywhere (blobs included), and when each is deleted."""

from __future__ import annotations

import uuid

from bench.preload import DAY, RETENTION, SECOND, Template, _plan, preload_id

from perdure.server.store.base import CurrentExecution, HistoryBatch, TimerRow, VisibilityRow

NS, WF, RUN = str(uuid.uuid4()), "preload-t000000000", str(uuid.uuid4())


def _template(name: str = "sequential-1", duration: int = 5 * SECOND) -> Template:
    ids = f"{NS}|{WF}|{RUN}".encode()
    return Template(
        name=name,
        workflow_id=WF,
        run_id=RUN,
        state=b"state:" + ids,
        history=HistoryBatch(1, 11, b"history:" + ids),
        current=CurrentExecution(NS, WF, RUN, 2, "req", 1, 1 + duration),
        visibility=VisibilityRow(
            NS,
            RUN,
            WF,
            "Sequential",
            "bench",
            2,
            1,
            1,
            close_time=1 + duration,
            root_workflow_id=WF,
            root_run_id=RUN,
        ),
        delete_timer=TimerRow(f"{RUN}/t9/0/0", NS, WF, RUN, 0, b"ref"),
    )


def test_a_copy_carries_its_own_ids_everywhere() -> None:
    ns, wid = str(uuid.uuid4()), preload_id(7)
    c = _template().copy(ns, wid, start=1000 * SECOND, delete_at=2000 * SECOND)
    (write,) = c.executions
    run = write.key.run_id
    assert (c.namespace_id, c.workflow_id, write.key.namespace_id) == (ns, wid, ns)
    assert write.state == f"state:{ns}|{wid}|{run}".encode()
    assert write.history == HistoryBatch(1, 11, f"history:{ns}|{wid}|{run}".encode())
    assert c.current is not None and c.current.expected_run_id is None
    assert (c.current.current.run_id, c.current.current.close_time) == (run, 1005 * SECOND)
    (timer,) = c.timers_added
    assert (timer.key, timer.run_id, timer.fire_time) == (f"{run}/t9/0/0", run, 2000 * SECOND)
    (vis,) = c.visibility
    assert (vis.namespace_id, vis.workflow_id, vis.run_id, vis.root_run_id) == (ns, wid, run, run)
    assert (vis.start_time, vis.close_time) == (1000 * SECOND, 1005 * SECOND)


def test_no_copy_is_due_for_deletion_during_a_bench_by_default() -> None:
    now = 10 * DAY
    planned = list(_plan([_template()], 1000, 0, now, None))
    assert [i for i, *_ in planned] == list(range(1000))
    assert all(now - DAY < start < now for _, _, start, _ in planned)
    assert min(delete for *_, delete in planned) >= now + 3600 * SECOND


def test_expiring_copies_are_due_at_the_rate_from_the_start() -> None:
    now, begin = 10 * DAY, 10 * DAY + 60 * SECOND
    planned = list(_plan([_template()], 100, 500, now, (begin, 10.0)))
    assert planned[0][0] == 500
    assert [delete for *_, delete in planned[:3]] == [
        begin,
        begin + SECOND // 10,
        begin + SECOND // 5,
    ]
    for _, t, start, delete in planned:
        assert start + t.duration + RETENTION == delete  # consistent with its close time
