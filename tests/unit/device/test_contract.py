"""The device's copy of the reading contract must equal the table in CONTRACTS.md."""

import re
from pathlib import Path

import pytest

from device.contract import (
    DEVICE_ID_PATTERN,
    OPTIONAL_MEASUREMENTS,
    RANGES,
    REQUIRED_MEASUREMENTS,
    SCHEMA_VERSION,
    check_topic_template,
    topic_for,
)

CONTRACTS = Path(__file__).resolve().parents[3] / "CONTRACTS.md"


def reading_table() -> dict[str, dict[str, str]]:
    """Rows of the "Reading (schema 1)" table: field -> {type, required, range}."""
    text = CONTRACTS.read_text(encoding="utf-8")
    section = text.split("## Reading (schema 1)", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, dict[str, str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        for name in re.findall(r"`([a-z_]+)`", cells[0]):
            rows[name] = {"type": cells[1], "required": cells[2], "range": cells[3]}
    return rows


def parse_range(text: str) -> tuple[float, float]:
    match = re.match(r"^(-?\d+(?:\.\d+)?) \.\. (-?\d+(?:\.\d+)?)\b", text)
    assert match, f"no 'low .. high' range in {text!r}"
    return float(match.group(1)), float(match.group(2))


def test_the_table_is_found_and_lists_every_field():
    table = reading_table()
    assert set(table) == {
        "schema",
        "device_id",
        "seq",
        "ts",
        "flags",
        *REQUIRED_MEASUREMENTS,
        *OPTIONAL_MEASUREMENTS,
    }


@pytest.mark.parametrize("name", sorted(RANGES))
def test_ranges_equal_the_contract(name):
    assert RANGES[name] == parse_range(reading_table()[name]["range"])


def test_every_numeric_field_of_the_contract_has_a_range_here():
    numeric = {n for n, row in reading_table().items() if row["type"] == "number"}
    assert numeric == set(RANGES)


def test_required_and_optional_measurements_match():
    table = reading_table()
    assert {n for n in RANGES if table[n]["required"] == "yes"} == set(REQUIRED_MEASUREMENTS)
    assert {n for n in RANGES if table[n]["required"] == "no"} == set(OPTIONAL_MEASUREMENTS)


def test_schema_version_and_device_id_pattern_match():
    table = reading_table()
    assert table["schema"]["range"] == str(SCHEMA_VERSION)
    pattern = re.search(r"`(\^.*\$)`", table["device_id"]["range"]).group(1)
    assert pattern == DEVICE_ID_PATTERN.pattern


def test_topic_matches_the_mqtt_contract():
    text = CONTRACTS.read_text(encoding="utf-8")
    assert "Topic `sensors/<thing-name>/telemetry`" in text
    assert "`$aws/rules/sensor_pipeline_telemetry/sensors/<thing-name>/telemetry`" in text
    # Published through Basic Ingest: the rule's prefix, then the contract's topic.
    assert (
        topic_for("sensehat-01")
        == "$aws/rules/sensor_pipeline_telemetry/sensors/sensehat-01/telemetry"
    )
    assert topic_for("pi", "sensors/{thing}/telemetry") == "sensors/pi/telemetry"


@pytest.mark.parametrize(
    "template",
    ["sensors/pi/telemetry", "a/{thing}/{thing}", "a/{thing}/#", "/a/{thing}", "{x}/{thing}"],
)
def test_a_topic_template_must_name_the_thing_once_and_be_publishable(template):
    with pytest.raises(ValueError, match="topic"):
        check_topic_template(template)
