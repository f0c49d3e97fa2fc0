"""Threshold alerts from the cloud (CONTRACTS.md, "Threshold alerts"): read them, keep the state.

The cloud publishes one alert (schema 1, JSON) per level transition of one metric of one device
to `sensors/<thing>/alerts` with QoS 1 and the retain flag, so the last message on the topic is
the device's current state and a device that (re)subscribes gets it at once. Its `device_level`
is the device's overall level (the highest of `levels`, metric -> level).

`parse_alert` checks a message against the contract's table: every field present with its type,
levels and transitions from their sets, `schema` 1, and `device_level` the highest of `levels`.
The format of `alert_id` is not checked (it is only compared, to recognise a re-sent alert), nor
that of `threshold_source`; fields the contract may add later are ignored.

`AlertBook` keeps the current state per thing: the last valid message wins. A message that is
not valid, arrives on another thing's topic or names another `device_id` is refused with
`AlertError`, whose text says why, and changes nothing. An empty payload is how a retained
message is deleted on an MQTT broker: it clears the thing's state (back to normal, no alert).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from device.contract import alerts_topic_for

ALERT_SCHEMA_VERSION: Final = 1
TRANSITIONS: Final = ("raised", "lowered", "recovered")
SIDES: Final = ("high", "low")


class AlertError(ValueError):
    """An alert message that is ignored; the text says why."""


class Level(enum.Enum):
    """A level of the contract, ordered: normal < warning < critical."""

    NORMAL = "normal"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS: Final = {Level.NORMAL: 0, Level.WARNING: 1, Level.CRITICAL: 2}


def highest(levels: Iterable[Level]) -> Level:
    """The highest of `levels`; normal when there are none."""
    return max(levels, key=lambda level: level.rank, default=Level.NORMAL)


@dataclass(frozen=True)
class Alert:
    """One alert message (schema 1): one transition of one metric of one device."""

    alert_id: str
    device_id: str
    metric: str
    level: Level
    previous_level: Level
    transition: str
    side: str
    value: float
    threshold: float
    hysteresis: float
    threshold_source: str  # `table:<scope>` or `context:<scope>`
    seq: int
    ts: str
    evaluated_at: str
    levels: Mapping[str, Level]
    device_level: Level

    def describe(self) -> str:
        """One line for the log, e.g. `temperature raised to critical (high line 40, value
        41.2); device level critical`."""
        return (
            f"{self.metric} {self.transition} to {self.level.value} ({self.side} line "
            f"{self.threshold:g}, value {self.value:g}, reading seq {self.seq}); device level "
            f"{self.device_level.value}"
        )


# -- parsing ----------------------------------------------------------------------------------
def _field(doc: Mapping[str, Any], name: str) -> Any:
    if name not in doc:
        raise AlertError(f"field {name!r} is missing")
    return doc[name]


def _string(doc: Mapping[str, Any], name: str) -> str:
    value = _field(doc, name)
    if not isinstance(value, str) or not value:
        raise AlertError(f"field {name!r} must be a non-empty string, got {value!r}")
    return value


def _one_of(doc: Mapping[str, Any], name: str, allowed: Iterable[str]) -> str:
    value = _string(doc, name)
    options = tuple(allowed)
    if value not in options:
        raise AlertError(f"field {name!r} must be one of {', '.join(options)}, got {value!r}")
    return value


def _level(doc: Mapping[str, Any], name: str) -> Level:
    return Level(_one_of(doc, name, (level.value for level in Level)))


def _number(doc: Mapping[str, Any], name: str) -> float:
    value = _field(doc, name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AlertError(f"field {name!r} must be a finite number, got {value!r}")
    return float(value)


def _integer(doc: Mapping[str, Any], name: str) -> int:
    value = _field(doc, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AlertError(f"field {name!r} must be an integer >= 0, got {value!r}")
    return value


def _levels(doc: Mapping[str, Any]) -> dict[str, Level]:
    value = _field(doc, "levels")
    if not isinstance(value, dict):
        raise AlertError(f"field 'levels' must be an object (metric -> level), got {value!r}")
    known = {level.value for level in Level}
    bad = {k: v for k, v in value.items() if not isinstance(v, str) or v not in known}
    if bad:
        raise AlertError(f"field 'levels' has values that are not levels: {bad!r}")
    return {metric: Level(level) for metric, level in value.items()}


def _document(payload: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise AlertError(f"the payload is not UTF-8: {err}") from err
    except json.JSONDecodeError as err:
        raise AlertError(f"the payload is not JSON: {err}") from err
    if not isinstance(doc, dict):
        raise AlertError(f"the payload is not a JSON object but {type(doc).__name__}")
    schema = doc.get("schema")
    if schema != ALERT_SCHEMA_VERSION or isinstance(schema, bool):
        raise AlertError(
            f"unsupported schema {schema!r} (this publisher reads alert schema "
            f"{ALERT_SCHEMA_VERSION})"
        )
    return doc


def parse_alert(payload: bytes) -> Alert:
    """The alert in `payload`; AlertError saying what is wrong if it breaks the contract."""
    doc = _document(payload)
    alert = Alert(
        alert_id=_string(doc, "alert_id"),
        device_id=_string(doc, "device_id"),
        metric=_string(doc, "metric"),
        level=_level(doc, "level"),
        previous_level=_level(doc, "previous_level"),
        transition=_one_of(doc, "transition", TRANSITIONS),
        side=_one_of(doc, "side", SIDES),
        value=_number(doc, "value"),
        threshold=_number(doc, "threshold"),
        hysteresis=_number(doc, "hysteresis"),
        threshold_source=_string(doc, "threshold_source"),
        seq=_integer(doc, "seq"),
        ts=_string(doc, "ts"),
        evaluated_at=_string(doc, "evaluated_at"),
        levels=_levels(doc),
        device_level=_level(doc, "device_level"),
    )
    expected = highest(alert.levels.values())
    if alert.device_level is not expected:
        raise AlertError(
            f"device_level {alert.device_level.value!r} is not the highest of levels "
            f"({expected.value!r})"
        )
    return alert


# -- state per thing --------------------------------------------------------------------------
@dataclass(frozen=True)
class ThingAlerts:
    """The current alert state of one thing: the last valid alert (None: none, or cleared)."""

    alert: Alert | None = None
    received_at: str | None = None

    @property
    def level(self) -> Level:
        return self.alert.device_level if self.alert else Level.NORMAL

    @property
    def levels(self) -> Mapping[str, Level]:
        return self.alert.levels if self.alert else {}

    def as_data(self) -> dict[str, Any]:
        """Plain data for the state file and `status`."""
        a = self.alert
        return {
            "device_level": self.level.value,
            "levels": {metric: level.value for metric, level in sorted(self.levels.items())},
            "last_alert_at": a.evaluated_at if a else None,
            "received_at": self.received_at,
            "last_alert": a.describe() if a else None,
            "alert_id": a.alert_id if a else None,
        }


@dataclass(frozen=True)
class Update:
    """What one accepted message did to a thing's state."""

    thing: str
    previous: Level
    current: Level
    alert: Alert | None  # None: the retained alert was deleted (empty payload)
    repeated: bool  # the alert already shown (the retained copy sent again on a reconnect)

    def describe(self) -> str:
        if self.alert is None:
            return f"{self.thing}: the retained alert was deleted; level normal"
        return f"{self.thing} alert {self.alert.alert_id}: {self.alert.describe()}"


