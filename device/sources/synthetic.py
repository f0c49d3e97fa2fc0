"""`synthetic`: a fleet of N virtual Sense HATs with plausible daily curves, for load tests.

Each device gets its own climate from a seeded random generator (same `seed`, same fleet):

- room temperature `a(t) = T0 + A * sin(2 pi (h - 9) / 24)`, warmest at 15:00 UTC, with
  T0 in 18..24 degC and A in 1.5..4 degC, plus 0.05 degC noise;
- relative humidity moving against the temperature: `H0 - B * sin(...)`, H0 in 40..60 %,
  B in 5..12 %;
- pressure: P0 in 1005..1020 hPa plus a slow 3-day swing of +-4 hPa;
- a CPU about 20-28 degC above the room, and `temperature_raw` as a Sense HAT on that CPU would
  read it, i.e. the inverse of the compensation formula with the configured factor, so the
  published (compensated) `temperature` follows `a(t)`;
- an almost level board: pitch and roll within half a degree of 0 (wrapped into 0..360), a fixed
  yaw.

Devices are `<thing_name>` when `devices = 1`, else `<thing_name>-001` .. `<thing_name>-NNN`.
The simulated clock starts at `start` (default: now) and advances `interval_seconds` per round;
`speed` 1 keeps real time, 0 runs as fast as possible; `count` readings per device (0: forever).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from device.config import Settings
from device.reading import Sample
from device.sources.base import LedMatrix, Pause


@dataclass(frozen=True)
class Climate:
    """The fixed parameters of one virtual device."""

    t0: float
    amplitude: float
    h0: float
    h_swing: float
    p0: float
    p_phase: float
    cpu_above: float
    yaw: float


def fleet_names(thing_name: str, devices: int) -> list[str]:
    if devices == 1:
        return [thing_name]
    return [f"{thing_name}-{i:03d}" for i in range(1, devices + 1)]


def raw_from_room(room: float, cpu: float, factor: float) -> float:
    """What the HTS221 reads next to a CPU at `cpu` in a room at `room` (inverse compensation)."""
    return (factor * room + cpu) / (factor + 1)


class SyntheticSource:
    """A finite (count > 0) or infinite fleet source."""

    name = "synthetic"
    uses_system_clock = False  # a simulated clock from `start`

    def __init__(
        self,
        names: list[str],
        interval: float = 1.0,
        count: int = 0,
        speed: float = 1.0,
        start: dt.datetime | None = None,
        seed: int = 1,
        factor: float = 1.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.names = names
        self.interval = interval
        self.count = count
        self.speed = speed
        self.start = start or dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.factor = factor
        self.finite = count > 0
        self._clock = clock
        self._random = random.Random(seed)
        self.climates = {name: self._climate() for name in names}

    @classmethod
    def from_settings(cls, settings: Settings) -> SyntheticSource:
        y = settings.synthetic
        start = dt.datetime.fromisoformat(y.start) if y.start else None
        if start is not None and start.tzinfo is None:
            start = start.replace(tzinfo=dt.UTC)
        return cls(
            names=fleet_names(settings.device.thing_name, y.devices),
            interval=y.interval_seconds,
            count=y.count,
            speed=y.speed,
            start=start,
            seed=y.seed,
            factor=settings.device.temperature_factor,
        )

    def _climate(self) -> Climate:
        u = self._random.uniform
        return Climate(
            t0=u(18, 24),
            amplitude=u(1.5, 4),
            h0=u(40, 60),
            h_swing=u(5, 12),
            p0=u(1005, 1020),
            p_phase=u(0, 2 * math.pi),
            cpu_above=u(20, 28),
            yaw=u(0, 360),
        )

    def sample(self, name: str, ts: dt.datetime) -> Sample:
        """The reading of device `name` at simulated time `ts`."""
        c = self.climates[name]
        g = self._random.gauss
        hours = ts.hour + ts.minute / 60 + ts.second / 3600
        day = math.sin(2 * math.pi * (hours - 9) / 24)
        room = c.t0 + c.amplitude * day + g(0, 0.05)
        cpu = room + c.cpu_above + g(0, 0.3)
        days = ts.timestamp() / 86_400
        return Sample(
            ts=ts,
            device_id=name,
            temperature_raw=raw_from_room(room, cpu, self.factor),
            cpu_temp=cpu,
            humidity=min(100.0, max(0.0, c.h0 - c.h_swing * day + g(0, 0.3))),
            pressure=c.p0 + 4 * math.sin(2 * math.pi * days / 3 + c.p_phase) + g(0, 0.05),
            pitch=g(0, 0.2) % 360,
            roll=g(0, 0.2) % 360,
            yaw=(c.yaw + g(0, 0.5)) % 360,
        )

    def items(self) -> Iterator[Sample | Pause]:
        rounds = range(self.count) if self.count else itertools.count()
        began = self._clock()
        for i in rounds:
            if self.speed > 0 and i > 0:
                yield Pause(began + i * self.interval / self.speed)
            ts = self.start + dt.timedelta(seconds=i * self.interval)
            for name in self.names:
                yield self.sample(name, ts)

    def device_ids(self) -> list[str]:
        return list(self.names)

    def led_matrix(self) -> LedMatrix | None:
        return None

    def close(self) -> None:
        return None
