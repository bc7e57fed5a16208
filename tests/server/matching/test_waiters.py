"""WaitingPollers: the one wait/handoff path of both queue kinds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from perdure.server.matching import waiters
from perdure.server.matching.queues import TaskQueue
from perdure.server.matching.waiters import WaitingPollers
from perdure.server.store.base import TaskKind, TaskRow
from tests.server.matching.test_shared import FakeShared, queue, row, settle

T = TypeVar("T")


async def _in_line(pollers: WaitingPollers[str], identity: str) -> asyncio.Task[str | None]:
    requeued: list[str] = []
    task = asyncio.create_task(pollers.wait(5, identity, requeue=requeued.append))
    await settle()
    return task


async def test_items_go_to_the_longest_waiting_poller() -> None:
    pollers: WaitingPollers[str] = WaitingPollers()
    first = await _in_line(pollers, "a")
    second = await _in_line(pollers, "b")
    assert pollers.idle() == 2
    assert pollers.hand("x") and pollers.hand("y")
    assert (await first, await second) == ("x", "y")
    assert not pollers.hand("z"), "nobody waits any more"


async def test_a_taken_poller_is_out_of_line_until_given_back() -> None:
    pollers: WaitingPollers[str] = WaitingPollers()
    first = await _in_line(pollers, "a")
    second = await _in_line(pollers, "b")
    taken = pollers.take_idle()
    assert taken is not None and taken[1] == "a"
    assert pollers.hand("x"), "the next in line gets it"
    assert await second == "x"
    pollers.give_back(taken[0])
    assert pollers.hand("y")
    assert await first == "y"


async def test_the_waiting_hook_runs_once_the_poller_is_in_line() -> None:
    pollers: WaitingPollers[str] = WaitingPollers()
    seen: list[int] = []
    task = asyncio.create_task(
        pollers.wait(5, "a", requeue=lambda item: None, waiting=lambda: seen.append(pollers.idle()))
    )
    await settle()
    assert seen == [1]
    pollers.hand("x")
    assert await task == "x"


async def test_nothing_within_the_timeout_is_none() -> None:
    pollers: WaitingPollers[str] = WaitingPollers()
    assert await pollers.wait(0.01, "a", requeue=lambda item: None) is None
    assert pollers.idle() == 0


def _interrupted_after_a_handoff(
    monkeypatch: pytest.MonkeyPatch, hand: Callable[[], object], error: BaseException
) -> None:
    """The wait ends (times out, or the poller's call is cancelled) just as an item is
    handed over: the race that a timer or a cancellation allows."""

    async def wait_for(fut: Awaitable[T], timeout: float) -> T:
        hand()
        raise error

    monkeypatch.setattr(waiters.asyncio, "wait_for", wait_for)


async def test_an_item_handed_as_the_wait_times_out_goes_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pollers: WaitingPollers[str] = WaitingPollers()
    requeued: list[str] = []
    _interrupted_after_a_handoff(monkeypatch, lambda: pollers.hand("x"), TimeoutError())
    assert await pollers.wait(5, "a", requeue=requeued.append) is None
    assert requeued == ["x"]


async def test_an_item_handed_as_the_poller_is_cancelled_goes_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pollers: WaitingPollers[str] = WaitingPollers()
    requeued: list[str] = []
    _interrupted_after_a_handoff(monkeypatch, lambda: pollers.hand("x"), asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await pollers.wait(5, "a", requeue=requeued.append)
    assert requeued == ["x"]


async def test_both_queue_kinds_keep_a_task_handed_as_the_wait_times_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    local = TaskQueue("ns", "tq", TaskKind.ACTIVITY, store=None)  # type: ignore[arg-type]
    local._backlog_checked = True
    first = row("t1")
    _interrupted_after_a_handoff(monkeypatch, lambda: local.offer(first), TimeoutError())
    assert await local.poll(5) is None
    monkeypatch.undo()
    assert await local.poll(1) is first, "offered again, first in line"

    store = FakeShared()
    shared = queue(store)
    leased = row("t2", lease_owner="me")
    _interrupted_after_a_handoff(monkeypatch, lambda: shared._pollers.hand(leased), TimeoutError())
    assert await shared.poll(5) is None
    await settle()
    assert store.released == ["t2"], "given back to the store for any process"


async def test_wake_all_releases_every_poller() -> None:
    pollers: WaitingPollers[TaskRow] = WaitingPollers()
    task = asyncio.create_task(pollers.wait(5, "a", requeue=lambda item: None))
    await settle()
    pollers.wake_all()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pollers.idle() == 0


async def test_a_leaving_worker_s_polls_answer_empty_and_others_wait_on() -> None:
    pollers: WaitingPollers[str] = WaitingPollers()
    requeued: list[str] = []
    leaving = [
        asyncio.create_task(pollers.wait(5, "a", requeue=requeued.append, worker_key="k1"))
        for _ in range(2)
    ]
    staying = asyncio.create_task(pollers.wait(5, "b", requeue=requeued.append, worker_key="k2"))
    await settle()
    assert pollers.release_worker("k1") == 2
    assert await asyncio.gather(*leaving) == [None, None]
    assert pollers.idle() == 1
    assert pollers.hand("x"), "the other worker's poller still waits"
    assert await staying == "x"
    assert requeued == []


async def test_a_taken_poller_keeps_its_build_id() -> None:
    pollers: WaitingPollers[str] = WaitingPollers()
    task = asyncio.create_task(pollers.wait(5, "a", requeue=lambda item: None, build_id="b-1"))
    await settle()
    taken = pollers.take_idle()
    assert taken is not None
    assert pollers.build_id(taken[0]) == "b-1"
    taken[0].set_result("x")
    assert await task == "x"
