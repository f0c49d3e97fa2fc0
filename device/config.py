"""The publisher's settings: one TOML file plus `DEVICE_*` environment overrides.

Every setting has one definition here (name, type, default). Keys of the `[device]` table are
overridden by `DEVICE_<KEY>` (e.g. `DEVICE_THING_NAME`), keys of the other tables by
`DEVICE_<TABLE>_<KEY>` (e.g. `DEVICE_MQTT_ENDPOINT`, `DEVICE_SPOOL_PATH`). The file is
`--config PATH`, else `$DEVICE_CONFIG`, else `/etc/sensehat-publisher/config.toml` if it exists.
Unknown keys, unknown `DEVICE_*` variables and values of the wrong type are errors, so a typo is
reported instead of silently ignored. See `device/config.example.toml` for every key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tomllib
import typing
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device.clock import DEFAULT_FLOOR
from device.contract import DEFAULT_TOPIC_TEMPLATE, check_thing_name, check_topic_template
from device.csv_rows import UNIX_FORMATS, CsvLayout
from device.ratelimit import DEFAULT_BURST, DEFAULT_RATE
from device.reading import DEFAULT_TEMPERATURE_FACTOR, KEEP_PRECISION
from device.spool import DEFAULT_MAX_READINGS, FULL_POLICIES

DEFAULT_CONFIG_PATH = Path("/etc/sensehat-publisher/config.toml")
ENV_PREFIX = "DEVICE_"
SOURCES = ("sensehat", "emulator", "replay", "synthetic")
EXIT_CONFIG = 78  # sysexits.h EX_CONFIG; the systemd unit does not restart on it

ASTRO_PI_COLUMNS: dict[str, str] = {
    "temperature_raw": "temp_h",
    "cpu_temp": "temp_cpu",
    "humidity": "humidity",
    "pressure": "pressure",
    "pitch": "pitch",
    "roll": "roll",
    "yaw": "yaw",
}
MAPPABLE_FIELDS = (
    "temperature",
    "temperature_raw",
    "cpu_temp",
    "humidity",
    "pressure",
    "pitch",
    "roll",
    "yaw",
)


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which and how to fix it."""


@dataclass(frozen=True)
class DeviceSettings:
    thing_name: str = ""
    source: str = "sensehat"
    interval_seconds: float = 1.0  # sensehat / emulator sampling interval
    temperature_factor: float = DEFAULT_TEMPERATURE_FACTOR
    # round every measurement to this many decimal places; -1 keeps the source's precision
    decimals: int = KEEP_PRECISION
    led: bool = True  # show the state on the LED matrix (sensehat / emulator)
    log_level: str = "INFO"
    # sensehat / emulator (readings stamped with the system clock): sample only while the clock
    # is synchronised (device/clock.py); replay and synthetic take their times from the data
    require_clock_sync: bool = True
    clock_floor: str = DEFAULT_FLOOR  # ISO date: a clock before it is never synchronised
    clock_jump_seconds: float = 2.0  # wall vs monotonic clock between samples: flag clock_jump


@dataclass(frozen=True)
class MqttSettings:
    endpoint: str = ""
    port: int = 8883
    # Where readings go; {thing} is the thing name. The default stack's Basic Ingest topic: the
    # stack's TelemetryTopic output gives it (another stage has another rule name).
    topic: str = DEFAULT_TOPIC_TEMPLATE
    certificate: str = "/etc/sensehat-publisher/certificate.pem.crt"  # may contain {thing}
    private_key: str = "/etc/sensehat-publisher/private.pem.key"  # may contain {thing}
    ca: str = "/etc/sensehat-publisher/AmazonRootCA1.pem"
    keep_alive_seconds: int = 60
    min_reconnect_delay_ms: int = 1_000
    max_reconnect_delay_ms: int = 120_000
    ack_timeout_seconds: int = 60
    # The MQTT client's own IoT Core flow control (100 publishes/s, 512 KiB/s per connection).
    iot_core_flow_control: bool = True


@dataclass(frozen=True)
class SpoolSettings:
    path: str = "/var/lib/sensehat-publisher/spool.db"
    max_readings: int = DEFAULT_MAX_READINGS
    full_policy: str = "drop-oldest"
    synchronous: str = "full"


@dataclass(frozen=True)
class PublishSettings:
    rate_per_second: float = DEFAULT_RATE  # per connection; 0 = unlimited (local tests only)
    burst: int = DEFAULT_BURST
    max_in_flight: int = 50
    shutdown_grace_seconds: float = 5.0


