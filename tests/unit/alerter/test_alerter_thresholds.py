"""Threshold sets: what is valid, how a value is classified, hysteresis, and which set wins."""

from __future__ import annotations

import pytest

from alerter.thresholds import (
    NORMAL,
    Classification,
    Level,
    Side,
    ThresholdConfig,
    ThresholdError,
    ThresholdSet,
    resolve,
)

HUMIDITY = ThresholdSet.from_mapping(
    {"warningHigh": 60, "criticalHigh": 65, "warningLow": 30, "criticalLow": 20, "hysteresis": 1},
    "humidity",
)
WARNING_HIGH = Classification(Level.WARNING, Side.HIGH)
CRITICAL_HIGH = Classification(Level.CRITICAL, Side.HIGH)
WARNING_LOW = Classification(Level.WARNING, Side.LOW)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "set at least one of"),
        ({"warningHigh": 30, "criticalHigh": 25}, "criticalHigh >= warningHigh"),
        ({"warningLow": 10, "criticalLow": 15}, "criticalLow <= warningLow"),
        ({"warningHigh": 30, "hysteresis": -1}, "hysteresis must be >= 0"),
        ({"warningHigh": 30, "warningLow": 29, "hysteresis": 0.5}, "more than twice the hyst"),
        ({"warningHigh": "30"}, "warningHigh must be a number"),
        ({"warningHigh": True}, "warningHigh must be a number"),
        ({"warningHigh": float("nan")}, "must be finite"),
        ({"warninghigh": 30}, "unknown field(s) warninghigh"),
    ],
)
def test_invalid_sets_are_refused_with_the_reason(spec: dict, message: str) -> None:
    with pytest.raises(ThresholdError, match=r"x\.y") as caught:
        ThresholdSet.from_mapping(spec, "x.y")
    assert message in str(caught.value)


def test_classification_without_hysteresis() -> None:
    assert HUMIDITY.classify(45) == NORMAL
    assert HUMIDITY.classify(60) == WARNING_HIGH  # the line itself counts
    assert HUMIDITY.classify(64.99) == WARNING_HIGH
    assert HUMIDITY.classify(65) == CRITICAL_HIGH
    assert HUMIDITY.classify(30) == WARNING_LOW
    assert HUMIDITY.classify(19) == Classification(Level.CRITICAL, Side.LOW)


def test_a_one_sided_set_never_alerts_on_the_other_side() -> None:
    only_high = ThresholdSet.from_mapping({"warningHigh": 30}, "t")
    assert only_high.classify(-40) == NORMAL
    assert only_high.classify(30) == WARNING_HIGH


def test_levels_go_up_at_once_and_down_only_past_the_hysteresis() -> None:
    assert HUMIDITY.next_level(60, NORMAL) == WARNING_HIGH
    assert HUMIDITY.next_level(59.5, WARNING_HIGH) == WARNING_HIGH  # inside the band
    assert HUMIDITY.next_level(59.0, WARNING_HIGH) == WARNING_HIGH  # at line - hysteresis
    assert HUMIDITY.next_level(58.9, WARNING_HIGH) == NORMAL
    assert HUMIDITY.next_level(66, WARNING_HIGH) == CRITICAL_HIGH
    assert HUMIDITY.next_level(64.5, CRITICAL_HIGH) == CRITICAL_HIGH
    assert HUMIDITY.next_level(63.9, CRITICAL_HIGH) == WARNING_HIGH
    assert HUMIDITY.next_level(40, CRITICAL_HIGH) == NORMAL  # straight back to normal
    assert HUMIDITY.next_level(59.5, NORMAL) == NORMAL  # the band does not raise


def test_a_held_level_keeps_its_side() -> None:
    assert HUMIDITY.next_level(25, WARNING_HIGH) == WARNING_HIGH


def test_context_config_shape_and_errors() -> None:
    config = ThresholdConfig.from_context(
        {
            "default": {"humidity": {"warningHigh": 60}},
            "devices": {"pi-2": {"humidity": {"warningHigh": 70}}},
        }
    )
    assert config.sets[("*", "humidity")].warning_high == 60
    assert config.sets[("pi-2", "humidity")].warning_high == 70
    assert ThresholdConfig.from_context(config.to_context()) == config
    for bad, message in (
        ({"default": {"dew_point": {"warningHigh": 1}}}, "'dew_point' is not a metric"),
        ({"devices": {"*": {}}}, "use 'default'"),
        ({"defaults": {}}, "unknown key(s) defaults"),
        ({"default": {"humidity": {"warningHigh": 60, "criticalHigh": 50}}}, "default.humidity"),
    ):
        with pytest.raises(ThresholdError, match="alertThresholds") as caught:
            ThresholdConfig.from_context(bad)
        assert message in str(caught.value)


def test_the_most_specific_set_wins_then_the_table() -> None:
    def one(scope: str, warning_high: float) -> ThresholdConfig:
        return ThresholdConfig({(scope, "humidity"): ThresholdSet(warning_high=warning_high)})

    def winner(table: ThresholdConfig, context: ThresholdConfig) -> str | None:
        found = resolve("pi-1", "humidity", table, context)
        return None if found is None else found.source

    empty = ThresholdConfig({})
    both = ThresholdConfig({**one("*", 1).sets, **one("pi-1", 2).sets})
    assert winner(both, both) == "table:pi-1"
    assert winner(one("*", 1), both) == "context:pi-1"
    assert winner(one("*", 1), one("*", 2)) == "table:*"
    assert winner(empty, one("*", 2)) == "context:*"
    assert winner(one("pi-2", 1), empty) is None
    assert resolve("pi-1", "pressure", both, both) is None
