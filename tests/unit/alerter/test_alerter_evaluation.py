"""A device's readings in order: the alerts they cause (crossing, hysteresis, recovery)."""

from __future__ import annotations

from typing import Any

from alerter_events import OTHER, THING, reading

from alerter.evaluation import MetricState, Transition, alert_message, apply, evaluate
from alerter.thresholds import Level, Resolved, Side, ThresholdConfig, resolve

CONTEXT = ThresholdConfig.from_context(
    {
        "default": {
            "humidity": {"warningHigh": 60, "criticalHigh": 65, "hysteresis": 1},
            "temperature": {"warningHigh": 27, "criticalHigh": 30, "warningLow": 10},
        },
        "devices": {OTHER: {"humidity": {"warningHigh": 80, "criticalHigh": 90}}},
    }
)
EMPTY = ThresholdConfig({})


def run(
    readings: list[dict[str, Any]], table: ThresholdConfig = EMPTY
) -> tuple[list[Transition], dict[str, MetricState]]:
    """Evaluate readings of one device in order, as the service does."""
    states: dict[str, MetricState] = {}
    transitions: list[Transition] = []
    for item in readings:

        def thresholds(metric: str, device: str = str(item["device_id"])) -> Resolved | None:
            return resolve(device, metric, table, CONTEXT)

        for transition in evaluate(item, states, thresholds):
            states = apply(states, transition)
            transitions.append(transition)
    return transitions, states


def humidity_series(values: list[float], thing: str = THING) -> list[dict[str, Any]]:
    return [reading(seq, thing, humidity=value) for seq, value in enumerate(values, start=1)]


def kinds(transitions: list[Transition]) -> list[tuple[int, str, str]]:
    return [(t.seq, t.kind, t.current.level.label) for t in transitions]


def test_crossing_into_warning_then_critical_raises_each_once() -> None:
    transitions, states = run(humidity_series([50, 59.9, 60, 61, 64, 65, 66, 70]))
    assert kinds(transitions) == [(3, "raised", "warning"), (6, "raised", "critical")]
    assert transitions[0].threshold == 60 and transitions[1].threshold == 65
    assert states["humidity"] == MetricState(Level.CRITICAL, Side.HIGH, 6)


def test_a_value_hovering_at_the_line_raises_one_alert() -> None:
    hovering = [59.8, 60.1, 59.7, 60.0, 59.2, 60.3, 59.9, 60.2, 59.1]
    transitions, _ = run(humidity_series(hovering))
    assert kinds(transitions) == [(2, "raised", "warning")]


def test_recovery_needs_the_value_past_the_line_by_the_hysteresis() -> None:
    transitions, _ = run(humidity_series([61, 59.5, 59.0, 58.9, 60.5]))
    assert kinds(transitions) == [
        (1, "raised", "warning"),
        (4, "recovered", "normal"),
        (5, "raised", "warning"),
    ]
    recovery = transitions[1]
    assert recovery.threshold == 60  # the line left, not line - hysteresis
    assert recovery.previous.level is Level.WARNING


def test_critical_lowers_to_warning_then_recovers() -> None:
    transitions, _ = run(humidity_series([66, 64.5, 63.9, 58]))
    assert kinds(transitions) == [
        (1, "raised", "critical"),
        (3, "lowered", "warning"),
        (4, "recovered", "normal"),
    ]


def test_low_side_alerts() -> None:
    temps = [reading(seq, temperature=t) for seq, t in enumerate([20, 10, 12], start=1)]
    transitions, _ = run(temps)
    assert kinds(transitions) == [(2, "raised", "warning"), (3, "recovered", "normal")]
    assert transitions[0].current.side is Side.LOW


def test_per_device_overrides_from_context_and_table() -> None:
    values = [50, 70, 85]
    this, _ = run(humidity_series(values, THING))
    other, _ = run(humidity_series(values, OTHER))
    assert kinds(this) == [(2, "raised", "critical")]  # default: 60/65
    assert kinds(other) == [(3, "raised", "warning")]  # context override: 80/90
    table = ThresholdConfig.from_context({"devices": {THING: {"humidity": {"warningHigh": 84}}}})
    overridden, _ = run(humidity_series(values, THING), table)
    assert kinds(overridden) == [(3, "raised", "warning")]
    assert overridden[0].source == f"table:{THING}"


def test_a_reading_not_after_the_last_transition_is_ignored() -> None:
    states = {"humidity": MetricState(Level.WARNING, Side.HIGH, 10)}

    def thresholds(metric: str) -> Resolved | None:
        return resolve(THING, metric, EMPTY, CONTEXT)

    assert evaluate(reading(10, humidity=30), states, thresholds) == []
    assert evaluate(reading(9, humidity=30), states, thresholds) == []
    assert [t.kind for t in evaluate(reading(11, humidity=30), states, thresholds)] == ["recovered"]


def test_metrics_without_a_set_or_a_value_are_not_evaluated() -> None:
    transitions, states = run([reading(1, pressure=1250, humidity=50)])
    assert transitions == [] and states == {}
    item = reading(2, humidity=50)
    del item["temperature"]
    assert run([item])[0] == []


def test_the_alert_message_carries_the_contract_fields() -> None:
    transitions, states = run(
        [reading(1, humidity=66, temperature=28), reading(2, humidity=50, temperature=28)]
    )
    assert kinds(transitions) == [  # metrics in CONTRACTS.md order: temperature first
        (1, "raised", "warning"),
        (1, "raised", "critical"),
        (2, "recovered", "normal"),
    ]
    recovery = transitions[2]
    message = alert_message(
        recovery, states, ("temperature", "humidity"), "2024-06-10T07:00:00.000Z"
    )
    assert message == {
        "schema": 1,
        "alert_id": f"{THING}:humidity:2",
        "device_id": THING,
        "metric": "humidity",
        "level": "normal",
        "previous_level": "critical",
        "transition": "recovered",
        "side": "high",
        "value": 50.0,
        "threshold": 65.0,
        "hysteresis": 1.0,
        "threshold_source": "context:*",
        "seq": 2,
        "ts": reading(2)["ts"],
        "evaluated_at": "2024-06-10T07:00:00.000Z",
        "levels": {"humidity": "normal", "temperature": "warning"},
        "device_level": "warning",
    }
