"""The token bucket: burst, refill, and how long until the next token."""

from __future__ import annotations

from perdure.server.token_bucket import TokenBucket


def test_a_bucket_holds_its_burst_and_refills_at_its_rate() -> None:
    bucket = TokenBucket.full(rate=2, burst_ratio=2, now=0.0)
    assert [bucket.take(0.0) for _ in range(5)] == [True, True, True, True, False]
    assert bucket.wait_time(0.0) == 0.5
    assert bucket.take(0.25) is False  # half a token
    assert bucket.wait_time(0.25) == 0.25
    assert bucket.take(0.5) is True
    assert bucket.take(100.0) and bucket.tokens == 3  # never above capacity
    assert bucket.wait_time(100.0) == 0.0


def test_a_slow_rate_still_allows_one_at_a_time() -> None:
    bucket = TokenBucket.full(rate=0.1, burst_ratio=1, now=0.0)
    assert bucket.capacity == 1
    assert bucket.take(0.0) and not bucket.take(5.0) and bucket.take(10.0)
