"""Threshold sets, levels and hysteresis (CONTRACTS.md "Threshold alerts").

Pure Python, standard library only: the alerter evaluates readings with it, the CDK app checks
the context's `alertThresholds` with it at synth time, and the thresholds CLI checks a set before
writing it to the table. One definition of what a valid set is.

A set names, for one metric, up to four lines and a hysteresis:
`warningHigh`, `criticalHigh`, `warningLow`, `criticalLow`, `hysteresis`.

- `critical` when value >= criticalHigh or <= criticalLow; else `warning` when >= warningHigh or
  <= warningLow; else `normal`. A level is entered as soon as its line is reached.
- A level is left for a lower one only when the value is past the line by `hysteresis`: with
  warningHigh 30 and hysteresis 0.5, a warning raised at 30.0 stays until the value is below
  29.5. A value hovering at the line therefore raises one alert, not one per reading.
- The bands that hysteresis keeps a level in never overlap between the high and the low side
  (checked), so which side a level is on is never ambiguous.

Sets apply to a scope: every device (`*`), a place of the device registry (`place/<path>`, a
site, building, floor or room) or one device; the most specific scope wins (`resolve`).
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

METRICS: tuple[str, ...] = ("temperature", "temperature_raw", "humidity", "pressure", "cpu_temp")
LINES: tuple[str, ...] = ("warningHigh", "criticalHigh", "warningLow", "criticalLow")
FIELDS: tuple[str, ...] = (*LINES, "hysteresis")
ALL_DEVICES = "*"
# A place's scope: `place/<site>[/<building>[/<floor>[/<room>]]]` (the device registry's place
# path, cdk_app/devices.py). A thing name never holds `/`, so the two never collide.
PLACE_SCOPE = "place/"
PLACE_LEVELS = 4


class ThresholdError(ValueError):
    """A threshold set or configuration is unusable; the message says where and why."""


class Level(enum.IntEnum):
    NORMAL = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Level:
        try:
            return cls[text.upper()]
        except KeyError:
            raise ThresholdError(f"{text!r} is not a level (normal, warning, critical)") from None


class Side(enum.Enum):
    HIGH = "high"
    LOW = "low"


@dataclass(frozen=True)
class Classification:
    level: Level
    side: Side | None  # None when normal


NORMAL = Classification(Level.NORMAL, None)


@dataclass(frozen=True)
class ThresholdSet:
    warning_high: float | None = None
    critical_high: float | None = None
    warning_low: float | None = None
    critical_low: float | None = None
    hysteresis: float = 0.0

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str) -> ThresholdSet:
        """A set from `{"warningHigh": 30, ...}`; `where` names it in errors."""
        if not isinstance(data, Mapping):
            raise ThresholdError(f"{where}: a threshold set must be an object, got {data!r}")
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise ThresholdError(
                f"{where}: unknown field(s) {', '.join(unknown)} (allowed: {', '.join(FIELDS)})"
            )
        values = {name: _number(data.get(name), f"{where}.{name}") for name in FIELDS}
        hysteresis = values.pop("hysteresis")
        threshold_set = cls(
            warning_high=values["warningHigh"],
            critical_high=values["criticalHigh"],
            warning_low=values["warningLow"],
            critical_low=values["criticalLow"],
            hysteresis=0.0 if hysteresis is None else hysteresis,
        )
        threshold_set.validate(where)
        return threshold_set

    def as_mapping(self) -> dict[str, float]:
        """The set as the contract writes it (lines that are not set are left out)."""
        pairs = zip(FIELDS, (*self.lines, self.hysteresis), strict=True)
        return {name: value for name, value in pairs if value is not None}

    @property
    def lines(self) -> tuple[float | None, float | None, float | None, float | None]:
        return (self.warning_high, self.critical_high, self.warning_low, self.critical_low)

    def validate(self, where: str) -> None:
        if all(line is None for line in self.lines):
            raise ThresholdError(f"{where}: set at least one of {', '.join(LINES)}")
        if self.hysteresis < 0:
            raise ThresholdError(f"{where}.hysteresis must be >= 0, got {self.hysteresis}")
        for warning, critical, name, compare in (
            (self.warning_high, self.critical_high, "criticalHigh >= warningHigh", float.__ge__),
            (self.warning_low, self.critical_low, "criticalLow <= warningLow", float.__le__),
        ):
            if warning is not None and critical is not None and not compare(critical, warning):
                raise ThresholdError(f"{where}: {name} is required, got {critical} and {warning}")
        highs = [v for v in (self.warning_high, self.critical_high) if v is not None]
        lows = [v for v in (self.warning_low, self.critical_low) if v is not None]
        if highs and lows:
            gap = min(highs) - max(lows)
            if gap <= 2 * self.hysteresis:
                raise ThresholdError(
                    f"{where}: the lowest high line ({min(highs)}) must be above the highest low "
                    f"line ({max(lows)}) by more than twice the hysteresis ({self.hysteresis})"
                )

    def line(self, level: Level, side: Side) -> float | None:
        """The line of `level` on `side` (None for normal or a line that is not set)."""
        if level is Level.NORMAL:
            return None
        if side is Side.HIGH:
            return self.critical_high if level is Level.CRITICAL else self.warning_high
        return self.critical_low if level is Level.CRITICAL else self.warning_low

    def classify(self, value: float, margin: float = 0.0) -> Classification:
        """The level of `value` with every line moved toward normal by `margin`."""
        for level in (Level.CRITICAL, Level.WARNING):
            high = self.line(level, Side.HIGH)
            if high is not None and value >= high - margin:
                return Classification(level, Side.HIGH)
            low = self.line(level, Side.LOW)
            if low is not None and value <= low + margin:
                return Classification(level, Side.LOW)
        return NORMAL

    def next_level(self, value: float, current: Classification) -> Classification:
        """The level after `value`, from `current`, with hysteresis.

        Up at once: the plain classification when it is higher. Down only as far as the lines
        moved by `hysteresis` allow, and never below the plain classification.
        """
        plain = self.classify(value)
        if plain.level >= current.level:
            return plain if plain.level > current.level else _keep_side(current, plain)
        held = self.classify(value, margin=self.hysteresis)
        if held.level >= current.level:
            return current
        return held if held.level > plain.level else plain


def _keep_side(current: Classification, plain: Classification) -> Classification:
    """Same level: a level already held keeps its side (no new alert for the same level)."""
    return current if current.level is not Level.NORMAL else plain


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ThresholdError(f"{where} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ThresholdError(f"{where} must be finite, got {value!r}")
    return number


@dataclass(frozen=True)
class ThresholdConfig:
    """Threshold sets by scope (`*` or a thing name) and metric."""

    sets: Mapping[tuple[str, str], ThresholdSet]

    @classmethod
    def from_context(cls, data: Any, where: str = "alertThresholds") -> ThresholdConfig:
        """`{"default": {metric: set}, "places": {place path: {metric: set}}, "devices": {thing:
        {metric: set}}}` (each optional)."""
        if not isinstance(data, Mapping):
            raise ThresholdError(f"{where} must be an object with 'default', 'places', 'devices'")
        unknown = sorted(set(data) - {"default", "places", "devices"})
        if unknown:
            raise ThresholdError(f"{where}: unknown key(s) {', '.join(unknown)}")
        sets: dict[tuple[str, str], ThresholdSet] = {}
        scopes: dict[str, tuple[str, Any]] = {
            ALL_DEVICES: (f"{where}.default", data.get("default", {}))
        }
        devices = data.get("devices", {})
        if not isinstance(devices, Mapping):
            raise ThresholdError(f"{where}.devices must be an object of thing name -> metrics")
        for device, metrics in devices.items():
            if device == ALL_DEVICES:
                raise ThresholdError(f"{where}.devices: use 'default' for every device, not '*'")
            if "/" in str(device):
                raise ThresholdError(f"{where}.devices: {device!r} is not a thing name")
            scopes[str(device)] = (f"{where}.devices.{device}", metrics)
        places = data.get("places", {})
        if not isinstance(places, Mapping):
            raise ThresholdError(f"{where}.places must be an object of place path -> metrics")
        for path, metrics in places.items():
            scope = place_scope(str(path), f"{where}.places")
            scopes[scope] = (f"{where}.places.{path}", metrics)
        for scope, (name, metrics) in scopes.items():
            if not isinstance(metrics, Mapping):
                raise ThresholdError(f"{name} must be an object of metric -> threshold set")
            for metric, spec in metrics.items():
                check_metric(metric, name)
                sets[(scope, metric)] = ThresholdSet.from_mapping(spec, f"{name}.{metric}")
        return cls(sets)

    @classmethod
    def from_json(cls, text: str, where: str) -> ThresholdConfig:
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError as err:
            raise ThresholdError(f"{where} is not JSON: {err}") from err
        return cls.from_context(data, where)

    def to_context(self) -> dict[str, Any]:
        default: dict[str, Any] = {}
        places: dict[str, dict[str, Any]] = {}
        devices: dict[str, dict[str, Any]] = {}
        for (scope, metric), threshold_set in sorted(self.sets.items()):
            if scope == ALL_DEVICES:
                target = default
            elif scope.startswith(PLACE_SCOPE):
                target = places.setdefault(scope[len(PLACE_SCOPE) :], {})
            else:
                target = devices.setdefault(scope, {})
            target[metric] = threshold_set.as_mapping()
        return {"default": default, "places": places, "devices": devices}


def check_metric(metric: str, where: str) -> None:
    if metric not in METRICS:
        raise ThresholdError(f"{where}: {metric!r} is not a metric (one of {', '.join(METRICS)})")


def place_scope(path: str, where: str) -> str:
    """The scope of a place path `site[/building[/floor[/room]]]`; ThresholdError if it is not
    one."""
    levels = path.split("/")
    if not path or len(levels) > PLACE_LEVELS or not all(levels):
        raise ThresholdError(
            f"{where}: {path!r} is not a place: site[/building[/floor[/room]]], as the device "
            "registry (deviceNames) names it"
        )
    return PLACE_SCOPE + path


def place_scopes(place: str | None) -> list[str]:
    """A device's place scopes, the most specific first: its room, floor, building, site."""
    if not place:
        return []
    levels = place.split("/")
    return [PLACE_SCOPE + "/".join(levels[:n]) for n in range(len(levels), 0, -1)]


@dataclass(frozen=True)
class Resolved:
    threshold_set: ThresholdSet
    source: str  # "table:<scope>" or "context:<scope>"


def resolve(
    device: str,
    metric: str,
    table: ThresholdConfig,
    context: ThresholdConfig,
    place: str | None = None,
) -> Resolved | None:
    """The set for `device` (in `place`, its registry place path) and `metric`: the most
    specific scope wins, and for one scope the run-time table before the context.

    Scopes: the device, its room, floor, building and site (as far as `place` goes), `*`.
    Sets are not merged.
    """
    for scope in (device, *place_scopes(place), ALL_DEVICES):
        for origin, config in (("table", table), ("context", context)):
            found = config.sets.get((scope, metric))
            if found is not None:
                return Resolved(found, f"{origin}:{scope}")
    return None
