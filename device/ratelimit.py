"""A token bucket: at most `rate` publishes per second on average, bursts of at most `burst`.

IoT Core accepts at most 100 publishes per second per connection (a fixed quota). The publisher's
default of 80/s with a burst of 10 keeps every one-second window at or below 90, leaving room for
the few in-flight messages the MQTT client re-sends by itself after a reconnect.
"""

from __future__ import annotations

import time
from collections.abc import Callable

DEFAULT_RATE = 80.0
DEFAULT_BURST = 10


class TokenBucket:
    """`rate` <= 0 means unlimited. `clock` is injectable for tests (a monotonic clock)."""

    def __init__(
        self,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def take(self, wanted: int) -> int:
        """Take up to `wanted` tokens now; returns how many were granted."""
        if self.unlimited:
            return wanted
        self._refill()
        granted = min(wanted, int(self._tokens))
        self._tokens -= granted
        return granted

    def wait_time(self, wanted: int = 1) -> float:
        """Seconds until `wanted` tokens (at most `burst`) are available; 0 if they are now."""
        if self.unlimited:
            return 0.0
        self._refill()
        wanted = min(wanted, self.burst)
        return 0.0 if self._tokens >= wanted else (wanted - self._tokens) / self.rate
