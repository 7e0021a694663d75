"""Per-connection limits that protect every other user: token buckets for messages and typing events."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """`rate` events per second on average, bursts of up to `burst`."""

    __slots__ = ("_now", "burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self._now = now
        self.stamp = now()

    def take(self) -> float:
        """Take one token: 0.0 when allowed, else the seconds to wait before the next one."""
        now = self._now()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate
