"""TimerQueue: due rows fire once; rows a commit removed or re-armed do not fire stale."""

from __future__ import annotations

import asyncio

from perdure.server.store.base import Nanos, TimerRow
from perdure.server.timers.queue import TimerQueue

SECOND = 1_000_000_000


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1_000 * SECOND
        self.moved = asyncio.Event()

    def now_ns(self) -> int:
        return self.now

    async def sleep_until(self, deadline_ns: int, wake: asyncio.Event) -> None:
        while self.now < deadline_ns and not wake.is_set():
            self.moved.clear()
            waiter = asyncio.ensure_future(wake.wait())
            mover = asyncio.ensure_future(self.moved.wait())
            await asyncio.wait({waiter, mover}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            mover.cancel()

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * SECOND)
        self.moved.set()


class NoRows:
    """The store part the queue reads: nothing stored beyond what `add` brings."""

    async def get_timers(self, until: Nanos, limit: int) -> list[TimerRow]:
        return []


def _row(key: str, fire_time: int) -> TimerRow:
    return TimerRow(key, "ns", "wf", "run", fire_time)


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_removed_and_rearmed_timers() -> None:
    clock = ManualClock()
    fired: list[tuple[str, int]] = []

    async def fire(row: TimerRow) -> None:
        fired.append((row.key, row.fire_time))
        if row.key == "rearm" and len(fired) == 1:
            # The fire's own commit pushes the deadline back (a heartbeat came in).
            queue.add([_row("rearm", row.fire_time + 2 * SECOND)])

    queue = TimerQueue(NoRows(), clock)  # type: ignore[arg-type]
    runner = asyncio.create_task(queue.run(fire))
    await _settle()
    t0 = clock.now
    queue.add([_row("gone", t0 + SECOND), _row("rearm", t0 + SECOND), _row("kept", t0 + SECOND)])
    queue.remove(["gone"])
    # Removed, then committed again with the same key and time: fires once.
    queue.add([_row("again", t0 + SECOND)])
    queue.remove(["again"])
    queue.add([_row("again", t0 + SECOND)])
    clock.advance(1)
    await _settle()
    assert sorted(fired) == sorted(
        [("rearm", t0 + SECOND), ("kept", t0 + SECOND), ("again", t0 + SECOND)]
    )
    clock.advance(2)
    await _settle()
    assert fired[-1] == ("rearm", t0 + 3 * SECOND)
    assert len(fired) == 4
    await queue.stop()
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
