"""History long-poll wake-ups: every change, or only the run closing."""

from __future__ import annotations

from perdure.server.history.watchers import HistoryWatchers


async def test_close_only_waiters_ignore_commits_that_do_not_close() -> None:
    watchers = HistoryWatchers()
    any_change = watchers.waiter("ns", "run")
    close_only = watchers.waiter("ns", "run", close_only=True)
    watchers.notify("ns", "run", closed=False)
    assert any_change.is_set()
    assert not close_only.is_set()
    watchers.notify("ns", "run", closed=True)
    assert close_only.is_set()


async def test_notify_all_wakes_both_kinds() -> None:
    watchers = HistoryWatchers()
    a = watchers.waiter("ns", "r1")
    b = watchers.waiter("ns", "r2", close_only=True)
    watchers.notify_all()
    assert a.is_set() and b.is_set()
