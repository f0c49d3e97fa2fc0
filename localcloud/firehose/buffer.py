"""The delivery buffer: records wait here until the size or the interval hint is reached.

Firehose delivers a buffer when the first of its two hints is met: `SizeInMBs` of data or
`IntervalInSeconds` since the buffer received its first record. A buffer is never empty when it
is delivered.

Differences from AWS:
- The size is measured on the records as read from Kinesis (before transformation); Firehose
  measures the data it buffers for the destination. A buffer is delivered as soon as it reaches
  the size, so an object exceeds the hint by less than one record.
- Firehose raises the buffer size dynamically when delivery falls behind; the local buffer keeps
  the configured hints.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from localcloud.firehose.config import BufferingHints
from localcloud.kinesis.consumer import SourceRecord


class DeliveryBuffer:
    """Records waiting for delivery, and the decision when to deliver them."""

    def __init__(self, hints: BufferingHints, clock: Callable[[], float] = time.monotonic) -> None:
        self.hints = hints
        self._clock = clock
        self._records: list[SourceRecord] = []
        self._size = 0
        self._opened_at: float | None = None

    def __len__(self) -> int:
        return len(self._records)

    @property
    def size_bytes(self) -> int:
        return self._size

    def add(self, record: SourceRecord) -> None:
        if self._opened_at is None:
            self._opened_at = self._clock()
        self._records.append(record)
        self._size += len(record.data)

    def is_full(self) -> bool:
        return self._size >= self.hints.size_bytes

    def is_due(self) -> bool:
        """The interval hint has passed since the first record arrived in this buffer."""
        if self._opened_at is None:
            return False
        return self._clock() - self._opened_at >= self.hints.interval_seconds

    def should_deliver(self) -> bool:
        return bool(self._records) and (self.is_full() or self.is_due())

    def seconds_until_due(self) -> float | None:
        if self._opened_at is None:
            return None
        return max(0.0, self._opened_at + self.hints.interval_seconds - self._clock())

    def take(self) -> list[SourceRecord]:
        """Empty the buffer and return what it held, oldest first."""
        records, self._records = self._records, []
        self._size = 0
        self._opened_at = None
        return records
