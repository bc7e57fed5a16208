"""Heartbeat throttling: first at once, then the latest details once per interval."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import timedelta

from temporalio.api.common.v1 import Payload

from perdure.worker._activity_heartbeat import HeartbeatThrottler, throttle_interval


def p(n: int) -> list[Payload]:
    return [Payload(data=str(n).encode())]


class Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.sent: list[tuple[float, bytes]] = []
        self.delay = delay
        self.start = time.monotonic()

    async def send(self, details: Sequence[Payload]) -> None:
        await asyncio.sleep(self.delay)
        self.sent.append((time.monotonic() - self.start, details[0].data))


def test_throttle_interval() -> None:
    default, maximum = timedelta(seconds=30), timedelta(seconds=60)
    kw = {"default_interval": default, "max_interval": maximum}
    assert throttle_interval(timedelta(seconds=10), **kw) == 8.0
    assert throttle_interval(None, **kw) == 30.0
    assert throttle_interval(timedelta(0), **kw) == 30.0
    assert throttle_interval(timedelta(seconds=100), **kw) == 60.0


async def test_first_immediate_then_latest_per_interval() -> None:
    rec = Recorder()
    throttler = HeartbeatThrottler(rec.send, 0.2)
    for n in range(5):
        throttler.record(p(n))
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.35)
    # 0 at once; 1..4 collapsed to the latest, sent when the interval ended.
    assert [data for _, data in rec.sent] == [b"0", b"4"]
    assert rec.sent[0][0] < 0.1
    assert 0.18 < rec.sent[1][0] < 0.35
    # A quiet interval ends the cycle: the next heartbeat goes out at once again.
    await asyncio.sleep(0.25)
    before = time.monotonic() - rec.start
    throttler.record(p(9))
    await asyncio.sleep(0.02)
    assert rec.sent[-1][1] == b"9"
    assert rec.sent[-1][0] - before < 0.05
    await throttler.close(flush=False)


async def test_close_flushes_held_details_without_waiting() -> None:
    rec = Recorder()
    throttler = HeartbeatThrottler(rec.send, 10.0)
    throttler.record(p(1))
    await asyncio.sleep(0.01)
    throttler.record(p(2))
    started = time.monotonic()
    await throttler.close(flush=True)
    assert time.monotonic() - started < 0.5
    assert [data for _, data in rec.sent] == [b"1", b"2"]
    throttler.record(p(3))  # ignored once closed
    await asyncio.sleep(0.01)
    assert len(rec.sent) == 2


async def test_close_without_flush_drops_held_details() -> None:
    rec = Recorder()
    throttler = HeartbeatThrottler(rec.send, 10.0)
    throttler.record(p(1))
    await asyncio.sleep(0.01)
    throttler.record(p(2))
    await throttler.close(flush=False)
    assert [data for _, data in rec.sent] == [b"1"]


async def test_close_waits_for_send_in_flight_but_not_the_interval() -> None:
    rec = Recorder(delay=0.1)
    throttler = HeartbeatThrottler(rec.send, 10.0)
    throttler.record(p(1))
    await asyncio.sleep(0.01)  # the send is in flight
    started = time.monotonic()
    await throttler.close(flush=True)
    elapsed = time.monotonic() - started
    assert [data for _, data in rec.sent] == [b"1"]
    assert 0.05 < elapsed < 0.5
