"""`emulator`: the Sense HAT emulator (`sense-emu`) run headless, for a desk without a Pi.

`sense_emu.SenseHat` reads its sensors from shared-memory files (`/dev/shm/rpi-sense-emu-*`)
that the emulator's GUI normally keeps up to date. This source does the GUI's job without a
display: it takes the emulator lock and starts sense-emu's humidity, pressure and IMU servers
itself, with the values from `[emulator]` (and sense-emu's own sensor noise if `noise = true`).
If the emulator GUI is already running, its values are used instead and nothing is started.
The LED matrix is the emulated one (`/dev/shm/rpi-sense-emu-screen`). The emulator has no CPU, so
the CPU temperature is `[emulator] cpu_temp`.

`sense-emu` (and numpy) are imported only when this source is chosen: `pip install sense-emu`.
"""

# sense-emu is imported inside functions on purpose: only when this source is chosen.
# ruff: noqa: PLC0415

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from device.config import ConfigError, EmulatorSettings, Settings
from device.sources.sensehat import SenseHatSource

log = logging.getLogger(__name__)


class HeadlessEmulator:
    """sense-emu's sensor servers without the GUI; `close()` stops them and frees the lock."""

    def __init__(self, settings: EmulatorSettings) -> None:
        try:
            from sense_emu.humidity import HumidityServer
            from sense_emu.imu import IMUServer
            from sense_emu.lock import EmulatorLock
            from sense_emu.pressure import PressureServer
        except ImportError as err:
            raise ConfigError(
                "source 'emulator' needs the sense-emu package: pip install sense-emu"
            ) from err
        self._lock = EmulatorLock("sense_emu")
        self._servers: list[Any] = []
        if self._lock.wait(0):
            log.info("a Sense HAT emulator is already running; reading its sensors")
            self._owner = False
            return
        self._lock.acquire()
        self._owner = True
        # A server starts from the values stored in its shared-memory file, and its noise is a
        # running mean that would take seconds to move from the previous values to ours: store
        # our values first (noise off), then start the servers that keep running.
        seed_humidity = HumidityServer(simulate_noise=False)
        seed_humidity.set_values(settings.humidity, settings.temperature)
        seed_humidity.close()
        seed_pressure = PressureServer(simulate_noise=False)
        seed_pressure.set_values(settings.pressure, settings.temperature)
        seed_pressure.close()
        imu = IMUServer(simulate_world=settings.noise)
        imu.set_orientation((0.0, 0.0, 0.0))
        self._servers = [
            HumidityServer(simulate_noise=settings.noise),
            PressureServer(simulate_noise=settings.noise),
            imu,
        ]

    def close(self) -> None:
        for server in self._servers:
            server.close()
        self._servers = []
        if self._owner and self._lock.mine:
            self._lock.release()
        self._owner = False


class EmulatorSource(SenseHatSource):
    """The headless emulator source; infinite. It samples and shows as the Sense HAT source does
    (sense-emu has the same API), with the emulator's fixed CPU temperature."""

    name = "emulator"

    def __init__(
        self,
        emulator: HeadlessEmulator,
        hat: Any,
        thing_name: str,
        interval: float,
        cpu_temp: float,
    ) -> None:
        super().__init__(hat, thing_name, interval, lambda: cpu_temp)
        self.emulator = emulator

    @classmethod
    def open(cls, settings: Settings) -> EmulatorSource:
        emulator = HeadlessEmulator(settings.emulator)
        try:
            from sense_emu import SenseHat

            hat = SenseHat()
        except BaseException:
            emulator.close()
            raise
        d = settings.device
        return cls(emulator, hat, d.thing_name, d.interval_seconds, settings.emulator.cpu_temp)

    def close(self) -> None:
        stick = getattr(self.reader.hat, "_stick", None)
        if stick is not None:
            stick.close()
        # sense-emu leaves a per-process joystick socket next to its lock file.
        from sense_emu.lock import lock_filename

        Path(lock_filename()).with_name(f"rpi-sense-emu-client-{os.getpid()}").unlink(
            missing_ok=True
        )
        self.emulator.close()
