"""A token bucket: the rate limiter of the frontend's request limits and of matching's
task queue dispatch. Sans-IO: the caller gives the time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate: float
    capacity: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate: float, burst_ratio: float, now: float) -> TokenBucket:
        capacity = max(rate * burst_ratio, 1.0)
        return cls(rate, capacity, capacity, now)

    def take(self, now: float) -> bool:
        """Take one token if there is one (after refilling for the time since last)."""
        elapsed = max(now - self.updated, 0.0)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait_time(self, now: float) -> float:
        """Seconds from `now` until a token is there (0 when one is)."""
        elapsed = max(now - self.updated, 0.0)
        tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
