"""Waiting for a query inside the invocation's time limit: exponential backoff, no fixed sleeps."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from compactor.athena import QueryEngine, QueryStatus

FIRST_DELAY_S = 0.25
MAX_DELAY_S = 5.0
# Time kept back at the end of an invocation for recording state and releasing the lock.
RESERVE_MS = 5_000


@dataclass
class Deadline:
    """The invocation's time limit, from Lambda's `context.get_remaining_time_in_millis`."""

    remaining_ms: Callable[[], int]
    reserve_ms: int = RESERVE_MS
    sleep: Callable[[float], None] = field(default=time.sleep)

    def usable_ms(self) -> int:
        """Milliseconds left for work, after the reserve."""
        return self.remaining_ms() - self.reserve_ms

    def expired(self) -> bool:
        return self.usable_ms() <= 0


def wait_for_query(engine: QueryEngine, query_id: str, deadline: Deadline) -> QueryStatus | None:
    """The query's final status, or None when the time runs out first (the query keeps running)."""
    delay = FIRST_DELAY_S
    while True:
        status = engine.status(query_id)
        if status.finished:
            return status
        usable_s = deadline.usable_ms() / 1000
        if usable_s <= 0:
            return None
        deadline.sleep(min(usable_s, random.uniform(delay / 2, delay)))
        delay = min(MAX_DELAY_S, delay * 2)
