"""VirtualClock: real-speed time that time skipping moves forward."""

from __future__ import annotations

import asyncio
import time

from perdure.server.clock import VirtualClock

DAY = 86400 * 1_000_000_000


async def test_flows_at_real_speed_from_its_start() -> None:
    clock = VirtualClock(start_ns=5 * DAY)
    first = clock.now_ns()
    assert 5 * DAY <= first < 5 * DAY + 10**9
    await asyncio.sleep(0.05)
    assert clock.now_ns() - first >= 40_000_000


async def test_advance_wakes_sleepers_and_never_goes_back() -> None:
    clock = VirtualClock()
    deadline = clock.now_ns() + DAY
    wake = asyncio.Event()
    sleeper = asyncio.create_task(clock.sleep_until(deadline, wake))
    await asyncio.sleep(0.01)
    assert not sleeper.done()
    started = time.monotonic()
    assert clock.advance_to(deadline)
    await asyncio.wait_for(sleeper, 1)
    assert time.monotonic() - started < 0.5
    assert clock.now_ns() >= deadline
    assert not clock.advance_to(deadline - DAY)
    assert clock.now_ns() >= deadline


async def test_sleep_ends_in_real_time_when_nothing_skips() -> None:
    clock = VirtualClock()
    started = time.monotonic()
    await clock.sleep_until(clock.now_ns() + 50_000_000, asyncio.Event())
    assert time.monotonic() - started >= 0.04
