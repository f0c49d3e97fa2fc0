"""Sensor sources: `sensehat`, `emulator`, `replay`, `synthetic` (see `open_source`).

The hardware libraries (`sense-hat`, `sense-emu`) are imported only when their source is opened.
"""

from __future__ import annotations

from device.config import SOURCES, ConfigError, Settings
from device.sources.base import LedMatrix, Pause, Source
from device.sources.emulator import EmulatorSource
from device.sources.replay import ReplaySource
from device.sources.sensehat import SenseHatSource
from device.sources.synthetic import SyntheticSource

__all__ = ["SOURCES", "LedMatrix", "Pause", "Source", "open_source"]


def open_source(settings: Settings) -> Source:
    """The source named by `settings.device.source`; ConfigError for an unknown name."""
    name = settings.device.source
    if name == "sensehat":
        return SenseHatSource.open(settings)
    if name == "emulator":
        return EmulatorSource.open(settings)
    if name == "replay":
        return ReplaySource.from_settings(settings)
    if name == "synthetic":
        return SyntheticSource.from_settings(settings)
    raise ConfigError(f"unknown source {name!r}: choose one of {', '.join(SOURCES)}")
