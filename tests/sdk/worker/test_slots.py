"""Task slot pool (workflow and activity workers) and the activity poll rate limiter."""

from __future__ import annotations

import asyncio
import time

import pytest

from perdure.worker._slots import RateLimiter, SlotPool


async def test_try_acquire_and_release() -> None:
    pool = SlotPool(2)
    assert pool.try_acquire() and pool.try_acquire()
    assert not pool.try_acquire()
    pool.release()
    assert pool.free == 1
    assert pool.try_acquire()


async def test_waiters_are_served_in_order_before_try_acquire() -> None:
    pool = SlotPool(1)
    assert pool.try_acquire()
    order: list[int] = []

    async def take(n: int) -> None:
        await pool.acquire()
        order.append(n)

    tasks = [asyncio.create_task(take(n)) for n in range(2)]
    await asyncio.sleep(0)
    pool.release()
    assert not pool.try_acquire()  # handed to the first waiter, not stolen
    await asyncio.sleep(0)
    pool.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1]


async def test_cancelled_waiter_gives_its_slot_back() -> None:
    pool = SlotPool(1)
    assert pool.try_acquire()
    waiter = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    pool.release()
    assert pool.free == 1


def test_slot_pool_rejects_zero() -> None:
    with pytest.raises(ValueError):
        SlotPool(0)


async def test_rate_limiter_spaces_events() -> None:
    limiter = RateLimiter(20)  # 50 ms apart
    started = time.monotonic()
    for _ in range(4):
        await limiter.wait()
    assert time.monotonic() - started >= 0.14


async def test_rate_limiter_none_is_unlimited() -> None:
    limiter = RateLimiter(None)
    started = time.monotonic()
    for _ in range(100):
        await limiter.wait()
    assert time.monotonic() - started < 0.05


async def test_waiter_cancelled_after_release_skipped_it() -> None:
    pool = SlotPool(1)
    assert pool.try_acquire()
    waiter = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0)
    waiter.cancel()  # its future is cancelled, but the task has not resumed yet
    pool.release()  # skips the cancelled waiter, frees the slot
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert pool.free == 1