@dataclass(frozen=True)
class ReplaySettings:
    path: str = ""
    header: bool = True  # false: the columns below are 1-based positions
    separator: str = ","  # one character (quoting allowed) or several, e.g. ", "
    time_column: str = "time_stamp"
    time_format: str = "%Y-%m-%d %H:%M:%S"
    timezone: str = "UTC"  # of times without an offset
    device_column: str = ""  # empty: every row belongs to device_name
    device_name: str = ""  # empty: device.thing_name
    speed: float = 0.0  # 0 = as fast as possible, 1 = real time, 60 = a minute per second
    columns: dict[str, str] = field(default_factory=lambda: dict(ASTRO_PI_COLUMNS))


@dataclass(frozen=True)
class SyntheticSettings:
    devices: int = 1  # 1: the thing itself; N > 1: <thing_name>-001 .. <thing_name>-N
    interval_seconds: float = 1.0
    count: int = 0  # readings per device; 0 = forever
    speed: float = 1.0  # 0 = as fast as possible
    start: str = ""  # ISO 8601 start of the simulated clock; empty = now
    seed: int = 1


@dataclass(frozen=True)
class EmulatorSettings:
    temperature: float = 30.0  # what the emulated HTS221 / LPS25H read (warm, like a real HAT)
    humidity: float = 45.0
    pressure: float = 1013.25
    cpu_temp: float = 45.0  # the emulated Pi's CPU temperature (used for compensation)
    noise: bool = True