@dataclass
class AlertBook:
    """The current alert state per thing; the last valid message wins."""

    things: dict[str, ThingAlerts] = field(default_factory=dict)

    def receive(
        self, thing: str, topic: str, payload: bytes, received_at: dt.datetime | None = None
    ) -> Update:
        """Apply one message from `topic`; AlertError (nothing changes) if it is refused."""
        expected = alerts_topic_for(thing)
        if topic != expected:
            raise AlertError(f"arrived on {topic!r}, not on {thing}'s alerts topic {expected!r}")
        before = self.get(thing)
        when = (received_at or dt.datetime.now(dt.UTC)).isoformat(timespec="milliseconds")
        if not payload:
            self.things[thing] = ThingAlerts(None, when)
            return Update(thing, before.level, Level.NORMAL, None, repeated=False)
        alert = parse_alert(payload)
        if alert.device_id != thing:
            raise AlertError(f"the alert is for device {alert.device_id!r}, not for {thing!r}")
        repeated = before.alert is not None and before.alert.alert_id == alert.alert_id
        self.things[thing] = ThingAlerts(alert, when)
        return Update(thing, before.level, alert.device_level, alert, repeated)

    def get(self, thing: str) -> ThingAlerts:
        return self.things.get(thing, ThingAlerts())

    def level(self) -> Level:
        """The highest level of all things (a Pi has one thing: its level)."""
        return highest(state.level for state in self.things.values())

    def last_alert_at(self) -> str | None:
        """`evaluated_at` of the latest alert of any thing (ISO strings of one format sort)."""
        times = [s.alert.evaluated_at for s in self.things.values() if s.alert]
        return max(times, default=None)

    def as_state(self) -> dict[str, str | None]:
        """The values the publisher records for `status`."""
        data = {thing: state.as_data() for thing, state in sorted(self.things.items())}
        return {
            "alert_level": self.level().value,
            "alerts": json.dumps(data, sort_keys=True),
            "last_alert_at": self.last_alert_at(),
        }
