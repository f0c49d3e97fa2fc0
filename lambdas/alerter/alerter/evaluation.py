"""One reading against a device's threshold sets and alert state: the transitions it causes.

Pure: no AWS calls. `evaluate` takes the state of every metric of the device (what the state
table holds) and returns one `Transition` per metric whose level changes. A reading whose `seq`
is not above the seq of a metric's last recorded transition is ignored for that metric: it is a
redelivered or late record, and the state already reflects what came after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from alerter.thresholds import METRICS, Classification, Level, Resolved, Side

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class MetricState:
    """A metric's current level, and the reading that set it (seq -1: never alerted)."""

    level: Level = Level.NORMAL
    side: Side | None = None
    seq: int = -1

    @property
    def classification(self) -> Classification:
        return Classification(self.level, self.side)


NEVER = MetricState()


@dataclass(frozen=True)
class Transition:
    device_id: str
    metric: str
    previous: MetricState
    current: MetricState
    value: float
    threshold: float
    hysteresis: float
    source: str
    seq: int
    ts: str

    @property
    def kind(self) -> str:
        if self.current.level is Level.NORMAL:
            return "recovered"
        return "raised" if self.current.level > self.previous.level else "lowered"

    @property
    def alert_id(self) -> str:
        return f"{self.device_id}:{self.metric}:{self.seq}"


def evaluate(
    reading: Mapping[str, Any],
    states: Mapping[str, MetricState],
    thresholds: Callable[[str], Resolved | None],
) -> list[Transition]:
    """The transitions `reading` causes, given the device's `states` and its threshold sets."""
    transitions: list[Transition] = []
    seq = int(reading["seq"])
    for metric in METRICS:
        value = reading.get(metric)
        resolved = thresholds(metric)
        if resolved is None or not isinstance(value, int | float) or isinstance(value, bool):
            continue
        previous = states.get(metric, NEVER)
        if seq <= previous.seq:
            continue
        limits = resolved.threshold_set
        following = limits.next_level(float(value), previous.classification)
        if following.level is previous.level:
            continue
        # the line crossed: the new level's when going up, the one left when going down
        line_level, line_side = (
            (following.level, following.side)
            if following.level > previous.level
            else (previous.level, previous.side)
        )
        assert line_side is not None  # a level above normal always has a side
        threshold = limits.line(line_level, line_side)
        assert threshold is not None
        transitions.append(
            Transition(
                device_id=str(reading["device_id"]),
                metric=metric,
                previous=previous,
                current=MetricState(following.level, following.side, seq),
                value=float(value),
                threshold=threshold,
                hysteresis=limits.hysteresis,
                source=resolved.source,
                seq=seq,
                ts=str(reading["ts"]),
            )
        )
    return transitions


def apply(states: Mapping[str, MetricState], transition: Transition) -> dict[str, MetricState]:
    """The device's states after `transition`."""
    updated = dict(states)
    updated[transition.metric] = transition.current
    return updated


def alert_message(
    transition: Transition,
    states: Mapping[str, MetricState],
    evaluated: tuple[str, ...],
    evaluated_at: str,
) -> dict[str, Any]:
    """The alert (CONTRACTS.md "Alert"); `states` are the device's states after `transition`,
    `evaluated` the metrics that have a threshold set for the device."""
    levels = {metric: states.get(metric, NEVER).level for metric in evaluated}
    levels[transition.metric] = transition.current.level
    side = transition.current.side or transition.previous.side
    return {
        "schema": SCHEMA_VERSION,
        "alert_id": transition.alert_id,
        "device_id": transition.device_id,
        "metric": transition.metric,
        "level": transition.current.level.label,
        "previous_level": transition.previous.level.label,
        "transition": transition.kind,
        "side": side.value if side else None,
        "value": transition.value,
        "threshold": transition.threshold,
        "hysteresis": transition.hysteresis,
        "threshold_source": transition.source,
        "seq": transition.seq,
        "ts": transition.ts,
        "evaluated_at": evaluated_at,
        "levels": {metric: level.label for metric, level in sorted(levels.items())},
        "device_level": max(levels.values(), default=Level.NORMAL).label,
    }
