"""Reading alert messages (CONTRACTS.md, "Threshold alerts") and the alert state per thing."""

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from device.alerts import AlertBook, AlertError, Level, highest, parse_alert
from device.contract import ALERTS_TOPIC_TEMPLATE, alerts_topic_for

CONTRACTS = Path(__file__).resolve().parents[3] / "CONTRACTS.md"
TOPIC = "sensors/pi/alerts"


def alert(**changes):
    """A valid alert of thing `pi` (temperature raised to warning), with `changes` applied;
    a change to None removes the field."""
    doc = {
        "schema": 1,
        "alert_id": "pi:temperature:1001",
        "device_id": "pi",
        "metric": "temperature",
        "level": "warning",
        "previous_level": "normal",
        "transition": "raised",
        "side": "high",
        "value": 31.5,
        "threshold": 30,
        "hysteresis": 0.5,
        "threshold_source": "context:*",
        "seq": 1001,
        "ts": "2024-06-01T12:00:00.000Z",
        "evaluated_at": "2024-06-01T12:00:01.250Z",
        "levels": {"temperature": "warning", "humidity": "normal"},
        "device_level": "warning",
    }
    doc.update(changes)
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


def alert_fields_of_the_contract():
    text = CONTRACTS.read_text(encoding="utf-8")
    section = text.split("### Alert (schema 1", 1)[1].split("\n### ", 1)[0]
    names = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            names.update(re.findall(r"`([a-z_]+)`", cells[0]))
    return names


def test_the_parser_reads_every_field_of_the_contract():
    parsed = parse_alert(alert())
    fields = set(parsed.__dataclass_fields__) | {"schema"}
    assert fields == alert_fields_of_the_contract()


def test_the_alerts_topic_is_the_contract_s():
    assert ALERTS_TOPIC_TEMPLATE == "sensors/{thing}/alerts"
    assert "`sensors/<thing>/alerts`" in CONTRACTS.read_text(encoding="utf-8")
    assert alerts_topic_for("sensehat-01") == "sensors/sensehat-01/alerts"


def test_a_valid_alert_is_read():
    parsed = parse_alert(alert())
    assert parsed.device_level is Level.WARNING
    assert parsed.levels == {"temperature": Level.WARNING, "humidity": Level.NORMAL}
    assert parsed.threshold == 30.0
    assert parsed.seq == 1001
    assert parsed.describe().startswith("temperature raised to warning (high line 30")


def test_fields_the_contract_may_add_later_are_ignored():
    assert parse_alert(alert(added_later="x")).device_level is Level.WARNING


def test_levels_are_ordered():
    assert highest([Level.NORMAL, Level.CRITICAL, Level.WARNING]) is Level.CRITICAL
    assert highest([]) is Level.NORMAL


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object but list"),
        (alert(schema=2), "unsupported schema 2"),
        (alert(schema=True), "unsupported schema True"),
        (alert(schema=None), "unsupported schema None"),
        (alert(device_level=None), "'device_level' is missing"),
        (alert(alert_id=""), "'alert_id' must be a non-empty string"),
        (alert(level="amber"), "'level' must be one of normal, warning, critical"),
        (alert(transition="up"), "'transition' must be one of raised, lowered, recovered"),
        (alert(side="middle"), "'side' must be one of high, low"),
        (alert(value="31.5"), "'value' must be a finite number"),
        (alert(threshold=True), "'threshold' must be a finite number"),
        (alert(threshold_source=None), "'threshold_source' is missing"),
        (alert(seq=-1), "'seq' must be an integer >= 0"),
        (alert(seq=1.5), "'seq' must be an integer >= 0"),
        (alert(levels=["warning"]), "'levels' must be an object"),
        (alert(levels={"temperature": "hot"}), "'levels' has values that are not levels"),
        (alert(device_level="critical"), "is not the highest of levels ('warning')"),
    ],
)
def test_a_message_breaking_the_contract_is_refused_with_the_reason(payload, reason):
    with pytest.raises(AlertError, match=re.escape(reason)):
        parse_alert(payload)


def test_the_last_valid_message_wins_and_a_refused_one_changes_nothing():
    book = AlertBook()
    book.receive("pi", TOPIC, alert())
    critical = alert(
        alert_id="pi:humidity:1005",
        metric="humidity",
        level="critical",
        seq=1005,
        levels={"temperature": "warning", "humidity": "critical"},
        device_level="critical",
    )
    update = book.receive("pi", TOPIC, critical)
    assert (update.previous, update.current, update.repeated) == (
        Level.WARNING,
        Level.CRITICAL,
        False,
    )
    with pytest.raises(AlertError):
        book.receive("pi", TOPIC, b"{}")
    assert book.level() is Level.CRITICAL
    assert book.get("pi").levels == {"temperature": Level.WARNING, "humidity": Level.CRITICAL}


def test_the_retained_copy_sent_again_is_recognised():
    book = AlertBook()
    assert not book.receive("pi", TOPIC, alert()).repeated
    assert book.receive("pi", TOPIC, alert()).repeated


def test_an_alert_for_another_device_is_refused():
    book = AlertBook()
    with pytest.raises(AlertError, match="the alert is for device 'other', not for 'pi'"):
        book.receive("pi", TOPIC, alert(device_id="other"))
    with pytest.raises(AlertError, match="not on pi's alerts topic 'sensors/pi/alerts'"):
        book.receive("pi", "sensors/other/alerts", alert())
    assert book.level() is Level.NORMAL
    assert book.things == {}


def test_an_empty_payload_deletes_the_retained_alert_and_clears_the_state():
    book = AlertBook()
    book.receive("pi", TOPIC, alert())
    update = book.receive("pi", TOPIC, b"")
    assert (update.previous, update.current, update.alert) == (Level.WARNING, Level.NORMAL, None)
    assert book.level() is Level.NORMAL
    assert book.get("pi").levels == {}


def test_the_highest_thing_sets_the_level_and_the_state_records_every_thing():
    book = AlertBook()
    book.receive("pi", TOPIC, alert())
    book.receive(
        "pi-2",
        "sensors/pi-2/alerts",
        alert(
            device_id="pi-2",
            level="critical",
            levels={"pressure": "critical"},
            device_level="critical",
            evaluated_at="2024-06-01T13:00:00.000Z",
        ),
        received_at=dt.datetime(2024, 6, 1, 13, 0, 1, tzinfo=dt.UTC),
    )
    state = book.as_state()
    assert state["alert_level"] == "critical"
    assert state["last_alert_at"] == "2024-06-01T13:00:00.000Z"
    alerts = json.loads(state["alerts"])
    assert alerts["pi"]["levels"] == {"humidity": "normal", "temperature": "warning"}
    assert alerts["pi-2"]["device_level"] == "critical"
    assert alerts["pi-2"]["received_at"] == "2024-06-01T13:00:01.000+00:00"
    assert alerts["pi-2"]["alert_id"] == "pi:temperature:1001"


def test_no_alert_yet_is_normal():
    state = AlertBook().as_state()
    assert state == {"alert_level": "normal", "alerts": "{}", "last_alert_at": None}
