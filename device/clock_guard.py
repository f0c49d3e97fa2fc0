"""The sampler's guard over the system clock, for sources that stamp readings with it.

- **Not synchronised** (`device.clock.check_clock`, or an injected check): `ready()` is False
  and the sampler takes no reading; it asks again every sampling interval. Each change between
  synchronised and not is logged once (WARNING when the clock is lost, with the evidence; INFO
  or WARNING when it is back) and reported to `on_change` (the publisher's `status` field and
  LED picture). Without a check (`[device] require_clock_sync = false`) `ready()` is always
  True.
- **Jumps**: between two samples the wall clock (the samples' `ts`) should move as the
  monotonic clock does. If the two differ by more than the tolerance (`[device]
  clock_jump_seconds`), the clock was stepped (NTP correcting a wrong start, someone running
  `date -s`) and the first reading after the step carries the flag `clock_jump`; the jump's
  size is logged. The comparison starts afresh after a wait for synchronisation, which is
  itself logged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable

from device.clock import ClockStatus
from device.reading import Sample

log = logging.getLogger(__name__)

CLOCK_JUMP_FLAG = "clock_jump"


class ClockGuard:
    """Decides whether to sample now and flags readings taken after a clock step."""

    def __init__(
        self,
        check: Callable[[], ClockStatus] | None,
        jump_tolerance: float,
        interval: float,
        on_change: Callable[[ClockStatus], None] = lambda status: None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self.jump_tolerance = jump_tolerance
        self.interval = interval  # how often a waiting sampler asks again (seconds)
        self._on_change = on_change
        self._monotonic = monotonic
        self.synchronised: bool | None = None  # unknown until the first check
        self._lost_at = 0.0  # monotonic time the clock was found not synchronised
        self._previous: tuple[dt.datetime, float] | None = None  # (ts, monotonic) of a sample

    @property
    def checking(self) -> bool:
        return self._check is not None

    def ready(self) -> bool:
        """Whether a reading may be taken now; a change of the clock's state is reported once."""
        if self._check is None:
            return True
        status = self._check()
        if status.synchronised != self.synchronised:
            self._changed(status)
        return status.synchronised

    def _changed(self, status: ClockStatus) -> None:
        now = self._monotonic()
        if not status.synchronised:
            log.warning(
                "the system clock is not synchronised: %s. No readings are taken until it is "
                "(checking every %g s)",
                status.detail,
                self.interval,
            )
            self._lost_at = now
            self._previous = None
        elif self.synchronised is None:
            log.info("the system clock is synchronised: %s", status.detail)
        else:
            log.warning(
                "the system clock is synchronised after %.0f s without: %s. Sampling resumes",
                now - self._lost_at,
                status.detail,
            )
        self.synchronised = status.synchronised
        self._on_change(status)

    def stamp(self, sample: Sample) -> Sample:
        """`sample`, with the flag `clock_jump` if the clock was stepped since the last one."""
        now = self._monotonic()
        previous, self._previous = self._previous, (sample.ts, now)
        if previous is None:
            return sample
        wall = (sample.ts - previous[0]).total_seconds()
        monotonic = now - previous[1]
        jump = wall - monotonic
        if abs(jump) <= self.jump_tolerance:
            return sample
        log.warning(
            "the system clock jumped by %+.3f s between two samples (wall clock %+.3f s, "
            "monotonic clock %+.3f s); the reading stamped %s is flagged %s",
            jump,
            wall,
            monotonic,
            sample.ts.isoformat(timespec="milliseconds"),
            CLOCK_JUMP_FLAG,
        )
        return dataclasses.replace(sample, flags=(*sample.flags, CLOCK_JUMP_FLAG))
