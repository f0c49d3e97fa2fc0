"""Sensor samples and the readings built from them (schema 1, see device/contract.py).

A `Sample` is what a source measured. `build_reading` turns it into the published JSON object:
UTC timestamp with milliseconds, the CPU-compensated temperature, and `flags` for every value that
is missing, not a finite number, or outside the contract's range. Such values are flagged, never
dropped: the cloud's validator decides what to do with them and records why. Values are published
with the precision the source gave them, unless `[device] decimals` asks for rounding.

Temperature compensation
------------------------
The Sense HAT sits on top of the Pi, whose CPU warms the HTS221. With `t_raw` the HTS221
temperature, `t_cpu` the CPU temperature and `factor` a calibration constant (default 1.5,
setting `device.temperature_factor`):

    temperature = t_raw - (t_cpu - t_raw) / factor

A larger factor means a smaller correction. Calibrate it once against a thermometer in the room:
`factor = (t_cpu - t_raw) / (t_raw - t_room)`. Without a CPU temperature the raw value is
published as `temperature` and the reading is flagged `temperature_not_compensated`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

from device.contract import (
    FIELD_ORDER,
    MAX_MESSAGE_BYTES,
    OPTIONAL_MEASUREMENTS,
    RANGES,
    REQUIRED_MEASUREMENTS,
    SCHEMA_VERSION,
)

DEFAULT_TEMPERATURE_FACTOR = 1.5
KEEP_PRECISION = -1  # `decimals`: publish each value as the source gave it


@dataclass(frozen=True)
class Sample:
    """One measurement by a source. `device_id` None means "the configured thing"."""

    ts: dt.datetime
    temperature_raw: float | None = None
    humidity: float | None = None
    pressure: float | None = None
    cpu_temp: float | None = None
    pitch: float | None = None
    roll: float | None = None
    yaw: float | None = None
    temperature: float | None = None  # already compensated (e.g. a replayed log's column)
    device_id: str | None = None
    flags: tuple[str, ...] = field(default=())


def compensate(temperature_raw: float, cpu_temp: float, factor: float) -> float:
    """The CPU-compensated temperature (formula in the module docstring)."""
    if factor <= 0:
        raise ValueError(f"temperature factor must be > 0, got {factor}")
    return temperature_raw - (cpu_temp - temperature_raw) / factor


def format_ts(ts: dt.datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC. A naive datetime is taken to be UTC."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.UTC)
    utc = ts.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _clean(name: str, value: float | None, flags: list[str], decimals: int) -> float | None:
    """Flag a measurement if it is not finite or out of range; round it only when `decimals`
    is not `KEEP_PRECISION`."""
    if value is None:
        return None
    if not math.isfinite(value):
        flags.append(f"{name}_not_finite")
        return None
    low, high = RANGES[name]
    if not low <= value <= high:
        flags.append(f"{name}_out_of_range")
    return float(value) if decimals == KEEP_PRECISION else round(float(value), decimals)


def build_reading(
    sample: Sample,
    device_id: str,
    seq: int,
    factor: float = DEFAULT_TEMPERATURE_FACTOR,
    decimals: int = KEEP_PRECISION,
) -> dict[str, Any]:
    """The schema-1 reading for `sample` (keys in contract order, `flags` only when set).

    Values keep the precision the source gave (a replayed `21.1234` stays `21.1234`); with
    `decimals` >= 0 (setting `[device] decimals`) they are rounded to that many places. An
    optional measurement the source did not take is left out (the cloud stores it as null)."""
    flags: list[str] = list(sample.flags)
    temperature = sample.temperature
    if temperature is None and sample.temperature_raw is not None:
        raw, cpu = sample.temperature_raw, sample.cpu_temp
        if cpu is not None and math.isfinite(cpu) and math.isfinite(raw):
            temperature = compensate(raw, cpu, factor)
        else:
            temperature = raw
            flags.append("temperature_not_compensated")
    values: dict[str, float | None] = {
        "temperature": temperature,
        "humidity": sample.humidity,
        "pressure": sample.pressure,
        "cpu_temp": sample.cpu_temp,
        "temperature_raw": sample.temperature_raw,
        "pitch": sample.pitch,
        "roll": sample.roll,
        "yaw": sample.yaw,
    }
    reading: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "device_id": device_id,
        "seq": seq,
        "ts": format_ts(sample.ts),
    }
    for name in REQUIRED_MEASUREMENTS:
        if values[name] is None:
            flags.append(f"{name}_missing")
        reading[name] = _clean(name, values[name], flags, decimals)
    for name in OPTIONAL_MEASUREMENTS:
        cleaned = _clean(name, values[name], flags, decimals)
        if cleaned is not None:
            reading[name] = cleaned
    if flags:
        reading["flags"] = list(dict.fromkeys(flags))
    return {key: reading[key] for key in FIELD_ORDER if key in reading}


def encode(reading: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON; raises ValueError if it exceeds IoT Core's 128 KiB message limit."""
    payload = json.dumps(reading, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    data = payload.encode("utf-8")
    if len(data) > MAX_MESSAGE_BYTES:
        raise ValueError(f"reading is {len(data)} bytes, over the {MAX_MESSAGE_BYTES}-byte limit")
    return data
