"""A value read whole and kept for a while: the threshold table and the device registry are each
read at most once every `seconds`, so a change takes effect within that time without a redeploy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TimedCache(Generic[T]):
    """`get()` gives what `read()` gave at most `seconds` ago (by `clock`), or reads it again;
    `clear()` makes the next `get()` read. With `seconds` 0 every `get()` reads."""

    def __init__(self, read: Callable[[], T], seconds: float, clock: Callable[[], float]) -> None:
        self._read = read
        self._seconds = seconds
        self._clock = clock
        self._cached: tuple[float, T] | None = None

    def get(self) -> T:
        now = self._clock()
        if self._cached is not None and now - self._cached[0] < self._seconds:
            return self._cached[1]
        value = self._read()
        self._cached = (now, value)
        return value

    def clear(self) -> None:
        self._cached = None