@dataclass(frozen=True)
class Settings:
    device: DeviceSettings = field(default_factory=DeviceSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    spool: SpoolSettings = field(default_factory=SpoolSettings)
    publish: PublishSettings = field(default_factory=PublishSettings)
    replay: ReplaySettings = field(default_factory=ReplaySettings)
    synthetic: SyntheticSettings = field(default_factory=SyntheticSettings)
    emulator: EmulatorSettings = field(default_factory=EmulatorSettings)
    config_path: Path | None = None


@dataclass(frozen=True)
class Credentials:
    """The files one thing connects with."""

    certificate: Path
    private_key: Path
    ca: Path


SECTIONS: dict[str, type] = {
    "device": DeviceSettings,
    "mqtt": MqttSettings,
    "spool": SpoolSettings,
    "publish": PublishSettings,
    "replay": ReplaySettings,
    "synthetic": SyntheticSettings,
    "emulator": EmulatorSettings,
}


def env_name(section: str, key: str) -> str:
    """The environment variable overriding `section.key`."""
    middle = "" if section == "device" else f"{section.upper()}_"
    return f"{ENV_PREFIX}{middle}{key.upper()}"


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _to_table(where: str, raw: Any, from_env: bool) -> dict[str, str]:
    if from_env:
        pairs = [p for p in str(raw).split(",") if p.strip()]
        if any("=" not in p for p in pairs):
            raise ConfigError(f"{where}: expected field=column,field=column, got {raw!r}")
        return {k.strip(): v.strip() for k, v in (p.split("=", 1) for p in pairs)}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ConfigError(f"{where}: expected a table of strings, got {raw!r}")
    return dict(raw)


def _to_bool(where: str, raw: Any, from_env: bool) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower() if from_env else None
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{where}: expected true or false, got {raw!r}")


def _to_number(kind: type, where: str, raw: Any, from_env: bool) -> Any:
    word = "an integer" if kind is int else "a number"
    allowed = (int,) if kind is int else (int, float)
    if isinstance(raw, allowed) and not isinstance(raw, bool):
        return kind(raw)
    if from_env:
        try:
            return kind(str(raw).strip())
        except ValueError:
            pass
    raise ConfigError(f"{where}: expected {word}, got {raw!r}")


def _to_str(where: str, raw: Any, from_env: bool) -> str:
    if isinstance(raw, str):
        return raw
    raise ConfigError(f"{where}: expected a string, got {raw!r}")


def _convert(where: str, raw: Any, kind: Any, from_env: bool) -> Any:
    """Check/convert one value to the field's type, raising ConfigError with `where`."""
    if typing.get_origin(kind) is dict:
        return _to_table(where, raw, from_env)
    if kind is bool:
        return _to_bool(where, raw, from_env)
    if kind in (int, float):
        return _to_number(kind, where, raw, from_env)
    return _to_str(where, raw, from_env)


def _section_values(
    section: str, table: Mapping[str, Any], environ: Mapping[str, str]
) -> dict[str, Any]:
    cls = SECTIONS[section]
    types_ = _field_types(cls)
    unknown = sorted(set(table) - set(types_))
    if unknown:
        raise ConfigError(
            f"unknown key(s) in [{section}]: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(types_))})"
        )
    values = {k: _convert(f"[{section}] {k}", v, types_[k], False) for k, v in table.items()}
    for key, kind in types_.items():
        name = env_name(section, key)
        if name in environ:
            values[key] = _convert(name, environ[name], kind, True)
    return values


def known_env_names() -> set[str]:
    names = {f"{ENV_PREFIX}CONFIG"}
    for section, cls in SECTIONS.items():
        names.update(env_name(section, key) for key in _field_types(cls))
    return names


def default_config_path(environ: Mapping[str, str]) -> Path | None:
    if environ.get("DEVICE_CONFIG"):
        return Path(environ["DEVICE_CONFIG"])
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.exists() else None


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the config file (if any) and apply `DEVICE_*` overrides; raise ConfigError."""
    env = dict(os.environ if environ is None else environ)
    path = path if path is not None else default_config_path(env)
    document: dict[str, Any] = {}
    if path is not None:
        try:
            document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise ConfigError(f"config file not found: {path}") from err
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"config file {path} is not valid TOML: {err}") from err
    unknown_tables = sorted(set(document) - set(SECTIONS))
    if unknown_tables:
        raise ConfigError(
            f"unknown table(s) in {path}: {', '.join(unknown_tables)} "
            f"(known: {', '.join(SECTIONS)})"
        )
    unknown_env = sorted(k for k in env if k.startswith(ENV_PREFIX) and k not in known_env_names())
    if unknown_env:
        raise ConfigError(f"unknown setting(s) in the environment: {', '.join(unknown_env)}")
    sections: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        table = document.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"[{section}] must be a table")
        sections[section] = cls(**_section_values(section, table, env))
    return Settings(**sections, config_path=Path(path) if path else None)


# -- validation -------------------------------------------------------------------------------
def _check(errors: list[str], ok: bool, message: str) -> None:
    if not ok:
        errors.append(message)


def validate(settings: Settings) -> None:
    """Raise ConfigError listing every invalid value (files are checked by `credentials_for`)."""
    errors: list[str] = []
    d, m, s, p = settings.device, settings.mqtt, settings.spool, settings.publish
    _check(
        errors,
        d.source in SOURCES,
        f"unknown source {d.source!r} (DEVICE_SOURCE / [device] source): "
        f"choose one of {', '.join(SOURCES)}",
    )
    needs_thing = not (d.source == "replay" and settings.replay.device_column)
    if needs_thing and not d.thing_name:
        errors.append("[device] thing_name (DEVICE_THING_NAME) is not set")
    elif d.thing_name:
        try:
            check_thing_name(d.thing_name)
        except ValueError as err:
            errors.append(f"[device] thing_name: {err}")
    _check(errors, d.interval_seconds > 0, "[device] interval_seconds must be > 0")
    _check(errors, d.temperature_factor > 0, "[device] temperature_factor must be > 0")
    _check(
        errors,
        d.decimals == KEEP_PRECISION or 0 <= d.decimals <= 15,
        "[device] decimals: 0..15 places, or -1 to keep the precision the source gave",
    )
    try:
        dt.date.fromisoformat(d.clock_floor)
    except ValueError:
        errors.append(f"[device] clock_floor {d.clock_floor!r} is not an ISO date (YYYY-MM-DD)")
    _check(errors, d.clock_jump_seconds > 0, "[device] clock_jump_seconds must be > 0")
    _check(
        errors,
        d.log_level.upper() in {"DEBUG", "INFO", "WARNING", "ERROR"},
        "[device] log_level: one of DEBUG, INFO, WARNING, ERROR",
    )
    _check(errors, bool(m.endpoint), "[mqtt] endpoint (DEVICE_MQTT_ENDPOINT) is not set")
    _check(errors, 0 < m.port < 65536, f"[mqtt] port {m.port} is not a TCP port")
    try:
        check_topic_template(m.topic)
    except ValueError as err:
        errors.append(f"[mqtt] topic (DEVICE_MQTT_TOPIC): {err}")
    _check(errors, 30 <= m.keep_alive_seconds <= 1200, "[mqtt] keep_alive_seconds: 30..1200")
    _check(
        errors,
        0 < m.min_reconnect_delay_ms <= m.max_reconnect_delay_ms,
        "[mqtt] need 0 < min_reconnect_delay_ms <= max_reconnect_delay_ms",
    )
    _check(errors, m.ack_timeout_seconds >= 1, "[mqtt] ack_timeout_seconds must be >= 1")
    _check(errors, s.max_readings >= 1, "[spool] max_readings must be >= 1")
    _check(
        errors,
        s.full_policy in FULL_POLICIES,
        f"[spool] full_policy {s.full_policy!r}: choose one of {', '.join(FULL_POLICIES)}",
    )
    _check(errors, s.synchronous in {"full", "normal"}, "[spool] synchronous: full or normal")
    _check(errors, p.rate_per_second >= 0, "[publish] rate_per_second must be >= 0")
    _check(errors, p.burst >= 1, "[publish] burst must be >= 1")
    _check(errors, 1 <= p.max_in_flight <= 1000, "[publish] max_in_flight: 1..1000")
    _check(errors, p.shutdown_grace_seconds >= 0, "[publish] shutdown_grace_seconds >= 0")
    if d.source == "replay":
        _validate_replay(settings.replay, errors)
    if d.source == "synthetic":
        _validate_synthetic(settings.synthetic, errors)
    if errors:
        raise ConfigError("invalid settings:\n  " + "\n  ".join(errors))


def _validate_replay(r: ReplaySettings, errors: list[str]) -> None:
    if not r.path:
        errors.append("[replay] path (DEVICE_REPLAY_PATH) is not set")
    elif not Path(r.path).is_file():
        errors.append(f"[replay] path: file not found: {r.path}")
    _check(errors, r.speed >= 0, "[replay] speed must be >= 0 (0 = as fast as possible)")
    try:
        zoneinfo.ZoneInfo(r.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors.append(f"[replay] timezone {r.timezone!r} is not a known time zone")
    bad = sorted(set(r.columns) - set(MAPPABLE_FIELDS))
    _check(
        errors,
        not bad,
        f"[replay] columns: unknown field(s) {', '.join(bad)} "
        f"(mappable: {', '.join(MAPPABLE_FIELDS)})",
    )
    has_temp = "temperature" in r.columns or "temperature_raw" in r.columns
    _check(errors, "humidity" in r.columns, "[replay] columns: no column for humidity")
    errors.extend(f"[replay] {problem}" for problem in _layout_problems(r))
    _check(
        errors,
        r.time_format in {"iso", *UNIX_FORMATS} or "%" in r.time_format,
        f"[replay] time_format {r.time_format!r}: a strftime format, iso, "
        f"or {', '.join(UNIX_FORMATS)}",
    )
    _check(errors, has_temp, "[replay] columns: no column for temperature or temperature_raw")
    if r.device_name:
        try:
            check_thing_name(r.device_name)
        except ValueError as err:
            errors.append(f"[replay] device_name: {err}")


def _layout_problems(r: ReplaySettings) -> list[str]:
    layout = CsvLayout(
        columns=r.columns,
        header=r.header,
        separator=r.separator,
        time_column=r.time_column,
        device_column=r.device_column,
    )
    return layout.problems()


def _validate_synthetic(y: SyntheticSettings, errors: list[str]) -> None:
    _check(errors, y.devices >= 1, "[synthetic] devices must be >= 1")
    _check(errors, y.interval_seconds > 0, "[synthetic] interval_seconds must be > 0")
    _check(errors, y.count >= 0, "[synthetic] count must be >= 0 (0 = forever)")
    _check(errors, y.speed >= 0, "[synthetic] speed must be >= 0 (0 = as fast as possible)")
    if y.start:
        try:
            dt.datetime.fromisoformat(y.start)
        except ValueError:
            errors.append(f"[synthetic] start {y.start!r} is not an ISO 8601 date-time")


def credentials_for(settings: Settings, thing_name: str) -> Credentials:
    """The certificate, key and CA files of `thing_name`; ConfigError if one is missing."""
    m = settings.mqtt
    multi = (settings.device.source == "synthetic" and settings.synthetic.devices > 1) or (
        settings.device.source == "replay" and bool(settings.replay.device_column)
    )
    if multi and "{thing}" not in m.certificate:
        raise ConfigError(
            "[mqtt] certificate must contain {thing} when one publisher serves several devices "
            f"(each thing connects with its own certificate), got {m.certificate!r}"
        )
    paths = {}
    for key in ("certificate", "private_key", "ca"):
        value = getattr(m, key)
        if not value:
            raise ConfigError(f"[mqtt] {key} ({env_name('mqtt', key)}) is not set")
        path = Path(value.replace("{thing}", thing_name)).expanduser()
        if not path.is_file():
            hint = (
                "run `python -m device provision` or set " + env_name("mqtt", key)
                if key != "ca"
                else "download AmazonRootCA1.pem (see device/README.md) or set DEVICE_MQTT_CA"
            )
            raise ConfigError(f"[mqtt] {key}: file not found: {path} ({hint})")
        if not os.access(path, os.R_OK):
            raise ConfigError(f"[mqtt] {key}: {path} is not readable by this user")
        paths[key] = path
    return Credentials(**paths)


def as_dict(settings: Settings) -> dict[str, Any]:
    """Settings as plain data (for `status --json` and logs)."""
    out = dataclasses.asdict(settings)
    out["config_path"] = str(settings.config_path) if settings.config_path else None
    return out
