"""Deterministic versions of ``asyncio.wait`` and ``asyncio.as_completed`` for workflow code.

``asyncio.wait`` returns sets, whose iteration order depends on object addresses and so
differs between the original run and a replay. These keep the caller's order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Iterator
from typing import Any, TypeVar

AnyType = TypeVar("AnyType")
_FT = TypeVar("_FT", bound="asyncio.Future[Any]")


def as_completed(
    fs: Iterable[Awaitable[AnyType]], *, timeout: float | None = None
) -> Iterator[Awaitable[AnyType]]:
    """Awaitables that yield results in completion order (ties keep the given order)."""
    if asyncio.isfuture(fs) or asyncio.iscoroutine(fs):
        raise TypeError(f"expect an iterable of futures, not {type(fs).__name__}")
    loop = asyncio.get_event_loop()
    todo: list[asyncio.Future[AnyType]] = [asyncio.ensure_future(f, loop=loop) for f in fs]
    done: asyncio.Queue[asyncio.Future[AnyType] | None] = asyncio.Queue()
    timeout_handle: asyncio.TimerHandle | None = None

    def on_timeout() -> None:
        for future in todo:
            future.remove_done_callback(on_completion)
            done.put_nowait(None)
        todo.clear()

    def on_completion(future: asyncio.Future[AnyType]) -> None:
        if not todo:
            return
        todo.remove(future)
        done.put_nowait(future)
        if not todo and timeout_handle is not None:
            timeout_handle.cancel()

    async def wait_for_one() -> AnyType:
        future = await done.get()
        if future is None:
            raise TimeoutError
        return future.result()

    for future in todo:
        future.add_done_callback(on_completion)
    if todo and timeout is not None:
        timeout_handle = loop.call_later(timeout, on_timeout)
    for _ in range(len(todo)):
        yield wait_for_one()


async def wait(
    fs: Iterable[_FT],
    *,
    timeout: float | None = None,
    return_when: str = asyncio.ALL_COMPLETED,
) -> tuple[list[_FT], list[_FT]]:
    """``asyncio.wait`` returning (done, pending) lists in the caller's order."""
    if asyncio.isfuture(fs) or asyncio.iscoroutine(fs):
        raise TypeError(f"Expect an iterable of Tasks/Futures, not {type(fs).__name__}")
    futures = list(fs)
    if not futures:
        raise ValueError("Sequence of Tasks/Futures must not be empty.")
    if return_when not in (asyncio.FIRST_COMPLETED, asyncio.FIRST_EXCEPTION, asyncio.ALL_COMPLETED):
        raise ValueError(f"Invalid return_when value: {return_when}")
    if any(asyncio.iscoroutine(f) for f in futures):
        raise TypeError("Passing coroutines is forbidden, use tasks explicitly.")
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()
    timeout_handle = None
    if timeout is not None:
        timeout_handle = loop.call_later(
            timeout, lambda: waiter.set_result(None) if not waiter.done() else None
        )
    remaining = len(futures)

    def on_completion(future: asyncio.Future[Any]) -> None:
        nonlocal remaining
        remaining -= 1
        if (
            remaining <= 0
            or return_when == asyncio.FIRST_COMPLETED
            or (
                return_when == asyncio.FIRST_EXCEPTION
                and not future.cancelled()
                and future.exception() is not None
            )
        ):
            if timeout_handle is not None:
                timeout_handle.cancel()
            if not waiter.done():
                waiter.set_result(None)

    for future in futures:
        future.add_done_callback(on_completion)
    try:
        await waiter
    finally:
        if timeout_handle is not None:
            timeout_handle.cancel()
        for future in futures:
            future.remove_done_callback(on_completion)
    done = [f for f in futures if f.done()]
    pending = [f for f in futures if not f.done()]
    return done, pending
