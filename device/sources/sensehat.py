"""`sensehat`: a real Sense HAT on a Raspberry Pi, through the `sense-hat` library.

Every `device.interval_seconds` the source reads the HTS221 temperature (`temperature_raw`) and
humidity, the LPS25H pressure, the IMU orientation (pitch, roll, yaw in degrees) and the CPU
temperature from `/sys/class/thermal/thermal_zone0/temp`. A sensor that fails to answer (an I2C
error) gives a missing value and a `<sensor>_read_error` flag instead of stopping the publisher.

The `sense-hat` library is imported only when this source is chosen (on Raspberry Pi OS:
`sudo apt install sense-hat`). The emulator source reuses `SenseHatReader` with `sense-emu`,
which has the same API.
"""

# sense-hat is imported inside functions on purpose: only when this source is chosen.
# ruff: noqa: PLC0415

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from device.config import ConfigError, Settings
from device.reading import Sample
from device.sources.base import LedMatrix, Pause

log = logging.getLogger(__name__)
THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")


def read_cpu_temperature(path: Path = THERMAL_ZONE) -> float | None:
    """The SoC temperature in degC from the kernel's thermal zone, None where there is none."""
    try:
        return int(path.read_text().strip()) / 1000.0
    except (OSError, ValueError):
        return None


class SenseHatReader:
    """Takes one `Sample` from a `sense_hat.SenseHat` (or `sense_emu.SenseHat`) object."""

    def __init__(
        self, hat: Any, cpu_temperature: Callable[[], float | None] = read_cpu_temperature
    ) -> None:
        self.hat = hat
        self._cpu_temperature = cpu_temperature

    def _value(self, sensor: str, read: Callable[[], Any], flags: list[str]) -> Any:
        try:
            return read()
        except OSError as err:
            log.warning("reading the %s failed: %s", sensor, err)
            flags.append(f"{sensor}_read_error")
            return None

    def read(self, now: dt.datetime) -> Sample:
        flags: list[str] = []
        raw = self._value("humidity_sensor", self.hat.get_temperature_from_humidity, flags)
        humidity = self._value("humidity_sensor", self.hat.get_humidity, flags)
        pressure = self._value("pressure_sensor", self.hat.get_pressure, flags)
        orientation = self._value("imu", self.hat.get_orientation_degrees, flags) or {}
        return Sample(
            ts=now,
            temperature_raw=raw,
            humidity=humidity,
            pressure=pressure,
            cpu_temp=self._cpu_temperature(),
            pitch=orientation.get("pitch"),
            roll=orientation.get("roll"),
            yaw=orientation.get("yaw"),
            flags=tuple(dict.fromkeys(flags)),
        )


def ticking(
    reader: SenseHatReader,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Iterator[Sample | Pause]:
    """One sample every `interval` seconds on a fixed schedule (no drift); if reading took
    longer than the interval, the schedule restarts from now instead of bursting."""
    next_tick = clock()
    while True:
        yield Pause(next_tick)
        yield reader.read(wall())
        next_tick = max(next_tick + interval, clock())


class SenseHatSource:
    """The live Sense HAT source; infinite."""

    name = "sensehat"
    finite = False
    uses_system_clock = True

    def __init__(
        self,
        hat: Any,
        thing_name: str,
        interval: float,
        cpu_temperature: Callable[[], float | None] = read_cpu_temperature,
    ) -> None:
        self.reader = SenseHatReader(hat, cpu_temperature)
        self.thing_name = thing_name
        self.interval = interval

    @classmethod
    def open(cls, settings: Settings) -> SenseHatSource:
        try:
            from sense_hat import SenseHat  # type: ignore[import-not-found]
        except ImportError as err:
            raise ConfigError(
                "source 'sensehat' needs the sense-hat library: on Raspberry Pi OS run "
                "`sudo apt install sense-hat` (or choose source emulator, replay or synthetic)"
            ) from err
        try:
            hat = SenseHat()
        except OSError as err:
            raise ConfigError(f"source 'sensehat': no Sense HAT found ({err})") from err
        return cls(hat, settings.device.thing_name, settings.device.interval_seconds)

    def items(self) -> Iterator[Sample | Pause]:
        return ticking(self.reader, self.interval)

    def device_ids(self) -> list[str]:
        return [self.thing_name]

    def led_matrix(self) -> LedMatrix | None:
        return self.reader.hat  # type: ignore[no-any-return]

    def close(self) -> None:
        return None
