"""What a sensor source is: an iterator of samples and pauses, and maybe an LED matrix.

Sources never sleep. A source yields `Sample`s and, where it has to wait (the next sampling tick,
the next row of a replay at real speed), a `Pause` with the monotonic time to wait for. The
publisher's sampler does the waiting, and commits everything sampled so far to the spool before
it waits, so nothing sits in memory while the process could be killed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from device.reading import Sample


@dataclass(frozen=True)
class Pause:
    """Wait until `time.monotonic()` reaches `until` before asking for the next item."""

    until: float


class LedMatrix(Protocol):
    """The part of the Sense HAT API the status display uses (sense_hat and sense_emu)."""

    def set_pixels(self, pixel_list: list[list[int]]) -> None: ...

    def clear(self) -> None: ...


class Source(Protocol):
    """A sensor source. `finite` sources end; the publisher then exits once all is PUBACKed."""

    name: str
    finite: bool
    # True when samples are stamped with the system clock (sensehat, emulator): the publisher
    # then samples only while the clock is synchronised and flags clock jumps. A source without
    # the attribute is taken to carry its own times.
    uses_system_clock: bool

    def items(self) -> Iterator[Sample | Pause]: ...

    def device_ids(self) -> list[str]:
        """Devices known before the first sample (their certificates are checked at start)."""
        ...

    def led_matrix(self) -> LedMatrix | None: ...

    def close(self) -> None: ...
